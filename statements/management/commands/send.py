from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from statements.selectors import outbox_stuck
from statements.services.delivery import deliveries_queue, outbox_summary


class Command(ChargebackCommand):
    help = (
        "Queue one email per PI with all of their statements of a closed period. Without --resend only PIs "
        "with unsent statements and no email already queued get one, so running it twice sends nothing twice; "
        "--resend sends every current statement again as a new delivery. Without a broker (embedded mode) it "
        "also sends the period's pending emails that are due, so an interrupted send finishes here; emails "
        "stuck in sending are listed, never sent again (see `openchargeback outbox`)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-p", "--period", required=True, metavar="YYYY-MM", help="Billing period")
        parser.add_argument("--pi", metavar="EMAIL", help="Only this PI")
        parser.add_argument("--resend", action="store_true", help="Send again, even statements already sent")
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        period = options["period"]
        result = deliveries_queue(month=period, actor=self.actor, pi_email=options["pi"], resend=options["resend"])
        outbox = outbox_summary(month=period)
        stuck = outbox_stuck(month=period)
        data = {"period": period, "queued": result.queued, "skipped": result.skipped,
                "delivery_ids": result.delivery_ids, "resumed_ids": result.resumed_ids, "outbox": outbox,
                "stuck": stuck}  # fmt: skip
        lines = [f"Queued {result.queued} emails for {period} ({result.skipped} PIs skipped: already sent or queued)."]
        if result.resumed_ids:
            lines.append(f"Sent again: {len(result.resumed_ids)} pending emails of an earlier run.")
        lines.append("Outbox: " + ", ".join(f"{k} {v}" for k, v in outbox.items()))
        if stuck:
            lines.append(
                f"Stuck in sending (may have reached the recipient; not sent again): "
                f"{', '.join(row['recipient'] for row in stuck)}. See `openchargeback outbox --status sending`."
            )
        self.emit(options, data, "\n".join(lines))
