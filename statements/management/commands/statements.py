from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from chargeback.formatting import money
from statements.selectors import statement_detail, statement_rows


class Command(ChargebackCommand):
    help = (
        "List a period's statements (number, version, status, PI, project, amount due, PDF checksum), or show "
        "one statement with its lines: kind, source, service, fund/org, charges, list, discount and amount "
        "(list - discount = amount on every line)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "{list,show}")
        listing = sub.add_parser("list", help="A period's statements (current versions; --all for superseded too)")
        listing.add_argument("-p", "--period", required=True, metavar="YYYY-MM", help="Billing period")
        listing.add_argument("--pi", metavar="EMAIL", help="Only this PI's statements")
        listing.add_argument("--all", action="store_true", help="Include superseded versions")
        show = sub.add_parser("show", help="One statement with its lines (the current version unless --version)")
        show.add_argument("number", metavar="NUMBER", help="The statement number, e.g. 2025-01-000001")
        show.add_argument("--version", type=int, metavar="N", help="This version instead of the current one")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "show":
            data = statement_detail(number=options["number"], version=options["version"])
            self.emit(options, data, self._statement_text(data))
            return
        rows = statement_rows(month=options["period"], pi_email=options["pi"], include_superseded=options["all"])
        lines = [f"{'number':<16} {'v':>2} {'status':<10} {'PI':<32} {'project':<22} {'amount due':>16}"]
        for r in rows:
            lines.append(
                f"{r['number']:<16} {r['version']:>2} {r['status']:<10} {r['pi_email'][:32]:<32} "
                f"{(r['project_id'] or '(none)')[:22]:<22} {money(Decimal(r['amount_due']), r['currency']):>16}"
            )
        lines.append(f"{len(rows)} statements")
        self.emit(options, rows, "\n".join(lines))

    @staticmethod
    def _statement_text(d: dict[str, Any]) -> str:
        c = d["currency"]
        lines = [
            f"Statement {d['number']} v{d['version']} ({d['status']}), period {d['period']}",
            f"PI {d['pi_email']}, project {d['project_id'] or '(none)'}, fund/orgs {d['fund_orgs'] or '-'}",
            f"{'kind':<11} {'source':<10} {'service':<28} {'fund/org':<16} {'charges':>7} {'list':>14} "
            f"{'discount':>14} {'amount':>14}",
        ]
        for ln in d["lines"]:
            lines.append(
                f"{ln['kind']:<11} {ln['source'][:10]:<10} {ln['service'][:28]:<28} {ln['fund_org'][:16]:<16} "
                f"{ln['charges']:>7} {money(ln['list'], c):>14} {money(ln['discount'], c):>14} "
                f"{money(ln['amount'], c):>14}"
            )
        lines.append(
            f"{'total':<11} {'':<10} {'':<28} {'':<16} {d['charges']:>7} {money(d['list_total'], c):>14} "
            f"{money(d['discount_total'], c):>14} {money(d['amount_due'], c):>14}"
        )
        return "\n".join(lines)
