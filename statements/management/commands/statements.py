from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from chargeback.formatting import money
from statements.selectors import statement_rows


class Command(ChargebackCommand):
    help = "List a period's statements: number, version, status, PI, project, amount due and PDF checksum."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "{list}")
        listing = sub.add_parser("list", help="A period's statements (current versions; --all for superseded too)")
        listing.add_argument("-p", "--period", required=True, metavar="YYYY-MM", help="Billing period")
        listing.add_argument("--pi", metavar="EMAIL", help="Only this PI's statements")
        listing.add_argument("--all", action="store_true", help="Include superseded versions")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = statement_rows(period=options["period"], pi_email=options["pi"], include_superseded=options["all"])
        lines = [f"{'number':<16} {'v':>2} {'status':<10} {'PI':<32} {'project':<22} {'amount due':>16}"]
        for r in rows:
            lines.append(
                f"{r['number']:<16} {r['version']:>2} {r['status']:<10} {r['pi_email'][:32]:<32} "
                f"{(r['project_id'] or '(none)')[:22]:<22} {money(Decimal(r['amount_due']), r['currency']):>16}"
            )
        lines.append(f"{len(rows)} statements")
        self.emit(options, rows, "\n".join(lines))
