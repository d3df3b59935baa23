from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from billing.services.convert import KINDS, convert_and_ingest
from billing.services.ingest import IngestReport, batch_ingest
from billing.services.invoices import batch_mark_final
from chargeback.command import ChargebackCommand
from chargeback.formatting import money

from .convert import add_converter_options, converter_options, report_text


class Command(ChargebackCommand):
    # Django's system checks import every URL pattern and admin module before the command starts,
    # a large share of a scripted import's start-up. `openchargeback check` and the server run them.
    requires_system_checks: list[str] = []
    help = (
        "Import FOCUS CSV files (optionally .csv.gz) as one batch for a source and period. "
        "All or nothing: a bad file changes nothing and names the line and column. The same files "
        "again are a no-op. New files for a source and period that already have a batch are refused "
        "unless --replace is given; then they replace it, keeping the review decisions of identical rows "
        "(--dry-run shows the batch that would be replaced). The source comes from --source or the file "
        "name; a name two sources' patterns match is refused. Every line becomes a charge; lines without "
        "PI, project or fund/org are flagged, never dropped. Closed periods refuse imports. With "
        "--from slurm|storage the files are usage to convert first (see 'convert'), in one step."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="FOCUS CSV files forming one batch")
        parser.add_argument(
            "-s", "--source", help="Source name (see 'sources list'; default: detected from the file name pattern)"
        )
        parser.add_argument(
            "-p", "--period", help="Billing period YYYY-MM (default: from the file names, else the first row)"
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate and report without writing")
        parser.add_argument(
            "--final", action="store_true",
            help="The provider's final data for the month (not an estimate): the month's data status can become final",
        )  # fmt: skip
        parser.add_argument(
            "--replace", action="store_true",
            help="Replace the source's batch for the period (review decisions of identical rows carry over)",
        )  # fmt: skip
        parser.add_argument(
            "--from", dest="from_kind", choices=list(KINDS),
            help="The files are Slurm sacct output or a storage usage report: convert, then import",
        )  # fmt: skip
        add_converter_options(parser)
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        paths = [Path(f) for f in options["files"]]
        if options["from_kind"]:
            self._convert_and_ingest(paths, options)
            return
        converter_options(options, "")  # refuses converter options without --from
        progress = None
        big = sum(p.stat().st_size for p in paths if p.is_file()) > 20 * 1024 * 1024
        if options["output_format"] == "text" and sys.stderr.isatty() and big:
            progress = self._progress
        report = batch_ingest(
            paths=paths,
            source_name=options["source"],
            month=options["period"],
            actor=self.actor,
            dry_run=options["dry_run"],
            progress=progress,
            replace=options["replace"],
        )
        if progress is not None:
            sys.stderr.write("\n")
        if options["final"] and not options["dry_run"] and report.batch_id:
            batch_mark_final(batch_id=report.batch_id, actor=self.actor)
        self.emit(options, report.as_dict() | {"final": options["final"]}, self._text(report))

    def _convert_and_ingest(self, paths: list[Path], options: dict[str, Any]) -> None:
        kind = options["from_kind"]
        with tempfile.TemporaryDirectory(prefix="openchargeback-convert-") as folder:
            converted, report = convert_and_ingest(
                kind=kind, paths=paths, month=options["period"], source_name=options["source"],
                actor=self.actor, dry_run=options["dry_run"], folder=Path(folder),
                options=converter_options(options, kind), replace=options["replace"],
            )  # fmt: skip
        if options["final"] and not options["dry_run"] and report.batch_id:
            batch_mark_final(batch_id=report.batch_id, actor=self.actor)
        head = f"Converted {kind} usage: {converted.rows} lines"
        data = {"conversion": converted.as_dict(), "import": report.as_dict()}
        self.emit(options, data, report_text(converted, head) + "\n" + self._text(report))

    @staticmethod
    def _progress(done: int, total: int) -> None:
        width = 40
        filled = int(width * done / total) if total else width
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * done // max(total, 1):3d}%")
        sys.stderr.flush()

    @staticmethod
    def _text(r: IngestReport) -> str:
        if r.status == "already_imported":
            return f"already imported as batch {r.batch_id}; nothing changed"
        currency = r.currencies[0] if len(r.currencies) == 1 else ""
        head = {
            "dry_run": "Dry run (nothing written)",
            "applied": f"Imported batch {r.batch_id}",
        }[r.status]
        lines = [
            f"{head}: source {r.source}, period {r.period}, {len(r.files)} file(s), FOCUS {r.focus_version}",
            f"  rows          {r.rows}",
            "  periods       " + ", ".join(f"{p} ({n})" for p, n in r.periods_seen.items()),
            f"  list total    {money(r.list_total, currency)}",
            f"  billed total  {money(r.billed_total, currency)}",
            f"  flagged       {r.flagged_rows} rows, {money(r.flagged_cost, currency)}",
        ]
        if r.flag_counts:
            lines.append("  flag reasons  " + ", ".join(f"{k} ({v})" for k, v in r.flag_counts.items()))
        if r.new_pis or r.new_projects:
            lines.append(f"  new           {r.new_pis} PIs, {r.new_projects} projects")
        if r.replaces:
            x = r.replaces
            verb = "replaces" if r.status == "dry_run" else "replaced"
            lines.append(
                f"  {verb:<13} batch {x['batch_id']} ({x['rows']} rows, billed {money(x['billed_cost'], currency)}, "
                f"{x['decided_charges']} reviewed charges); {r.carried_decisions} review decisions "
                + ("will carry over (confirm with --replace)" if r.status == "dry_run" else "carried over")
            )
        lines += [f"  warning: {w}" for w in r.warnings]
        return "\n".join(lines)
