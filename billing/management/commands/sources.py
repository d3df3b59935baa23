from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from billing.models import Source
from billing.selectors import source_summaries
from billing.services.sources import source_add, source_update
from chargeback.command import ChargebackCommand, Error

# Option → Source field, for `add` and `set`.
FIELDS = {
    "display_name": "display_name",
    "pattern": "file_pattern",
    "credit_fund_org": "credit_fund_org",
    "gl_account": "gl_account",
    "billing_basis": "billing_basis",
}


def add_field_options(parser: Any) -> None:
    parser.add_argument("-d", "--display-name", help="Name shown to people, e.g. 'Amazon Web Services'")
    parser.add_argument("--pattern", help="File name pattern for auto-detection, e.g. 'aws-*.csv*'")
    parser.add_argument("--credit-fund-org", help="Fund/org credited in the journal (the journal's credit side)")
    parser.add_argument("--gl-account", help="GL account credited in the journal")
    parser.add_argument(
        "--billing-basis", choices=["billed", "effective"],
        help="What statements bill: FOCUS BilledCost (billed, the default) or EffectiveCost (effective: "
        "commitments amortized; commitment purchases leave the bill)",
    )  # fmt: skip


class Command(ChargebackCommand):
    help = (
        "List the sources of billing data, add one or change one (every field the admin edits: display "
        "name, file pattern, credit fund/org and GL account, billing basis, enabled). The credit fund/org and "
        "GL account are the journal's credit side; the billing basis (billed or effective) is what statements "
        "bill; `ingest` refuses a disabled source. Every change is audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "{list,add,set}")
        sub.add_parser("list", help="Every source with its pattern, credit side and last import")
        add = sub.add_parser("add", help="Add a source")
        add.add_argument("name", help="Short name (slug), e.g. aws or hpc")
        add_field_options(add)
        add.add_argument("--disabled", action="store_true", help="Add it disabled (imports refused until enabled)")
        change = sub.add_parser("set", help="Change a source: only the options given change")
        change.add_argument("name", help="The source's name, e.g. hpc")
        add_field_options(change)
        state = change.add_mutually_exclusive_group()
        state.add_argument("--enable", action="store_const", const=True, dest="enabled", help="Accept imports again")
        state.add_argument("--disable", action="store_const", const=False, dest="enabled", help="Refuse imports")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list(options)
            return
        values = {field: options[option] for option, field in FIELDS.items() if options[option] is not None}
        if action == "add":
            source = source_add(name=options["name"], actor=self.actor, enabled=not options["disabled"], **values)
            self.emit(options, {"name": source.name, "id": source.pk}, f"added source {source.name}")
            return
        if options["enabled"] is not None:
            values["enabled"] = options["enabled"]
        if not values:
            raise Error("nothing to change: give at least one of -d, --pattern, --credit-fund-org, --gl-account, "
                        "--billing-basis, --enable, --disable")  # fmt: skip
        source = source_update(name=options["name"], actor=self.actor, **values)
        data = {"name": source.name, **{field: getattr(source, field) for field in (*FIELDS.values(), "enabled")}}
        credit = f"credit {source.credit_fund_org or '(none)'} / GL {source.gl_account or '(none)'}"
        state = "enabled" if source.enabled else "disabled"
        text = f"source {source.name}: {state}, pattern {source.file_pattern or '(none)'}, {credit}"
        if source.billing_basis != Source.BillingBasis.BILLED:
            text += f", {source.billing_basis} billing basis"
        self.emit(options, data, text)

    def _list(self, options: dict[str, Any]) -> None:
        rows = source_summaries()
        lines = [
            f"{'name':<12} {'enabled':<8} {'pattern':<18} {'credit fund/org':<18} {'gl':<8} {'charges':>9}  last import"
        ]
        for r in rows:
            lines.append(
                f"{r['name']:<12} {'yes' if r['enabled'] else 'no':<8} {r['file_pattern']:<18} "
                f"{r['credit_fund_org']:<18} {r['gl_account']:<8} {r['charges']:>9}  "
                f"{r['last_import_status'] or '-'}"
            )
        self.emit(options, rows, "\n".join(lines) if rows else "no sources yet")
