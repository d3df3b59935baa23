from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from billing.selectors import source_summaries
from billing.services.sources import source_add
from chargeback.command import ChargebackCommand


class Command(ChargebackCommand):
    help = "List the sources of billing data, or add one (its credit fund/org and GL account feed the journal)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "{list,add}")
        sub.add_parser("list", help="Every source with its pattern, credit side and last import")
        p = sub.add_parser("add", help="Add a source")
        p.add_argument("name", help="Short name (slug), e.g. aws or hpc")
        p.add_argument("-d", "--display-name", default="", help="Name shown to people, e.g. 'Amazon Web Services'")
        p.add_argument("--pattern", default="", help="File name pattern for auto-detection, e.g. 'aws-*.csv*'")
        p.add_argument("--credit-fund-org", default="", help="Fund/org credited in the journal")
        p.add_argument("--gl-account", default="", help="GL account credited in the journal")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            rows = source_summaries()
            lines = [
                f"{'name':<12} {'enabled':<8} {'pattern':<18} {'credit fund/org':<18} {'gl':<8} "
                f"{'charges':>9}  last import"
            ]
            for r in rows:
                lines.append(
                    f"{r['name']:<12} {'yes' if r['enabled'] else 'no':<8} {r['file_pattern']:<18} "
                    f"{r['credit_fund_org']:<18} {r['gl_account']:<8} {r['charges']:>9}  "
                    f"{r['last_import_status'] or '-'}"
                )
            self.emit(options, rows, "\n".join(lines) if rows else "no sources yet")
            return
        source = source_add(
            name=options["name"], actor=self.actor, display_name=options["display_name"],
            file_pattern=options["pattern"], credit_fund_org=options["credit_fund_org"],
            gl_account=options["gl_account"],
        )  # fmt: skip
        self.emit(options, {"name": source.name, "id": source.pk}, f"added source {source.name}")
