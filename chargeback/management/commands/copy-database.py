"""`openchargeback copy-database URL`: move an installation from SQLite to PostgreSQL."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from chargeback.dbcopy import CopyReport, database_copy


class Command(ChargebackCommand):
    help = (
        "Copy this installation's database (DATABASE_URL, e.g. the embedded SQLite) into an empty "
        "PostgreSQL database given by URL: applies the migrations there, copies every row with its id, "
        "then compares every table's row count and money totals. All or nothing: on any difference or "
        "refused value (named with its table and row id) the target is left as it was found, the tables "
        "the copy created dropped again. The source is only read; stop imports and the web app while it runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target_url", metavar="URL", help="postgres://user:password@host:5432/name (empty)")
        parser.add_argument(
            "--chunk-rows", type=int, default=5000, help="Rows read and written at a time (default 5000)"
        )
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        progress = self._progress if options["output_format"] == "text" and sys.stderr.isatty() else None
        report = database_copy(
            target_url=options["target_url"], chunk_rows=max(100, options["chunk_rows"]), progress=progress
        )
        if progress is not None:
            sys.stderr.write("\n")
        self.emit(options, report.as_dict(), self._text(report))

    @staticmethod
    def _progress(table: str, rows: int) -> None:
        sys.stderr.write(f"\r{table}: {rows} rows   ")
        sys.stderr.flush()

    @staticmethod
    def _text(report: CopyReport) -> str:
        lines = [f"Copied {report.rows} rows from {report.source} to {report.target}; every table matches:"]
        for table in report.tables:
            if not table.rows:
                continue
            totals = ", ".join(f"{k} {v}" for k, v in table.totals.items())
            lines.append(f"  {table.table:<36} {table.rows:>10} rows" + (f"  ({totals})" if totals else ""))
        return "\n".join(lines)
