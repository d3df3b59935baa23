from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from billing.converters.common import ConvertReport
from billing.services.convert import KINDS, usage_convert
from chargeback.command import ChargebackCommand, Error
from chargeback.formatting import money


def add_converter_options(parser: Any) -> None:
    """Options of the converters, shared with `ingest --from`."""
    parser.add_argument(
        "--per-job", action="store_true", help="Slurm: one line per job instead of per account and partition"
    )
    parser.add_argument(
        "--timezone", help="Slurm: the zone of sacct's times (default OPENCHARGEBACK_SLURM_TIMEZONE, else UTC)"
    )
    parser.add_argument(
        "--states", help="Slurm: billable job states, comma-separated (default OPENCHARGEBACK_SLURM_BILLABLE_STATES)"
    )


def converter_options(options: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind != "slurm":
        if options.get("per_job") or options.get("timezone") or options.get("states"):
            raise Error("--per-job, --timezone and --states are Slurm options", returncode=1)
        return {}
    chosen: dict[str, Any] = {"per_job": bool(options.get("per_job"))}
    if options.get("timezone"):
        chosen["timezone"] = options["timezone"]
    if options.get("states"):
        chosen["billable"] = [s.strip() for s in options["states"].split(",") if s.strip()]
    return chosen


def report_text(r: ConvertReport, head: str) -> str:
    skipped = ", ".join(f"{k} ({v})" for k, v in sorted(r.skipped.items()))
    subsidies = ", ".join(f"{code} {money(amount)}" for code, amount in r.subsidies.items())
    lines = [
        head,
        f"  input lines   {r.lines_read} (used {r.lines_billed}" + (f"; skipped: {skipped})" if skipped else ")"),
        f"  accounts      {len(r.accounts)}" + (f" (unmapped: {', '.join(r.unmapped)})" if r.unmapped else ""),
        f"  usage         {r.quantity.normalize():f} {r.unit}",
        f"  list          {money(r.list_total)}",
        f"  subsidies     {money(r.subsidy_total)}" + (f" ({subsidies})" if subsidies else ""),
        f"  billed        {money(r.billed_total)}",
    ]
    lines += [f"  warning: {w}" for w in r.warnings]
    return "\n".join(lines)


class Command(ChargebackCommand):
    help = (
        "Convert Slurm accounting (sacct --allocations --parsable2) or a storage usage report into a "
        "FOCUS 1.2 CSV, priced with the rate table and the subsidy rules for the period. Subsidy caps "
        "spent by the conversion are recorded (converting the period again replaces them); --dry-run "
        "prints what the file would hold and records nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=list(KINDS), help="What the input files are")
        parser.add_argument("files", nargs="+", metavar="INPUT", help="Input files, read as one")
        parser.add_argument("-p", "--period", required=True, help="Billing period YYYY-MM")
        parser.add_argument("-o", "--output", help="The FOCUS CSV to write (required unless --dry-run)")
        parser.add_argument("-s", "--source", help="Source the lines are for (default: hpc for slurm, storage)")
        parser.add_argument("--dry-run", action="store_true", help="Show the summary; write and record nothing")
        add_converter_options(parser)
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["dry_run"] and not options["output"]:
            raise Error("give -o OUT.csv, or --dry-run to see the summary only", returncode=1)
        kind = options["kind"]
        report = usage_convert(
            kind=kind, paths=[Path(f) for f in options["files"]], month=options["period"], actor=self.actor,
            output=None if options["dry_run"] else Path(options["output"]), source_name=options["source"],
            record_usage=not options["dry_run"], options=converter_options(options, kind),
        )  # fmt: skip
        where = "dry run, nothing written" if report.dry_run else f"{report.rows} lines written to {report.output}"
        head = f"Converted {kind} usage for source {report.source}, period {report.period} ({where})"
        self.emit(options, report.as_dict(), report_text(report, head))
