"""The shape of a staged charge row, the batch's tally, and the flag rules shared by import and re-check.

A staged row is a list in STAGE_COLUMNS order (built by `builder.RowBuilder`); a row's own
flags (period, currency, negative amount, patterns on its fields) are bits of its combination,
turned into reason codes by `combo_reasons`, exactly as `row_flags` gives them for one row.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .rules import (
    CURRENCY_MISMATCH,
    NEGATIVE_AMOUNT,
    PATTERN_MATCH,
    PERIOD_MISMATCH,
    TAG_FIELDS,
    Attribution,
)

# The dedicated FOCUS fields of a charge, in the order they appear in a row: the text fields
# first and together, so a row takes all of them in one slice assignment.
STRING_FIELDS: tuple[str, ...] = (
    "billing_account_id", "billing_account_name", "sub_account_id", "sub_account_name",
    "charge_category", "charge_class", "charge_frequency", "charge_description", "billing_currency",
    "pricing_unit", "consumed_unit", "provider_name", "publisher_name", "invoice_issuer_name",
    "region_id", "region_name", "availability_zone", "resource_id", "resource_name", "resource_type",
    "service_category", "service_subcategory", "service_name", "sku_id", "sku_price_id", "invoice_id",
)  # fmt: skip
# The most characters each text field holds (billing.Charge; a test keeps the two alike).
UNBOUNDED = 10**9  # a text column
STRING_LIMITS: tuple[int, ...] = (
    200, 300, 400, 300, 30, 30, 30, UNBOUNDED, 3, 100, 100, 200, 200, 200, 100, 200, 100, 1000, 1000, 200,
    200, 200, 300, 200, 300, 200,
)  # fmt: skip
# The same for the mapped tag values, in rules.TAG_FIELDS order (PI email, project code, …).
TAG_LIMITS: tuple[int, ...] = (254, 200, 100, 100, 50, 200, 200)
ROW_FIELDS: tuple[str, ...] = (
    *STRING_FIELDS,
    "list_cost", "list_unit_price", "contracted_cost", "contracted_unit_price", "billed_cost",
    "effective_cost", "pricing_quantity", "consumed_quantity",
    "billing_period_start", "billing_period_end", "charge_period_start", "charge_period_end",
)  # fmt: skip
# A staged row: these columns, in this order. `ck` names the row's combination of tag values,
# account values (when the tags name no project and account mappings exist) and row flags (see
# `Tally.combos`); the writer turns it into the attribution columns below.
STAGE_COLUMNS: tuple[str, ...] = (
    "ck", "file_index", "line_number", "fingerprint", *ROW_FIELDS, "tags", "focus_extra", "extensions",
)  # fmt: skip
ATTRIBUTION_COLUMNS: tuple[str, ...] = (
    "pi_id", "project_id", "fund_org", "cost_center", "account_code", "reference_1", "reference_2",
    "attribution_rule", "review_state", "flag_reasons",
)  # fmt: skip
SLOT = {name: i for i, name in enumerate(STAGE_COLUMNS)}
STRINGS_START = SLOT[STRING_FIELDS[0]]
STRINGS_END = STRINGS_START + len(STRING_FIELDS)
PERIOD_START_SLOT, CURRENCY_SLOT = SLOT["billing_period_start"], SLOT["billing_currency"]
CATEGORY_SLOT = SLOT["charge_category"]
TAGS_SLOT, EXTRA_SLOT, EXTENSIONS_SLOT = SLOT["tags"], SLOT["focus_extra"], SLOT["extensions"]
NULLABLE = frozenset({
    "billing_period_start", "billing_period_end", "charge_period_start",
    "charge_period_end", "list_cost", "list_unit_price", "contracted_cost", "contracted_unit_price",
    "billed_cost", "effective_cost", "pricing_quantity", "consumed_quantity",
})  # fmt: skip
# Row flags in a combination's bit set; pattern k (in name order) is bit PATTERN_BIT + k.
PERIOD_BIT, CURRENCY_BIT, NEGATIVE_BIT, PATTERN_BIT = 1, 2, 4, 3


# A combination: (tag values in rules.TAG_FIELDS order, account values or (), row flag bits).
Combo = tuple[tuple[str, ...], tuple[str, ...], int]
PROJECT_VALUE = TAG_FIELDS.index("project_id")


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
    rounded_quantities: int = 0
    rows_per_file: list[int] = field(default_factory=list)
    focus_versions: list[str] = field(default_factory=list)
    # Distinct (mapped tag values, account values, row flag bits) in order of first sight, with
    # their row count and billed units; attribution is decided for these once the whole batch is
    # read. The account values (mapping.KINDS order) are () unless the tags name no project and
    # there are account mappings, so they split combinations only where a mapping may apply.
    combos: list[Combo] = field(default_factory=list)
    combo_rows: list[int] = field(default_factory=list)
    combo_billed: list[int] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        """Add the figures of a later part of the batch (its combinations keep their own numbers)."""
        self.rows += other.rows
        self.list_units += other.list_units
        self.billed_units += other.billed_units
        self.periods.update(other.periods)
        self.currencies |= other.currencies
        self.rounded_values += other.rounded_values
        self.rounded_quantities += other.rounded_quantities


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
    row_month: str,
    currency: str,
    billed: int | Decimal,
    category: str,
    month: str,
    expected_currency: str,
    patterns: list[RowPattern],
) -> list[str]:
    """The flags that depend on the row, not only on its tags, in their fixed order.

    Pure (no database, no state): `RowBuilder.build` calls it for every line of an import and
    the rules service for every stored charge it re-checks, so both flag alike. Positional
    arguments because it is on the import's hot path.
    """
    found: list[str] = []
    if row_month != month:
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


def combo_reasons(attr: Attribution, bits: int, patterns: list[RowPattern]) -> list[str]:
    """A combination's flag reasons, in the order `row_flags` gives them for a single row."""
    found = list(attr.reasons)
    if bits & PERIOD_BIT:
        found.append(PERIOD_MISMATCH)
    if bits & CURRENCY_BIT:
        found.append(CURRENCY_MISMATCH)
    if bits & NEGATIVE_BIT:
        found.append(NEGATIVE_AMOUNT)
    for k, (name, regex, targets) in enumerate(patterns):
        matched = bool(bits & (1 << (PATTERN_BIT + k)))
        for target in targets if not matched else ():
            if target == "pi_email":
                text = attr.pi_email or ""
            elif target == "project_id":
                text = attr.project_code or ""
            elif target == "fund_org":
                text = attr.fund_org
            else:
                continue
            if text and regex.search(text):
                matched = True
                break
        if matched:
            found.append(f"{PATTERN_MATCH}:{name}")
    return found
