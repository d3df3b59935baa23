"""Journal files: proper CSV (quoting, one line per record) with spreadsheet formula escaping.

Text cells that start with `=`, `+`, `-` or `@` (or a tab or carriage return) get a leading
apostrophe (chargeback.spreadsheet) so a spreadsheet shows them instead of evaluating them.
Amounts are numbers we format ourselves and are never escaped: a credit of -12.50 stays a number.
A text cell holding a line break of either kind (CR or LF) is quoted, so one journal line is
always one record.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.template import Template

from chargeback.errors import BillingError
from chargeback.money import CENT
from chargeback.spreadsheet import escape_formula
from journals.journal_templates import JournalTemplateError, journal_template, render_journal_template
from journals.models import JournalFormat
from journals.services.build import CREDIT, DEBIT, Journal, JournalLine

Kind = JournalFormat.Kind

COLUMNS: dict[str, list[str]] = {
    Kind.DETAIL: [
        "entry", "date", "statement", "pi_email", "project_id", "source", "service", "line_kind", "fund_org",
        "fund", "orgn", "account", "debit", "credit", "description", "reference_id",
    ],
    Kind.SUMMARY: [
        "entry", "date", "pi_email", "project_id", "source", "fund_org", "fund", "orgn", "account", "debit",
        "credit", "description", "reference_id",
    ],
    Kind.GL: [
        "fund", "orgn", "account", "program", "activity", "location", "debit", "credit", "description",
        "reference_id",
    ],
}  # fmt: skip
NUMBER_COLUMNS = {"debit", "credit", "amount", "amount_abs"}


def csv_cell(text: str) -> str:
    """One CSV field as text: formula-escaped, quoted when it holds a comma, quote or line break."""
    text = str(escape_formula(text))
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_amount(amount: Decimal, number_format: str) -> str:
    cents = amount.quantize(CENT)
    if number_format == JournalFormat.NumberFormat.CENTS:
        return str(int(cents * 100))
    text = format(cents, "f")
    return text.replace(".", ",") if number_format == JournalFormat.NumberFormat.COMMA else text


def journal_date(month: str) -> dt.date:
    """The posting date of a period's journal: its last day."""
    year, number = (int(x) for x in month.split("-"))
    return dt.date(year, number, calendar.monthrange(year, number)[1])


def line_values(journal: Journal, ln: JournalLine, reference: str) -> dict[str, Any]:
    """A line's fields: text as str, amounts as Decimal (formatted by the writer)."""
    fmt = journal.format
    amount = ln.amount
    flipped = amount < 0
    dc = ("C" if flipped else "D") if ln.side == DEBIT else ("D" if flipped else "C")
    return {
        "entry": ln.side, "side": ln.side, "dc": dc,
        "date": journal_date(journal.period).strftime(fmt.date_format), "period": journal.period,
        "statement": ln.statement, "pi_email": ln.pi_email, "project_id": ln.project_id, "source": ln.source,
        "service": ln.service, "line_kind": ln.line_kind, "fund_org": ln.fund_org,
        **{part: ln.parts.get(part, "") for part in ("fund", "orgn", "program", "activity", "location")},
        "account": ln.account, "description": ln.description, "reference_id": reference,
        "debit": amount if ln.side == DEBIT else None, "credit": amount if ln.side == CREDIT else None,
        "amount": amount, "amount_abs": abs(amount), "currency": journal.currency,
    }  # fmt: skip


def _cell(value: Any, number_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_amount(value, number_format)
    return str(escape_formula(str(value)))


def render_lines(journal: Journal, reference: str, limit: int | None = None) -> Iterator[str]:
    """The file, one record (ending in a newline) at a time: header first, then debits and credits."""
    fmt = journal.format
    lines = journal.lines if limit is None else journal.lines[:limit]
    if fmt.kind == Kind.TEMPLATE:
        yield from _render_template(journal, reference, lines)
        return
    columns = COLUMNS[fmt.kind]
    buffer = io.StringIO()
    # The csv module quotes a field holding a character of the line terminator: with "\r\n" both a
    # CR and an LF inside a field are quoted. The file's records end in "\n", set on each record.
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text[:-2] + "\n"

    writer.writerow(columns)
    yield flush()
    for ln in lines:
        values = line_values(journal, ln, reference)
        writer.writerow([_cell(values[c], fmt.number_format) for c in columns])
        yield flush()


def _render_template(journal: Journal, reference: str, lines: list[JournalLine]) -> Iterator[str]:
    fmt = journal.format
    # CSV, not HTML: no autoescaping; each value is already a quoted, formula-escaped CSV field.
    # A format saved before templates were checked is refused here with the same message.
    try:
        header_template, row = journal_template(fmt.header_template), journal_template(fmt.row_template)
    except JournalTemplateError as exc:
        raise BillingError(f"journal format {fmt.name}: {exc}; correct it in the admin") from None
    common = {
        "period": csv_cell(journal.period), "date": csv_cell(journal_date(journal.period).strftime(fmt.date_format)),
        "journal_number": csv_cell(reference), "reference_id": csv_cell(reference),
        "currency": csv_cell(journal.currency), "line_count": len(journal.lines),
        "debit_total": format_amount(journal.debit_total, fmt.number_format),
        "credit_total": format_amount(journal.credit_total, fmt.number_format),
    }  # fmt: skip
    header = _render(fmt, header_template, common).strip("\r\n")
    if header:
        yield header + "\n"
    for i, ln in enumerate(lines, start=1):
        values = line_values(journal, ln, reference)
        cells = {
            k: ("" if v is None else format_amount(v, fmt.number_format) if isinstance(v, Decimal) else csv_cell(v))
            for k, v in values.items()
        }
        text = _render(fmt, row, {**common, **cells, "line_number": i}).strip("\r\n")
        yield text + "\n"


def _render(fmt: JournalFormat, template: Template, values: dict[str, Any]) -> str:
    try:
        return render_journal_template(template, values)
    except JournalTemplateError as exc:
        raise BillingError(f"journal format {fmt.name}: {exc}; correct it in the admin") from None
