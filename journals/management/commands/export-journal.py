from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from chargeback.errors import BillingError
from chargeback.formatting import money
from journals.services import journal_export


class Command(ChargebackCommand):
    help = (
        "Export the balanced GL journal of a closed or finalized period. It is built from the current "
        "statements: debits to each PI fund/org, credits to each source's credit fund/org, balanced to the "
        "cent with the statements' amounts due. Every problem (a source without a credit fund/org, a fund/org "
        "or account that does not match the format's patterns) is listed and nothing is written. Each export "
        "is a new numbered, checksummed file; earlier ones are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-p", "--period", required=True, metavar="YYYY-MM", help="Billing period")
        parser.add_argument(
            "-f", "--journal-format", default="gl", metavar="detail|summary|gl|NAME", dest="journal_format",
            help="Journal format: a built-in kind or the name of a format from the admin (default: gl)",
        )  # fmt: skip
        parser.add_argument("-o", "--output", metavar="PATH", help="Also write the file here (a file or a folder)")
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        report = journal_export(month=options["period"], format_name=options["journal_format"], actor=self.actor)
        if options["output"]:
            target = Path(options["output"])
            if target.is_dir():
                target = target / Path(report.file).name
            try:
                with default_storage.open(report.file, "rb") as src:
                    target.write_bytes(src.read())
            except OSError as exc:
                raise BillingError(f"journal {report.number} was exported but {target} could not be written: {exc}")
            report.output = str(target)
        lines = [
            f"Exported journal {report.number} for {report.period} (format {report.format}): {report.lines} lines "
            f"({report.debit_lines} debits, {report.credit_lines} credits) from {report.statements} statements",
            f"Debits {money(report.debit_total, report.currency)}"
            f" = credits {money(report.credit_total, report.currency)}"
            f" = statements due {money(report.statements_due, report.currency)}",
            f"File: {report.output or default_storage.path(report.file)} (sha256 {report.sha256})",
        ]
        self.emit(options, {**report.as_dict(), "path": default_storage.path(report.file)}, "\n".join(lines))
