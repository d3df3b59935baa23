"""`openchargeback data export|import KIND`: master data and rules as CSV, XLSX or JSON files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from billing.services.data import (
    FILE_FORMATS,
    KINDS,
    DataImportReport,
    data_export,
    data_export_all,
    data_import,
    data_import_all,
)
from chargeback.command import ChargebackCommand, Error

ALL = "all"


class Command(ChargebackCommand):
    help = (
        "Export or import master data and rules (KIND: " + ", ".join(KINDS) + ", or all) with the admin's "
        "own import/export columns and checks. An import is all or nothing: the first bad row refuses the "
        "whole file (or folder) with one line naming its row and column, and nothing changes. Rows are "
        "matched on their key (name, email, code …); rows not in the file are left as they are. --dry-run "
        "reports what would be created, updated and left unchanged. `data export all -o DIR` writes one "
        "KIND.csv per kind; `data import all DIR` applies them in dependency order. Exports escape "
        "spreadsheet formulae (a leading apostrophe), which an import removes again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{export,import}")
        kinds = [*KINDS, ALL]
        export = sub.add_parser("export", help="Write every record of a kind to a file (or standard output)")
        export.add_argument("kind", choices=kinds, metavar="KIND", help=f"One of {', '.join(kinds)}")
        export.add_argument("-o", "--output", help="The file to write (a folder for 'all'); default: standard output")
        export.add_argument(
            "--format", choices=list(FILE_FORMATS), default=None, dest="file_format",
            help="File format (default: from the output file's name, else csv; 'all' writes csv)",
        )  # fmt: skip
        imp = sub.add_parser("import", help="Create and update records from a file (a folder for 'all')")
        imp.add_argument("kind", choices=kinds, metavar="KIND", help=f"One of {', '.join(kinds)}")
        imp.add_argument("file", metavar="FILE", help="A .csv, .xlsx or .json file; for 'all', a folder of KIND.csv")
        imp.add_argument("--dry-run", action="store_true", help="Check everything and report; write nothing")
        self.add_format_argument(imp)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self._export(options)
        else:
            self._import(options)

    def _export(self, options: dict[str, Any]) -> None:
        kind, output = options["kind"], options["output"]
        if kind == ALL:
            if not output:
                raise Error("data export all needs -o DIR, the folder to write one KIND.csv per kind into")
            if options["file_format"] not in (None, "csv"):
                raise Error("data export all writes CSV files only")
            paths = data_export_all(folder=Path(output))
            self.stderr.write(f"wrote {len(paths)} files to {output}: {', '.join(p.name for p in paths)}")
            return
        file_format = options["file_format"] or _format_of(output) or "csv"
        data = data_export(kind=kind, file_format=file_format)
        if not output:
            if file_format == "xlsx":
                raise Error("an XLSX export needs -o FILE")
            self.stdout.write(data.decode("utf-8"), ending="")
            return
        try:
            Path(output).write_bytes(data)
        except OSError as exc:
            raise Error(f"{output}: cannot write ({exc.strerror or exc})") from None
        self.stderr.write(f"wrote {kind} to {output}")

    def _import(self, options: dict[str, Any]) -> None:
        kind, path, dry_run = options["kind"], Path(options["file"]), options["dry_run"]
        if kind == ALL:
            reports = data_import_all(folder=path, actor=self.actor, dry_run=dry_run)
        else:
            reports = [data_import(kind=kind, path=path, actor=self.actor, dry_run=dry_run)]
        data = {"dry_run": dry_run, "files": [r.as_dict() for r in reports]}
        self.emit(options, data if kind == ALL else reports[0].as_dict(), _text(reports, dry_run))


def _format_of(output: str | None) -> str | None:
    suffix = Path(output).suffix.lower().lstrip(".") if output else ""
    return suffix if suffix in FILE_FORMATS else None


def _text(reports: list[DataImportReport], dry_run: bool) -> str:
    head = "Dry run (nothing written)" if dry_run else "Imported"
    verbs = ("would create", "would update", "unchanged") if dry_run else ("created", "updated", "unchanged")
    lines = [
        f"{head}: {r.file} ({r.kind}): {r.rows} rows, {r.created} {verbs[0]}, {r.updated} {verbs[1]}, "
        f"{r.unchanged} {verbs[2]}"
        for r in reports
    ]
    if not any(r.changed for r in reports):
        lines.append("nothing to change")
    return "\n".join(lines)
