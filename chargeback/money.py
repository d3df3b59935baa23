"""Exact money on every database, and the one place where amounts are rounded.

Django's DecimalField on SQLite goes through a float, so `1234567.8912345678` comes back changed
and `Sum()` is a float sum. `MoneyField` stores amounts exactly on both backends:

* PostgreSQL: `numeric(38, 10)`; `SUM()` is exact natively.
* SQLite: a 64-bit integer of 10^-10 units (scale 10), so comparisons and ordering work in SQL.
  A single amount may be up to +/-922,337,203.6854775807 there; `MoneySum` adds the whole units
  and the fractions in two separate integer sums, which neither loses digits nor overflows
  before 9.2 * 10^18 whole units.

`round_cents` is the single rounding helper (half-up); `allocate` spreads a rounded total over
lines by largest remainder so the lines add up exactly to it; `allocate_lines` gives statement
lines their amount and discount that way, with list = amount + discount.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

SCALE = 10
SCALE_FACTOR = 10**SCALE
QUANTUM = Decimal(1).scaleb(-SCALE)
CENT = Decimal("0.01")
INT64_MAX = 2**63 - 1
SQLITE_MAX = Decimal(INT64_MAX).scaleb(-SCALE)
ZERO = Decimal(0)


class MoneyRangeError(ValueError):
    """An amount does not fit the database's exact storage."""


def quantize(value: Decimal) -> Decimal:
    """The stored precision: 10 decimal places, half-up beyond that."""
    try:
        return value.quantize(QUANTUM, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise MoneyRangeError(f"{value} is too large to store") from None


def to_scaled(value: Decimal) -> int:
    """An amount as an integer count of 10^-10 units (the SQLite representation)."""
    scaled = int(quantize(value).scaleb(SCALE))
    if not -INT64_MAX <= scaled <= INT64_MAX:
        raise MoneyRangeError(f"{value} exceeds the embedded database's range of +/-{SQLITE_MAX}")
    return scaled


def from_scaled(value: int) -> Decimal:
    return Decimal(value).scaleb(-SCALE)


def round_cents(amount: Decimal) -> Decimal:
    """Round an amount to cents, half-up. The only rounding of money in the product."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def allocate(total: Decimal, parts: Sequence[Decimal]) -> list[Decimal]:
    """Round `parts` to cents so that they add up exactly to `total` (largest remainder).

    `total` must already be in cents. Each part is truncated to cents, then the missing
    cents go one by one to the parts with the largest remainders (ties: earliest part).
    """
    if not parts:
        return []
    floors = [p.quantize(CENT, rounding="ROUND_FLOOR") for p in parts]
    remainders = [p - f for p, f in zip(parts, floors, strict=True)]
    missing = int((total - sum(floors, ZERO)) / CENT)
    order = sorted(range(len(parts)), key=lambda i: (-remainders[i], i))
    result = list(floors)
    step = CENT if missing >= 0 else -CENT
    if missing < 0:
        order = list(reversed(order))
    for k in range(abs(missing)):
        result[order[k % len(order)]] += step
    return result


def allocate_lines(
    *, amount_due: Decimal, discount_total: Decimal, billed: Sequence[Decimal], listed: Sequence[Decimal]
) -> list[tuple[Decimal, Decimal]]:
    """Each line's (amount, discount) in cents, list being amount + discount.

    The amounts are allocated over the exact billed costs against `amount_due`, the discounts over
    the exact discounts (list - billed) against `discount_total`. Allocating the list prices on
    their own instead would let a line billed at list show a discount of a cent that does not exist.
    """
    amounts = allocate(amount_due, billed)
    discounts = allocate(discount_total, [lst - b for lst, b in zip(listed, billed, strict=True)])
    return list(zip(amounts, discounts, strict=True))


# Column types and conversions: every query goes through them, so a mutant there breaks every test;
# they are not where a figure is decided: `make mutate` leaves them alone.
# pragma: no mutate start
def is_sqlite(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor == "sqlite"


class MoneyField(models.Field):
    """An exact decimal amount with 10 decimal places (see the module docstring)."""

    description = "Exact amount (10 decimal places)"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "integer" if is_sqlite(connection) else "numeric(38, 10)"

    def rel_db_type(self, connection: BaseDatabaseWrapper) -> str:
        return self.db_type(connection)

    def get_internal_type(self) -> str:
        return "MoneyField"

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        try:
            return Decimal(str(value))
        except InvalidOperation:
            from django.core.exceptions import ValidationError

            raise ValidationError(f"{value!r} is not an amount") from None

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return self.to_python(value)

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        return to_scaled(value) if is_sqlite(connection) else quantize(value)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Decimal | None:
        if value is None:
            return None
        if is_sqlite(connection):
            return from_scaled(int(value))
        return Decimal(value)

    # pragma: no mutate end
    def formfield(self, **kwargs: Any) -> Any:  # pragma: no mutate block
        from django import forms

        defaults: dict[str, Any] = {"form_class": forms.DecimalField, "decimal_places": SCALE, "max_digits": 38}
        defaults.update(kwargs)
        return super().formfield(**defaults)


class _MoneySumOutput(MoneyField):
    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Decimal | None:
        if value is None:
            return ZERO.quantize(QUANTUM)
        if is_sqlite(connection):
            whole, _, frac = str(value).partition(":")
            return from_scaled(int(whole) * SCALE_FACTOR + int(frac))
        return Decimal(value)


class MoneySum(models.Aggregate):
    """An exact `SUM()` of a MoneyField on SQLite and PostgreSQL; 0 for an empty set."""

    function = "SUM"
    name = "MoneySum"
    allow_distinct = False

    def __init__(self, expression: Any, **extra: Any) -> None:  # pragma: no mutate block
        super().__init__(expression, output_field=_MoneySumOutput(), **extra)

    def as_sqlite(self, compiler: Any, connection: BaseDatabaseWrapper, **extra_context: Any) -> Any:
        # Whole units and the remainder summed apart: integer-exact, no int64 overflow.
        # (Subtraction instead of `%`, which would need escaping through the SQL layers.)
        if self.filter is not None:
            raise NotImplementedError("MoneySum does not take filter=; wrap the amount in Case/When")
        sql, params = compiler.compile(self.get_source_expressions()[0])
        whole = f"({sql}) / {SCALE_FACTOR}"
        frac = f"({sql}) - (({sql}) / {SCALE_FACTOR}) * {SCALE_FACTOR}"
        return (
            f"(CAST(SUM({whole}) AS TEXT) || ':' || CAST(SUM({frac}) AS TEXT))",
            (*params, *params, *params),
        )


class ExactDecimalField(MoneyField):  # pragma: no mutate block
    """An exact decimal that is stored, not computed on in SQL: totals and usage quantities.

    Stored as text on SQLite (exact and unbounded, e.g. a batch total of billions or a request
    count) and as `numeric(38, 10)` on PostgreSQL. Not for ordering or sums on SQLite.
    """

    description = "Exact decimal"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "text" if is_sqlite(connection) else "numeric(38, 10)"

    def get_internal_type(self) -> str:
        return "ExactDecimalField"

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        return str(value) if is_sqlite(connection) else quantize(value)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Decimal | None:
        return None if value is None else Decimal(value)
