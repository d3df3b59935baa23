"""Bulk insert of charges: `executemany` on SQLite, `COPY` on PostgreSQL.

Rows are written in chunks inside the import's transaction, so memory stays flat and a failure
anywhere leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection

from billing.models import Charge
from chargeback.money import SCALE, MoneyRangeError, to_scaled

from .columns import DEDICATED
from .reader import MONEY_FIELDS, POS, ROW_FIELDS, Row
from .rules import Attribution

COLUMNS: tuple[str, ...] = (
    "batch_id", "period_id", "source_id", "active", "file_index", "line_number", "fingerprint",
    "pi_id", "project_id", "fund_org", "cost_center", "account_code", "reference_1", "reference_2",
    *ROW_FIELDS,
    "tags", "focus_extra", "extensions", "review_state", "flag_reasons",
)  # fmt: skip
FOCUS_NAME = {target: name for name, (target, _) in DEDICATED.items()}
_BLANK_OK = {f.name for f in Charge._meta.get_fields() if getattr(f, "blank", False) and not getattr(f, "null", True)}
_DATE_POS = [POS[f] for f in ROW_FIELDS if f.endswith(("_start", "_end"))]
_MONEY_POS = [POS[f] for f in MONEY_FIELDS]
_QTY_POS = [POS["pricing_quantity"], POS["consumed_quantity"]]
# Text columns that are NOT NULL in the schema: None is stored as "".
_TEXT_POS = [POS[f] for f in ROW_FIELDS if f in _BLANK_OK]


class ChargeWriter:
    """Collects rows and flushes them in chunks with the backend's fastest bulk path."""

    def __init__(self, *, batch_id: int, period_id: int, source_id: int) -> None:
        self.head = (batch_id, period_id, source_id, True)
        self.chunk_rows = max(100, settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS)
        self.pending: list[tuple[Any, ...]] = []
        self.written = 0
        self.sqlite = connection.vendor == "sqlite"
        table = Charge._meta.db_table
        if self.sqlite:
            marks = ", ".join(["%s"] * len(COLUMNS))
            self.sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608
        else:
            self.sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"

    def add(self, row: Row, attr: Attribution) -> None:
        values = row.values
        for pos in _TEXT_POS:
            if values[pos] is None:
                values[pos] = ""
        if self.sqlite:
            for pos in _MONEY_POS:
                v = values[pos]
                if v is not None:
                    if abs(v) >= 922337203:
                        try:
                            values[pos] = to_scaled(v)
                        except MoneyRangeError as exc:
                            raise MoneyRangeError(f"column {FOCUS_NAME[ROW_FIELDS[pos]]}: {exc}") from None
                    else:
                        values[pos] = int(v.scaleb(SCALE))
            for pos in _QTY_POS:
                v = values[pos]
                if v is not None:
                    values[pos] = str(v)
        else:
            for pos in _DATE_POS:
                v = values[pos]
                if v is not None:
                    values[pos] = v + "+00"
        reasons = attr.reasons
        self.pending.append(
            (
                *self.head, row.file_index, row.line, row.fingerprint,
                attr.pi_id, attr.project_id, attr.fund_org, attr.cost_center, attr.account_code,
                attr.reference_1, attr.reference_2,
                *values,
                row.tags_json, row.extra_json, row.extensions_json,
                "flagged" if reasons else "ok",
                ("," + ",".join(reasons) + ",") if reasons else "",
            )
        )  # fmt: skip
        if len(self.pending) >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with connection.cursor() as cursor:
            if self.sqlite:
                cursor.executemany(self.sql, self.pending)
            else:
                with cursor.cursor.copy(self.sql) as copy:
                    for record in self.pending:
                        copy.write_row(record)
        self.written += len(self.pending)
        self.pending = []
