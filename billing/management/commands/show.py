from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from billing.selectors import pi_period_summary
from chargeback.command import ChargebackCommand, Error
from chargeback.formatting import money


class Command(ChargebackCommand):
    help = (
        "Show one PI's charges for a period, per project and fund/org: the billed charges (what the statements "
        "bill: approved or never flagged, not rejected) with their list and billed cost, and beside them the "
        "flagged (held for review) and rejected (not recharged) cost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pi_email", metavar="PI_EMAIL", help="The PI's email (any case)")
        parser.add_argument("-p", "--period", required=True, metavar="YYYY-MM", help="Billing period")
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        data = pi_period_summary(email=options["pi_email"], month=options["period"])
        if data is None:
            raise Error(f"no PI with email {options['pi_email']!r}", returncode=1)
        lines = [
            f"{data['pi_email']} — {data['period']}",
            f"{'project':<28} {'fund/org':<18} {'charges':>8} {'list':>14} {'billed':>14} {'flagged':>14} "
            f"{'rejected':>14}",
        ]
        for p in data["projects"]:
            lines.append(
                f"{p['project_id'][:28]:<28} {p['fund_org'][:18]:<18} {p['charges']:>8} {money(p['list_cost']):>14} "
                f"{money(p['billed_cost']):>14} {money(p['flagged_cost']):>14} {money(p['rejected_cost']):>14}"
            )
        lines.append(
            f"{'total':<28} {'':<18} {sum(p['charges'] for p in data['projects']):>8} "
            f"{money(data['total_list_cost']):>14} {money(data['total_billed_cost']):>14} "
            f"{money(data['total_flagged_cost']):>14} {money(data['total_rejected_cost']):>14}"
        )
        self.emit(options, data, "\n".join(lines))
