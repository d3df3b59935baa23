"""The row builder: a data line's cells into a staged charge row, and the batch's tally.

This is the hot loop of every import. It runs in the importing process for small files and in
a parsing worker process for large ones (see `pipeline`), so it must not touch the database:
PIs and projects are carried by email and code, the writer swaps in their ids.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from .columns import DATE, MONEY, QTY, STR, TAGS, HeaderPlan
from .mapping import account_reader
from .reader import FileReader
from .rows import (
    CATEGORY_SLOT,
    CURRENCY_BIT,
    CURRENCY_SLOT,
    EXTENSIONS_SLOT,
    EXTRA_SLOT,
    NEGATIVE_BIT,
    NULLABLE,
    PATTERN_BIT,
    PERIOD_BIT,
    PERIOD_START_SLOT,
    PROJECT_VALUE,
    SLOT,
    STAGE_COLUMNS,
    STRING_FIELDS,
    STRING_LIMITS,
    STRINGS_END,
    STRINGS_START,
    TAG_LIMITS,
    TAGS_SLOT,
    Combo,
    Flavor,
    Tally,
    parse_date,
    row_patterns,
)
from .rules import TAG_FIELDS, Attributor

NULL_WORDS = frozenset({"NULL", "null"})
# At most 18 digits before the decimal point (numeric(38, 10) keeps headroom for totals).
LIMIT = 10**28
INT64_MAX = 2**63 - 1
# Cells the generated row builder converts directly; anything else takes the careful path.
_AMOUNT, _SMALL_AMOUNT = r"-?[0-9]{1,18}(?:\.[0-9]{1,10})?", r"-?[0-9]{1,8}(?:\.[0-9]{1,10})?"
_QUANTITY = r"-?(?:0|[1-9][0-9]{0,27})(?:\.[0-9]{1,10})?"  # str(Decimal(v)) == v, within numeric(38, 10)
POW = [10 ** (11 - n) if 0 < n <= 11 else 0 for n in range(12)]  # 10^(10 - decimals), by len(v) - v.find(".")
ONE = Decimal(1)
QUANTITY_DIGITS = 28  # numeric(38, 10) on PostgreSQL
QUANTUM = Decimal(1).scaleb(-10)  # quantities are kept to 10 decimal places, like amounts


def _not_json_number(word: str) -> None:
    raise ValueError(f"{word} is not a number JSON allows")


def _unstorable(value: Any) -> str:
    """What in parsed JSON text a database cannot store (a NUL, an unpaired surrogate), or ""."""
    if isinstance(value, str):
        if "\x00" in value:
            return "a NUL character (\\u0000)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "half of a surrogate pair (\\ud800-\\udfff)"
        return ""
    items = value.items() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        for part in item if isinstance(value, dict) else (item,):
            problem = _unstorable(part)
            if problem:
                return problem
    return ""


def too_long(values: tuple[str, ...]) -> bool:
    """Whether a mapped tag value is longer than its field holds (TAG_LIMITS)."""
    return any(map(operator.gt, map(len, values), TAG_LIMITS))


def units_text(units: int) -> str:
    """10^-10 units as the plain decimal text that is staged for the database (exact)."""
    whole, frac = divmod(abs(units), 10**10)
    return f"{'-' if units < 0 else ''}{whole}.{frac:010d}"


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


class RowBuilder:
    """Builds the staged rows of one part of a file. `build(cells)` is called once per data line.

    Pure parsing: no database, no attribution state. A row carries its tags' mapped values and
    its own flags as a combination number (`ck`); the importer attributes each combination once,
    in order of first sight, exactly as it would have attributed the rows one by one.
    """

    def __init__(self, reader: FileReader, plan: HeaderPlan, *, file_index: int, ck_base: int, flavor: str,
                 attributor: Attributor, tally: Tally) -> None:  # fmt: skip
        self.reader, self.attributor, self.tally = reader, attributor, tally
        self.names = plan.names
        self.sqlite = flavor == Flavor.SQLITE
        self.ck_base = ck_base
        self.month = attributor.snapshot.month
        self.expected_currency = attributor.snapshot.expected_currency
        template: list[Any] = [None if c in NULLABLE else "" for c in STAGE_COLUMNS]
        template[SLOT["file_index"]] = file_index
        template[TAGS_SLOT] = template[EXTRA_SLOT] = template[EXTENSIONS_SLOT] = "{}"
        self.template = template
        dedicated = [(i, SLOT[f], kind, plan.names[i]) for i, f, kind in plan.dedicated]
        # Text cells in STRING_FIELDS order; a field the file lacks reads the "" appended to each row.
        where = {slot: i for i, slot, kind, _ in dedicated if kind == STR}
        self.string_cells = itemgetter(*(where.get(SLOT[f], len(plan.names)) for f in STRING_FIELDS))
        named = {slot: name for _, slot, kind, name in dedicated if kind == STR}
        self.string_names = tuple(named.get(SLOT[f], f) for f in STRING_FIELDS)
        self.money = [(i, slot, name) for i, slot, kind, name in dedicated if kind == MONEY]
        self.quantities = [(i, slot, name) for i, slot, kind, name in dedicated if kind == QTY]
        self.dates = [(i, slot, name) for i, slot, kind, name in dedicated if kind == DATE]
        self.tags_index = next((i for i, _, kind, _ in dedicated if kind == TAGS), None)
        self.tags_name = plan.names[self.tags_index] if self.tags_index is not None else "Tags"
        self.extra, self.extensions = plan.extra, plan.extensions
        self.fingerprint_cells = itemgetter(*plan.canonical_order)
        self.date_cache: dict[str, str] = {}
        self.tag_cache: dict[str, tuple[str, ...]] = {}
        self.combo_index: dict[Combo, int] = {}
        # Flag patterns on the row's own fields and tags; those on attribution targets are the importer's.
        self.row_patterns = [
            (PATTERN_BIT + k, regex, [t for t in targets if not isinstance(t, str) or t == "tags"])
            for k, (_, regex, targets) in enumerate(row_patterns(attributor.flag_patterns, SLOT))
        ]
        self.row_patterns = [p for p in self.row_patterns if p[2]]
        billed_slot, list_slot = SLOT["billed_cost"], SLOT["list_cost"]
        self.billed_k = next((k for k, (_, slot, _) in enumerate(self.money) if slot == billed_slot), None)
        self.list_k = next((k for k, (_, slot, _) in enumerate(self.money) if slot == list_slot), None)
        self.billed_name = next((n for _, slot, n in self.money if slot == billed_slot), "BilledCost")
        self.accounts = (
            account_reader(plan.names, {f: i for i, f, _ in plan.dedicated}) if attributor.maps_accounts else None
        )

        self.build: Callable[[list[str]], list[Any]] = self._compile()

    def _compile(self) -> Callable[[list[str]], list[Any]]:
        """This file's `build`: straight-line code for its columns, for the lines that need no
        special handling (plain decimals, known dates and tags, no NULL words). Any other line
        goes through `build_line`, which gives the same row or names the problem."""
        # Every amount and quantity of the line is checked with one pattern; billed and list cost
        # (the batch's totals) are converted here, the other amounts are staged as checked text
        # and scaled by the database, quantities are staged as written.
        amount = _SMALL_AMOUNT if self.sqlite else _AMOUNT
        numbers = [f"cells[{i}]" for i, _, _ in (*self.money, *self.quantities)]
        pattern = "\x1f".join([f"(?:{amount})?"] * len(self.money) + [f"(?:{_QUANTITY})?"] * len(self.quantities))
        src = [
            "def build(cells):",
            "    line = csv_reader.line_num + lines_before",
            "    joined = '\\x1f'.join(fingerprint_cells(cells))",
            "    if 'NULL' in joined or 'null' in joined or '\\x00' in joined:",
            "        return slow(cells)",
        ]
        if numbers:
            src += [f"    if numbers_ok('\\x1f'.join(({', '.join(numbers)},))) is None:", "        return slow(cells)"]
        for k in (self.billed_k, self.list_k):
            if k is None:
                continue
            src += [
                f"    v = cells[{self.money[k][0]}]",
                "    if v:",
                "        d = v.find('.')",
                f"        n{k} = int(v.replace('.', '')) * POW[len(v) - d] if d >= 0 else int(v) * {10**10}",
                "    else:",
                f"        n{k} = None",
            ]
        if self.billed_k is None:
            src += ["    return slow(cells)"]
        else:
            src += [f"    billed = n{self.billed_k}", "    if billed is None:", "        return slow(cells)"]
        for j, (i, _, _) in enumerate(self.quantities):
            src += [f"    q{j} = cells[{i}]"]
        for j, (i, _, _) in enumerate(self.dates):
            src += [
                f"    v = cells[{i}]",
                "    if v:",
                f"        t{j} = dates(v)",
                f"        if t{j} is None:",
                "            return slow(cells)",
                "    else:",
                f"        t{j} = None",
            ]
        src += [
            "    out = template.copy()",
            "    out[2] = line",
            "    out[3] = blake2b(joined.encode(), digest_size=16).hexdigest()",
            "    cells.append('')",
            "    texts = string_cells(cells)",
            "    if any(map(gt, map(len, texts), STRING_LIMITS)):",  # too long for its column: named there
            "        return slow(cells)",
            f"    out[{STRINGS_START}:{STRINGS_END}] = texts",
        ]
        for i, slot, _ in self.money:
            src += [f"    v = cells[{i}]", "    if v:", f"        out[{slot}] = v"]
        for j, (_, slot, _) in enumerate(self.quantities):
            src += [f"    if q{j}:", f"        out[{slot}] = q{j}"]
        for j, (_, slot, _) in enumerate(self.dates):
            src += [f"    out[{slot}] = t{j}"]
        if self.tags_index is not None:
            src += [f"    tags_json = cells[{self.tags_index}]"]
        else:
            src += ["    tags_json = ''"]
        src += [
            "    values = tag_cache.get(tags_json)",
            "    if values is None:",
            "        values = tag_values(tags_json, line)",
            "    if tags_json:",
            f"        out[{TAGS_SLOT}] = tags_json",
        ]
        if self.extra or self.extensions:
            src += ["    extras(cells, out)"]
        src += [
            f"    start = out[{PERIOD_START_SLOT}]",
            "    row_month = start[:7] if start else 'unknown'",
            f"    currency = out[{CURRENCY_SLOT}]",
            "    if not currency:",
            f"        currency = out[{CURRENCY_SLOT}] = expected",
            f"    bits = {PERIOD_BIT} if row_month != month else 0",
            "    if currency.upper() != expected:",
            f"        bits |= {CURRENCY_BIT}",
            f"    if billed < 0 or out[{CATEGORY_SLOT}].lower() == 'credit':",
            f"        bits |= {NEGATIVE_BIT}",
        ]
        if self.row_patterns:
            src += ["    bits |= pattern_bits(out, tags_json)"]
        if self.list_k is not None:
            src += [f"    listed = n{self.list_k}", "    if listed is None:", "        listed = billed"]
        else:
            src += ["    listed = billed"]
        if self.accounts is not None:  # an account mapping may attribute a row whose tags name no project
            src += [f"    key = (values, () if values[{PROJECT_VALUE}] else account_values(cells), bits)"]
        else:
            src += ["    key = (values, (), bits)"]
        src += [
            "    k = combo_index.get(key)",
            "    if k is None:",
            "        k = new_combo(key)",
            "    combo_rows[k] += 1",
            "    combo_billed[k] += billed",
            "    out[0] = ck_base + k",
            "    tally.rows += 1",
            "    tally.billed_units += billed",
            "    tally.list_units += listed",
            "    periods[row_month] += 1",
            "    currencies.add(currency)",
            "    return out",
        ]
        tally = self.tally
        scope: dict[str, Any] = {
            "csv_reader": self.reader.csv_reader, "lines_before": self.reader.lines_before,
            "slow": self.build_line, "numbers_ok": re.compile(pattern).fullmatch, "dates": self.date_cache.get,
            "POW": POW,
            "template": self.template, "blake2b": hashlib.blake2b, "fingerprint_cells": self.fingerprint_cells,
            "string_cells": self.string_cells, "gt": operator.gt, "STRING_LIMITS": STRING_LIMITS,
            "tag_cache": self.tag_cache, "tag_values": self._tag_values,
            "extras": self._extras, "expected": self.expected_currency, "month": self.month,
            "pattern_bits": self._pattern_bits, "combo_index": self.combo_index, "new_combo": self._new_combo,
            "combo_rows": tally.combo_rows, "combo_billed": tally.combo_billed, "ck_base": self.ck_base,
            "tally": tally, "periods": tally.periods, "currencies": tally.currencies,
            "account_values": self.accounts,
        }  # fmt: skip
        exec(compile("\n".join(src), f"<row builder for {self.reader.name}>", "exec"), scope)  # noqa: S102
        return scope["build"]

    def _new_combo(self, key: Combo) -> int:
        tally = self.tally
        k = self.combo_index[key] = len(tally.combos)
        tally.combos.append(key)
        tally.combo_rows.append(0)
        tally.combo_billed.append(0)
        return k

    def _extras(self, cells: list[str], out: list[Any]) -> None:
        if self.extra:
            found = {name: cells[i] for i, name in self.extra if cells[i] and cells[i] not in NULL_WORDS}
            if found:
                out[EXTRA_SLOT] = json.dumps(found)
        if self.extensions:
            found = {name: cells[i] for i, name in self.extensions if cells[i] and cells[i] not in NULL_WORDS}
            if found:
                out[EXTENSIONS_SLOT] = json.dumps(found)

    def _pattern_bits(self, out: list[Any], tags_json: str) -> int:
        bits = 0
        for bit, regex, targets in self.row_patterns:
            for target in targets:
                text = tags_json if target == "tags" else out[target]  # type: ignore[index]
                if text and regex.search(text):
                    bits |= 1 << bit
                    break
        return bits

    def build_line(self, cells: list[str]) -> list[Any]:
        """Any line, checked cell by cell (`build` sends the lines it does not handle here)."""
        line = self.reader.line
        for i, v in enumerate(cells):
            if "\x00" in v:
                raise self.reader.error(line, "contains a NUL character, which cannot be stored", self.names[i])
        out = self.template.copy()
        out[2] = line
        cells.append("")
        texts = self.string_cells(cells)
        if "NULL" in texts or "null" in texts:
            texts = tuple("" if v in NULL_WORDS else v for v in texts)
        for v, limit, name in zip(texts, STRING_LIMITS, self.string_names, strict=True):
            if len(v) > limit:
                raise self.reader.error(line, f"{len(v)} characters, more than the {limit} it holds", name)
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
            if self.sqlite and not -INT64_MAX <= n <= INT64_MAX:
                raise self.reader.error(
                    line, f"{v!r} exceeds the embedded database's range of +/-922,337,203.6854775807 "
                    "(use PostgreSQL for larger single amounts)", name,
                )  # fmt: skip
            out[slot] = units_text(n)
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
                if d.adjusted() >= QUANTITY_DIGITS:
                    raise self.reader.error(
                        line, f"{v!r} is too large (at most {QUANTITY_DIGITS} digits before the decimal point)", name
                    )
                if d.as_tuple().exponent < -10:  # type: ignore[operator]
                    kept = d.quantize(QUANTUM, rounding=ROUND_HALF_UP)
                    if kept != d:  # "1.000000000000" only had trailing zeros: nothing was rounded
                        self.tally.rounded_quantities += 1
                    d = kept
                out[slot] = format(d, "f")
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
        values = self.tag_cache.get(tags_json)
        if values is None:
            values = self._tag_values(tags_json, line)
        # A row whose tags name no project may be attributed by an account mapping: its account
        # values are part of its combination (`cells` has the "" appended that a missing column reads).
        accounts: tuple[str, ...] = ()
        if self.accounts is not None and not values[PROJECT_VALUE]:
            accounts = self.accounts(cells)
        if tags_json:
            out[TAGS_SLOT] = tags_json
        self._extras(cells, out)
        out[3] = hashlib.blake2b("\x1f".join(self.fingerprint_cells(cells)).encode(), digest_size=16).hexdigest()

        # The row's own flags (attribution flags come with its combination)
        start = out[PERIOD_START_SLOT]
        row_month = start[:7] if start else "unknown"
        currency = out[CURRENCY_SLOT]
        if not currency:
            currency = out[CURRENCY_SLOT] = self.expected_currency
        bits = 0
        if row_month != self.month:
            bits = PERIOD_BIT
        if currency.upper() != self.expected_currency:
            bits |= CURRENCY_BIT
        if billed < 0 or out[CATEGORY_SLOT].lower() == "credit":
            bits |= NEGATIVE_BIT
        if self.row_patterns:
            bits |= self._pattern_bits(out, tags_json)

        tally = self.tally
        key = (values, accounts, bits)
        k = self.combo_index.get(key)
        if k is None:
            k = self._new_combo(key)
        tally.combo_rows[k] += 1
        tally.combo_billed[k] += billed
        out[0] = self.ck_base + k
        tally.rows += 1
        tally.billed_units += billed
        listed = units[self.list_k] if self.list_k is not None else None
        tally.list_units += billed if listed is None else listed
        tally.periods[row_month] += 1
        tally.currencies.add(currency)
        return out

    def _tag_values(self, tags_json: str, line: int) -> tuple[str, ...]:
        tags: dict[str, Any] = {}
        if tags_json:
            try:
                tags = json.loads(tags_json, parse_constant=_not_json_number)
            except json.JSONDecodeError as exc:
                raise self.reader.error(
                    line, f"Tags are not valid JSON ({exc.msg} at character {exc.pos})", self.tags_name
                ) from None
            except ValueError as exc:
                raise self.reader.error(line, f"Tags are not valid JSON ({exc})", self.tags_name) from None
            if not isinstance(tags, dict):
                raise self.reader.error(line, 'Tags must be a JSON object like {"pi_email": "…"}', self.tags_name)
            if "\\u" in tags_json:  # an escape may stand for a NUL or half a surrogate pair
                problem = _unstorable(tags)
                if problem:
                    raise self.reader.error(line, f"Tags contain {problem}, which cannot be stored", self.tags_name)
        values = self.attributor.tag_values(tags)
        if too_long(values):
            field_name, value, limit = next(
                (f, v, n) for f, v, n in zip(TAG_FIELDS, values, TAG_LIMITS, strict=True) if len(v) > n
            )
            raise self.reader.error(
                line, f"the {field_name} value has {len(value)} characters, more than the {limit} it holds",
                self.tags_name,
            )  # fmt: skip
        if len(self.tag_cache) > 50_000:
            self.tag_cache.clear()
        self.tag_cache[tags_json] = values
        return values
