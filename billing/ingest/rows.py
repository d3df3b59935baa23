"""Turn a data line's cells into a charge row for the database, and keep the batch's tally.

This is the hot loop of every import. It runs in the importing process for small files and in
a parsing worker process for large ones (see `pipeline`), so it must not touch the database:
PIs and projects are carried by email and code, the writer swaps in their ids.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from .columns import DATE, MONEY, QTY, STR, TAGS, HeaderPlan
from .mapping import account_reader
from .reader import FileReader
from .rules import CURRENCY_MISMATCH, NEGATIVE_AMOUNT, PATTERN_MATCH, PERIOD_MISMATCH, Attribution, Attributor

# The dedicated FOCUS fields of a charge, in the order they appear in a row: the text fields
# first and together, so a row takes all of them in one slice assignment.
STRING_FIELDS: tuple[str, ...] = (
    "billing_account_id", "billing_account_name", "sub_account_id", "sub_account_name",
    "charge_category", "charge_class", "charge_frequency", "charge_description", "billing_currency",
    "pricing_unit", "consumed_unit", "provider_name", "publisher_name", "invoice_issuer_name",
    "region_id", "region_name", "availability_zone", "resource_id", "resource_name", "resource_type",
    "service_category", "service_subcategory", "service_name", "sku_id", "sku_price_id", "invoice_id",
)  # fmt: skip
ROW_FIELDS: tuple[str, ...] = (
    *STRING_FIELDS,
    "list_cost", "list_unit_price", "contracted_cost", "contracted_unit_price", "billed_cost",
    "effective_cost", "pricing_quantity", "consumed_quantity",
    "billing_period_start", "billing_period_end", "charge_period_start", "charge_period_end",
)  # fmt: skip
# A row: these columns of billing_charge, in this order (the writer adds batch, period, source).
ROW_COLUMNS: tuple[str, ...] = (
    "file_index", "line_number", "fingerprint", "pi_id", "project_id", "fund_org", "cost_center",
    "account_code", "reference_1", "reference_2", *ROW_FIELDS,
    "tags", "focus_extra", "extensions", "attribution_rule", "review_state", "flag_reasons",
)  # fmt: skip
SLOT = {name: i for i, name in enumerate(ROW_COLUMNS)}
STRINGS_START = SLOT[STRING_FIELDS[0]]
STRINGS_END = STRINGS_START + len(STRING_FIELDS)
PI_SLOT, PROJECT_SLOT = SLOT["pi_id"], SLOT["project_id"]
PERIOD_START_SLOT, CURRENCY_SLOT = SLOT["billing_period_start"], SLOT["billing_currency"]
CATEGORY_SLOT = SLOT["charge_category"]
ATTRIBUTION_RULE_SLOT = SLOT["attribution_rule"]
NULLABLE = frozenset({
    "pi_id", "project_id", "billing_period_start", "billing_period_end", "charge_period_start",
    "charge_period_end", "list_cost", "list_unit_price", "contracted_cost", "contracted_unit_price",
    "billed_cost", "effective_cost", "pricing_quantity", "consumed_quantity",
})  # fmt: skip
NULL_WORDS = frozenset({"NULL", "null"})
# At most 18 digits before the decimal point (numeric(38, 10) keeps headroom for totals).
LIMIT = 10**28
INT64_MAX = 2**63 - 1
SCALE = Decimal(1).scaleb(10)
ONE = Decimal(1)


@dataclass
class Tally:
    """A batch's figures, added up exactly in units of 10^-10 while rows go by."""

    rows: int = 0
    list_units: int = 0
    billed_units: int = 0
    flagged_rows: int = 0
    flagged_units: int = 0
    flag_counts: Counter[str] = field(default_factory=Counter)
    periods: Counter[str] = field(default_factory=Counter)
    currencies: set[str] = field(default_factory=set)
    rounded_values: int = 0
    rows_per_file: list[int] = field(default_factory=list)
    focus_versions: list[str] = field(default_factory=list)


class Flavor:
    """How values are written for a backend: SQLite takes scaled integers, PostgreSQL text."""

    SQLITE, POSTGRESQL = "sqlite", "postgresql"


def parse_date(text: str) -> str:
    """A FOCUS date or datetime as UTC `YYYY-MM-DD HH:MM:SS`."""
    raw = text.strip()
    if raw.endswith(" UTC"):  # BigQuery's CSV timestamps (Google Cloud exports)
        raw = raw[:-4]
    try:
        if len(raw) == 10:
            parsed = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(raw)
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or ISO 8601)") from None
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def scaled_amount(text: str) -> tuple[int, bool]:
    """An amount as 10^-10 units, and whether it had to be rounded (half-up) to get there."""
    if not text.isascii() or "_" in text:  # Decimal() would read "١٢" or "1_000"; a CSV should not
        raise ValueError(f"{text!r} is not a number")
    try:
        units = Decimal(text).scaleb(10)
        whole = int(units)
    except (InvalidOperation, ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a number" if _not_number(text) else f"{text!r} is not a finite number")
    rounded = whole != units
    if rounded:
        whole = int(units.quantize(ONE, rounding=ROUND_HALF_UP))
    if not -LIMIT < whole < LIMIT:
        raise ValueError(f"{text!r} is too large (at most 18 digits before the decimal point)")
    return whole, rounded


def _not_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return True
    return False


# A flag pattern ready for `row_flags`: name, compiled regex, and where each searched field's
# text is: an index into the row, or one of the attribution targets (read from the Attribution).
RowPattern = tuple[str, re.Pattern[str], list[str | int]]
ATTRIBUTION_TARGETS = frozenset({"tags", "pi_email", "project_id", "fund_org"})


def row_patterns(
    flag_patterns: Iterable[tuple[str, re.Pattern[str], list[str]]], slots: Mapping[str, int]
) -> list[RowPattern]:
    """An Attributor's compiled flag patterns with their fields turned into `slots` indexes of a row."""
    return [
        (name, regex, [f if f in ATTRIBUTION_TARGETS else slots[f] for f in fields])
        for name, regex, fields in flag_patterns
    ]


def row_flags(
    row: Sequence[Any],
    attr: Attribution,
    tags_json: str,
    month: str,
    currency: str,
    billed: int | Decimal,
    category: str,
    period: str,
    expected_currency: str,
    patterns: list[RowPattern],
) -> list[str]:
    """The flags that depend on the row, not only on its tags, in their fixed order.

    Pure (no database, no state): `RowBuilder.build` calls it for every line of an import and
    the rules service for every stored charge it re-checks, so both flag alike. Positional
    arguments because it is on the import's hot path.
    """
    found: list[str] = []
    if month != period:
        found.append(PERIOD_MISMATCH)
    if currency.upper() != expected_currency:
        found.append(CURRENCY_MISMATCH)
    if billed < 0 or category.lower() == "credit":
        found.append(NEGATIVE_AMOUNT)
    for name, regex, targets in patterns:
        for target in targets:
            if target == "tags":
                text = tags_json
            elif target == "pi_email":
                text = attr.pi_email or ""
            elif target == "project_id":
                text = attr.project_code or ""
            elif target == "fund_org":
                text = attr.fund_org
            else:
                assert isinstance(target, int)
                text = row[target] or ""
            if text and regex.search(text):
                found.append(f"{PATTERN_MATCH}:{name}")
                break
    return found


class RowBuilder:
    """Builds the rows of one file. `build(cells)` is called once per data line."""

    def __init__(self, reader: FileReader, plan: HeaderPlan, *, file_index: int, flavor: str,
                 attributor: Attributor, tally: Tally) -> None:  # fmt: skip
        self.reader, self.attributor, self.tally = reader, attributor, tally
        self.sqlite = flavor == Flavor.SQLITE
        self.period = attributor.snapshot.period
        self.expected_currency = attributor.snapshot.expected_currency
        template: list[Any] = [None if c in NULLABLE else "" for c in ROW_COLUMNS]
        template[SLOT["file_index"]] = file_index
        template[SLOT["tags"]] = template[SLOT["focus_extra"]] = template[SLOT["extensions"]] = "{}"
        self.template = template
        dedicated = [(i, SLOT[f], kind, plan.names[i]) for i, f, kind in plan.dedicated]
        # Text cells in STRING_FIELDS order; a field the file lacks reads the "" appended to each row.
        where = {slot: i for i, slot, kind, _ in dedicated if kind == STR}
        self.string_cells = itemgetter(*(where.get(SLOT[f], len(plan.names)) for f in STRING_FIELDS))
        self.money = [(i, slot, name) for i, slot, kind, name in dedicated if kind == MONEY]
        self.quantities = [(i, slot, name) for i, slot, kind, name in dedicated if kind == QTY]
        self.dates = [(i, slot, name) for i, slot, kind, name in dedicated if kind == DATE]
        self.tags_index = next((i for i, _, kind, _ in dedicated if kind == TAGS), None)
        self.tags_name = plan.names[self.tags_index] if self.tags_index is not None else "Tags"
        self.extra, self.extensions = plan.extra, plan.extensions
        self.fingerprint_cells = itemgetter(*plan.canonical_order)
        self.date_cache: dict[str, str] = {}
        self.patterns = row_patterns(attributor.flag_patterns, SLOT)
        billed_slot, list_slot = SLOT["billed_cost"], SLOT["list_cost"]
        self.billed_k = next((k for k, (_, slot, _) in enumerate(self.money) if slot == billed_slot), None)
        self.list_k = next((k for k, (_, slot, _) in enumerate(self.money) if slot == list_slot), None)
        self.billed_name = next((n for _, slot, n in self.money if slot == billed_slot), "BilledCost")
        self.accounts = (
            account_reader(plan.names, {f: i for i, f, _ in plan.dedicated}) if attributor.maps_accounts else None
        )

    def build(self, cells: list[str]) -> list[Any]:
        line = self.reader.line
        out = self.template.copy()
        out[1] = line
        cells.append("")
        texts = self.string_cells(cells)
        if "NULL" in texts or "null" in texts:
            texts = tuple("" if v in NULL_WORDS else v for v in texts)
        out[STRINGS_START:STRINGS_END] = texts
        units: list[int | None] = []
        for i, slot, name in self.money:
            v = cells[i]
            if not v or v in NULL_WORDS:
                units.append(None)
                continue
            # Fast path for plain decimals ("-12.3456"); anything else goes through Decimal.
            whole, _, frac = v.partition(".")
            digits = whole[1:] if whole[:1] == "-" else whole
            plain = digits.isascii() and digits.isdigit() and len(frac) <= 10
            if plain and (not frac or (frac.isascii() and frac.isdigit())):
                n = int(whole + frac.ljust(10, "0"))
                if len(digits) > 18:
                    raise self.reader.error(
                        line, f"{v!r} is too large (at most 18 digits before the decimal point)", name
                    )
            else:
                try:
                    n, rounded = scaled_amount(v)
                except ValueError as exc:
                    raise self.reader.error(line, str(exc), name) from None
                if rounded:
                    self.tally.rounded_values += 1
            units.append(n)
            if self.sqlite:
                if not -INT64_MAX <= n <= INT64_MAX:
                    raise self.reader.error(
                        line, f"{v!r} exceeds the embedded database's range of +/-922,337,203.6854775807 "
                        "(use PostgreSQL for larger single amounts)", name,
                    )  # fmt: skip
                out[slot] = n
            else:
                out[slot] = f"{n}e-10"
        for i, slot, name in self.quantities:
            v = cells[i]
            if v and v not in NULL_WORDS:
                try:
                    if not v.isascii() or "_" in v:
                        raise InvalidOperation
                    d = Decimal(v)
                    if not d.is_finite():
                        raise InvalidOperation
                except InvalidOperation:
                    raise self.reader.error(line, f"{v!r} is not a number", name) from None
                out[slot] = str(d)
        cache = self.date_cache
        for i, slot, name in self.dates:
            v = cells[i]
            if v and v not in NULL_WORDS:
                d8 = cache.get(v)
                if d8 is None:
                    try:
                        d8 = parse_date(v)
                    except ValueError as exc:
                        raise self.reader.error(line, str(exc), name) from None
                    if len(cache) > 10_000:
                        cache.clear()
                    cache[v] = d8 if self.sqlite else d8 + "+00"
                    d8 = cache[v]
                out[slot] = d8
        billed = units[self.billed_k] if self.billed_k is not None else None
        if billed is None:
            raise self.reader.error(line, "empty; every line needs a billed cost", self.billed_name)

        tags_json = ""
        if self.tags_index is not None:
            v = cells[self.tags_index]
            if v and v not in NULL_WORDS:
                tags_json = v
        attr = self._attribute(tags_json, line)
        if attr.project_code is None and self.accounts is not None:
            attr = self.attributor.map_account(attr, self.accounts(cells))
            out[ATTRIBUTION_RULE_SLOT] = attr.rule
        if tags_json:
            out[SLOT["tags"]] = tags_json
        if self.extra:
            found = {name: cells[i] for i, name in self.extra if cells[i] and cells[i] not in NULL_WORDS}
            if found:
                out[SLOT["focus_extra"]] = json.dumps(found)
        if self.extensions:
            found = {name: cells[i] for i, name in self.extensions if cells[i] and cells[i] not in NULL_WORDS}
            if found:
                out[SLOT["extensions"]] = json.dumps(found)
        out[2] = hashlib.blake2b("\x1f".join(self.fingerprint_cells(cells)).encode(), digest_size=16).hexdigest()
        out[3], out[4], out[5], out[6], out[7], out[8], out[9] = (
            attr.pi_email, attr.project_code, attr.fund_org, attr.cost_center, attr.account_code,
            attr.reference_1, attr.reference_2,
        )  # fmt: skip

        # Flags that depend on the row, not only on its tags
        reasons = attr.reasons
        start = out[PERIOD_START_SLOT]
        month = start[:7] if start else "unknown"
        currency = out[CURRENCY_SLOT]
        if not currency:
            currency = out[CURRENCY_SLOT] = self.expected_currency
        extra_reasons = row_flags(
            out, attr, tags_json, month, currency, billed, out[CATEGORY_SLOT],
            self.period, self.expected_currency, self.patterns,
        )  # fmt: skip
        if extra_reasons:
            reasons = (*reasons, *extra_reasons)

        tally = self.tally
        tally.rows += 1
        tally.billed_units += billed
        listed = units[self.list_k] if self.list_k is not None else None
        tally.list_units += billed if listed is None else listed
        tally.periods[month] += 1
        tally.currencies.add(currency)
        if reasons:
            out[-2] = "flagged"
            out[-1] = "," + ",".join(reasons) + ","
            tally.flagged_rows += 1
            tally.flagged_units += billed
            for reason in reasons:
                tally.flag_counts[reason.partition(":")[0]] += 1
        else:
            out[-2] = "ok"
        return out

    def _attribute(self, tags_json: str, line: int) -> Attribution:
        attributor = self.attributor
        cached = attributor.cached(tags_json)
        if cached is not None:
            return cached
        tags: dict[str, Any] = {}
        if tags_json:
            try:
                tags = json.loads(tags_json)
            except json.JSONDecodeError as exc:
                raise self.reader.error(
                    line, f"Tags are not valid JSON ({exc.msg} at character {exc.pos})", self.tags_name
                ) from None
            if not isinstance(tags, dict):
                raise self.reader.error(line, 'Tags must be a JSON object like {"pi_email": "…"}', self.tags_name)
        return attributor.attribute(tags_json, tags)
