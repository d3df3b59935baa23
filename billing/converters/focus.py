"""FOCUS 1.2 output for the converters, and the specification's checks of such a file.

What the converters write follows the FOCUS 1.2 rules that matter to any reader: the mandatory
columns; dates in UTC as `YYYY-MM-DDTHH:MM:SSZ`, with exclusive ends (a month is
`2025-01-01T00:00:00Z` to `2025-02-01T00:00:00Z`); ISO 4217 currency codes; decimal numbers
without thousands separators or exponents; `Tags` as a JSON object; allowed values for
ChargeCategory, ChargeClass, ChargeFrequency and ServiceCategory; and our own columns prefixed
`x_`. Also what the FinOps Foundation's validator (`focus-validator` 2.2.1, FOCUS 1.2 model) checks of such a file: the
recommended InvoiceId (null on every line or on none) and ServiceSubcategory (one of its
category's, one per service name); amounts and quantities written as decimals; units in the
FOCUS unit format; and a charge whose provider
is not its invoice issuer is a marketplace charge, billed at 0 (so a charge the research
computing group bills itself names the group as provider, publisher and issuer).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

from chargeback.money import quantize

# The FOCUS 1.2 columns the converters write, in this order.
COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit",
    "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost",
    "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory", "SkuId",
    "SkuPriceId", "SubAccountId", "SubAccountName", "SubAccountType", "Tags",
)  # fmt: skip
# Mandatory in FOCUS 1.2 (the columns every FOCUS 1.2 dataset has).
MANDATORY = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity",
    "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
)  # fmt: skip
NOT_NULL = (
    "BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory",
    "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost", "EffectiveCost", "ListCost", "ServiceCategory",
    "ServiceName", "ProviderName", "InvoiceIssuerName", "PublisherName",
)  # fmt: skip
# Recommended in FOCUS 1.2; the official validator fails the rules that depend on them without them.
RECOMMENDED = ("InvoiceId", "ServiceSubcategory")
DATES = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
NUMBERS = ("BilledCost", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "ListCost", "ListUnitPrice",
           "PricingQuantity", "ConsumedQuantity")  # fmt: skip
CHARGE_CATEGORIES = frozenset({"Usage", "Purchase", "Tax", "Credit", "Adjustment"})
CHARGE_FREQUENCIES = frozenset({"One-Time", "Recurring", "Usage-Based"})
SERVICE_CATEGORIES = frozenset({
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases", "Developer Tools",
    "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance", "Media",
    "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other",
})  # fmt: skip
# A column whose values all look like integers is read as an integer column; FOCUS wants a
# decimal type, so amounts and quantities are written with a decimal point.
DECIMAL_COLUMNS = NUMBERS
# FOCUS units: a data size, a time or a count unit, alone, per time ("GB/Hour"), over time
# ("TB-Months"), counted ("1000 Requests") or per interval ("Requests/3 Months").
_SIZE = "(?:[KMGTPE]i?[bB]|[bB])"
_TIMES, _TIME = "(?:Years|Months|Days|Hours|Minutes|Seconds)", "(?:Year|Month|Day|Hour|Minute|Second)"
_COUNT = r"[A-Za-z][A-Za-z0-9]*(?:\s+[A-Za-z][A-Za-z0-9]*)*"
UNIT_RE = re.compile(
    rf"^(?:{_SIZE}|{_COUNT}|(?:{_SIZE}|{_COUNT})-{_TIMES}|(?:{_SIZE}|{_COUNT})/{_TIME}|[0-9]+ (?:{_SIZE}|{_COUNT})"
    rf"|(?:{_SIZE}|{_COUNT})/[0-9]+ {_TIMES})$"
)
UNITS = ("PricingUnit", "ConsumedUnit")
# The FOCUS 1.2 service subcategories the converters use, by service category.
SERVICE_SUBCATEGORIES = {"Compute": frozenset({"Other (Compute)"}), "Storage": frozenset({"File Storage"})}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def utc_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value: Decimal) -> str:
    """Exact decimal text: at most 10 decimals, no trailing zeros, never an exponent."""
    text = format(quantize(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def decimal(value: Decimal) -> str:
    """`number`, always with a decimal point (960 → "960.0"): read as a decimal column."""
    text = number(value)
    return text if "." in text else f"{text}.0"


@dataclass
class FocusLine:
    """One output line: FOCUS columns by name, and our own columns (written with an x_ prefix)."""

    values: dict[str, str]
    extensions: dict[str, str] = field(default_factory=dict)


def write_focus(out: IO[str], lines: Sequence[FocusLine], extension_names: Iterable[str]) -> None:
    extras = list(extension_names)
    assert all(name.startswith("x_") for name in extras), "our own columns start with x_"
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *extras])
    for line in lines:
        writer.writerow([*(line.values.get(c, "") for c in COLUMNS), *(line.extensions.get(x, "") for x in extras)])


def conformance_problems(path: Path) -> list[str]:
    """What in a FOCUS CSV breaks the FOCUS 1.2 rules listed in the module docstring ([] if none)."""
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        known = set(COLUMNS) | set(MANDATORY)
        problems += [f"missing mandatory column {c}" for c in MANDATORY if c not in header]
        problems += [f"missing recommended column {c}" for c in RECOMMENDED if c not in header]
        problems += [f"column {c} is not FOCUS and has no x_ prefix" for c in header if c not in known and not
                     c.startswith("x_")]  # fmt: skip
        invoice_ids: set[bool] = set()
        subcategories: dict[str, set[str]] = {}
        for line, row in enumerate(reader, start=2):
            problems += [f"{line}: {p}" for p in _row_problems(row)]
            invoice_ids.add(bool(row.get("InvoiceId")))
            subcategories.setdefault(row.get("ServiceName", ""), set()).add(row.get("ServiceSubcategory", ""))
    if len(invoice_ids) > 1:
        problems.append("InvoiceId is null on some lines only (null on all, or on none)")
    problems += [
        f"ServiceName {name!r} has more than one ServiceSubcategory ({', '.join(sorted(subs))})"
        for name, subs in subcategories.items() if len(subs) > 1
    ]  # fmt: skip
    return problems


def _row_problems(row: dict[str, str]) -> list[str]:
    found = [f"{c} is null" for c in NOT_NULL if c in row and not row[c]]
    for column in DATES:
        value = row.get(column, "")
        if value and not DATE_RE.match(value):
            found.append(f"{column} {value!r} is not UTC YYYY-MM-DDTHH:MM:SSZ")
    for column in NUMBERS:
        value = row.get(column, "")
        if value and not NUMBER_RE.match(value):
            found.append(f"{column} {value!r} is not a plain decimal number")
    if not CURRENCY_RE.match(row.get("BillingCurrency", "")):
        found.append(f"BillingCurrency {row.get('BillingCurrency')!r} is not an ISO 4217 code")
    if row.get("ChargeCategory") not in CHARGE_CATEGORIES:
        found.append(f"ChargeCategory {row.get('ChargeCategory')!r} is not allowed")
    if row.get("ChargeClass") not in ("", "Correction"):
        found.append(f"ChargeClass {row.get('ChargeClass')!r} is not allowed")
    if row.get("ChargeFrequency", "") not in CHARGE_FREQUENCIES | {""}:
        found.append(f"ChargeFrequency {row.get('ChargeFrequency')!r} is not allowed")
    if row.get("ServiceCategory") not in SERVICE_CATEGORIES:
        found.append(f"ServiceCategory {row.get('ServiceCategory')!r} is not allowed")
    elif "ServiceSubcategory" in row and row["ServiceSubcategory"] not in SERVICE_SUBCATEGORIES.get(
        row["ServiceCategory"], ()
    ):
        found.append(
            f"ServiceSubcategory {row['ServiceSubcategory']!r} is not one of ServiceCategory {row['ServiceCategory']!r}"
        )
    for column in DECIMAL_COLUMNS:
        value = row.get(column, "")
        if value and NUMBER_RE.match(value) and "." not in value:
            found.append(f"{column} {value!r} has no decimal point (read as an integer, not a decimal)")
    for column in UNITS:
        value = row.get(column, "")
        if value and not UNIT_RE.match(value):
            found.append(f"{column} {value!r} is not in the FOCUS unit format (e.g. TB-Months, GB/Hour, Requests)")
    if (
        row.get("ProviderName") != row.get("InvoiceIssuerName")
        and NUMBER_RE.match(row.get("BilledCost") or "")
        and Decimal(row["BilledCost"]) != 0
    ):
        found.append("ProviderName differs from InvoiceIssuerName (a marketplace charge) but BilledCost is not 0")
    try:
        tags = json.loads(row.get("Tags") or "{}")
        if not isinstance(tags, dict):
            found.append("Tags is not a JSON object")
    except json.JSONDecodeError:
        found.append("Tags is not JSON")
    starts = [row.get(c, "") for c in ("BillingPeriodStart", "ChargePeriodStart")]
    ends = [row.get(c, "") for c in ("BillingPeriodEnd", "ChargePeriodEnd")]
    for start, end in zip(starts, ends, strict=True):
        if DATE_RE.match(start) and DATE_RE.match(end) and not start < end:
            found.append(f"period end {end} is not after its start {start} (ends are exclusive)")
    if DATE_RE.match(row.get("BillingPeriodStart", "")) and not row["BillingPeriodStart"].endswith("-01T00:00:00Z"):
        found.append("BillingPeriodStart is not the first instant of a month")
    try:
        if (
            row.get("BilledCost")
            and row.get("EffectiveCost")
            and Decimal(row["BilledCost"]) != Decimal(row["EffectiveCost"])
        ):
            found.append("EffectiveCost differs from BilledCost without a commitment discount")
    except InvalidOperation:
        pass
    return found
