"""Read FOCUS CSV files: streaming, gzip-aware, BOM/CRLF tolerant, exact, and strict.

The reader turns each data line into a `Row` of parsed values. Anything it cannot read with
certainty is an `IngestError` naming the file, line and column; it never guesses.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from chargeback.money import QUANTUM

from .columns import DATE, MONEY, QTY, STR, TAGS, HeaderError, HeaderPlan, plan_header

NULLS = frozenset({"", "NULL", "null"})
csv.field_size_limit(16 * 1024 * 1024)

# The dedicated charge fields in a fixed order; a Row's `values` follows it.
ROW_FIELDS: tuple[str, ...] = (
    "billing_account_id", "billing_account_name", "sub_account_id", "sub_account_name",
    "billing_period_start", "billing_period_end", "charge_period_start", "charge_period_end",
    "charge_category", "charge_class", "charge_frequency", "charge_description", "billing_currency",
    "list_cost", "list_unit_price", "contracted_cost", "contracted_unit_price", "billed_cost",
    "effective_cost", "pricing_quantity", "pricing_unit", "consumed_quantity", "consumed_unit",
    "provider_name", "publisher_name", "invoice_issuer_name", "region_id", "region_name",
    "availability_zone", "resource_id", "resource_name", "resource_type", "service_category",
    "service_subcategory", "service_name", "sku_id", "sku_price_id", "invoice_id",
)  # fmt: skip
POS = {name: i for i, name in enumerate(ROW_FIELDS)}
MONEY_FIELDS = tuple(f for f in ROW_FIELDS if f.endswith(("_cost", "_price")))


class IngestError(Exception):
    """A fatal problem with an input file: `FILE:LINE: column X: what is wrong`."""

    def __init__(self, path: str, line: int | None, message: str, column: str | None = None) -> None:
        self.path, self.line, self.column, self.message = path, line, column, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: column {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


@dataclass(slots=True)
class Row:
    file_index: int
    line: int
    values: list[Any]  # parsed values in ROW_FIELDS order
    tags: dict[str, Any]
    tags_json: str
    extra_json: str
    extensions_json: str
    fingerprint: str


class _CountingReader(io.RawIOBase):
    """Counts bytes read from the underlying file, for the progress bar."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.bytes_read = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.bytes_read += n or 0
        return n or 0


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# Amounts and quantities must have at most 18 digits before the decimal point (numeric(38, 10)
# leaves 28; totals of many amounts need the headroom).
LIMIT = Decimal(10) ** 18


def parse_money(text: str) -> Decimal:
    """A finite decimal number; raises ValueError with a reason a person can act on."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    if not -LIMIT < value < LIMIT:
        raise ValueError(f"{text!r} is too large (at most 18 digits before the decimal point)")
    return value


_DATE_CACHE: dict[str, str] = {}


def parse_date(text: str) -> str:
    """A FOCUS date or datetime as UTC `YYYY-MM-DD HH:MM:SS` (cached: exports repeat them)."""
    cached = _DATE_CACHE.get(text)
    if cached is not None:
        return cached
    raw = text.strip()
    try:
        if len(raw) == 10:
            parsed = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(raw)
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or ISO 8601)") from None
    result = parsed.strftime("%Y-%m-%d %H:%M:%S")
    if len(_DATE_CACHE) > 10_000:
        _DATE_CACHE.clear()
    _DATE_CACHE[text] = result
    return result


def _parse_tags(text: str) -> dict[str, Any]:
    try:
        tags = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Tags are not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(tags, dict):
        raise ValueError('Tags must be a JSON object like {"pi_email": "…"}')
    return tags


class FileReader:
    """Iterates one file's data lines as `Row`s. Use as a context manager."""

    def __init__(self, path: Path, file_index: int = 0, display_name: str | None = None) -> None:
        self.path = path
        self.file_index = file_index
        self.name = display_name or path.name
        self.size = path.stat().st_size
        self.rounded_values = 0  # amounts with more than 10 decimal places (rounded half-up)
        self._raw: IO[bytes] | None = None
        self._counter: _CountingReader | None = None
        self._text: IO[str] | None = None
        self.plan: HeaderPlan | None = None

    def __enter__(self) -> FileReader:
        self._raw = self.path.open("rb")
        magic = self._raw.read(2)
        self._raw.seek(0)
        self._counter = _CountingReader(self._raw)
        binary: IO[bytes] = io.BufferedReader(self._counter, buffer_size=1 << 20)
        if magic == b"\x1f\x8b":
            binary = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
        self._text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._text is not None:
            self._text.close()
        if self._raw is not None:
            self._raw.close()

    @property
    def bytes_read(self) -> int:
        return self._counter.bytes_read if self._counter else 0

    def error(self, line: int | None, message: str, column: str | None = None) -> IngestError:
        return IngestError(self.name, line, message, column)

    def rows(self) -> Iterator[Row]:
        assert self._text is not None, "use FileReader as a context manager"
        reader = csv.reader(self._text, strict=True)
        try:
            try:
                header = next(reader)
            except StopIteration:
                raise self.error(None, "the file is empty (no header row)") from None
            try:
                plan = self.plan = plan_header(header)
            except HeaderError as exc:
                raise self.error(1, str(exc)) from None
            yield from self._rows(reader, plan)
        except UnicodeDecodeError as exc:
            raise self.error(reader.line_num + 1, f"not UTF-8 text ({exc.reason})") from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise self.error(reader.line_num or None, f"unreadable file ({exc})") from None
        except csv.Error as exc:
            raise self.error(reader.line_num, f"malformed CSV ({exc})") from None

    def _rows(self, reader: Any, plan: HeaderPlan) -> Iterator[Row]:
        ncols = len(plan.names)
        width = len(ROW_FIELDS)
        strings = [(i, POS[f]) for i, f, kind in plan.dedicated if kind == STR]
        money = [(i, POS[f], plan.names[i]) for i, f, kind in plan.dedicated if kind == MONEY]
        qty = [(i, POS[f], plan.names[i]) for i, f, kind in plan.dedicated if kind == QTY]
        dates = [(i, POS[f], plan.names[i]) for i, f, kind in plan.dedicated if kind == DATE]
        tags_idx = next((i for i, _, kind in plan.dedicated if kind == TAGS), None)
        extra, extensions = plan.extra, plan.extensions
        order = plan.canonical_order
        nulls = NULLS
        blake2b = hashlib.blake2b
        dumps = json.dumps
        tag_cache: dict[str, dict[str, Any]] = {}
        file_index = self.file_index
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line: not a data line
            line = reader.line_num
            if len(cells) != ncols:
                raise self.error(line, f"expected {ncols} cells like the header, found {len(cells)}")
            values: list[Any] = [None] * width
            for i, pos in strings:
                v = cells[i]
                if v not in nulls:
                    values[pos] = v
            for i, pos, name in money:
                v = cells[i]
                if v in nulls:
                    continue
                try:
                    d = parse_money(v)
                except ValueError as exc:
                    raise self.error(line, str(exc), name) from None
                q = d.quantize(QUANTUM, rounding=ROUND_HALF_UP)
                if q != d:
                    self.rounded_values += 1
                values[pos] = q
            for i, pos, name in qty:
                v = cells[i]
                if v not in nulls:
                    try:
                        values[pos] = parse_money(v)
                    except ValueError as exc:
                        raise self.error(line, str(exc), name) from None
            for i, pos, name in dates:
                v = cells[i]
                if v not in nulls:
                    try:
                        values[pos] = parse_date(v)
                    except ValueError as exc:
                        raise self.error(line, str(exc), name) from None
            tags: dict[str, Any] = {}
            tags_json = "{}"
            if tags_idx is not None:
                v = cells[tags_idx]
                if v not in nulls:
                    cached = tag_cache.get(v)
                    if cached is None:
                        try:
                            cached = _parse_tags(v)
                        except ValueError as exc:
                            raise self.error(line, str(exc), plan.names[tags_idx]) from None
                        if len(tag_cache) > 20_000:
                            tag_cache.clear()
                        tag_cache[v] = cached
                    tags, tags_json = cached, v
            extra_json = dumps({name: cells[i] for i, name in extra if cells[i] not in nulls}) if extra else "{}"
            ext_json = (
                dumps({name: cells[i] for i, name in extensions if cells[i] not in nulls}) if extensions else "{}"
            )
            fingerprint = blake2b("\x1f".join([cells[i] for i in order]).encode(), digest_size=16).hexdigest()
            yield Row(file_index, line, values, tags, tags_json, extra_json, ext_json, fingerprint)
