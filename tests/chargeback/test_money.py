"""Money is exact on SQLite and PostgreSQL, and rounded once, half-up, in one helper."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from billing.models import Charge
from billing.selectors import period_summaries
from chargeback.money import SQLITE_MAX, MoneyRangeError, MoneySum, allocate, round_cents, to_scaled
from tests.conftest import minimal_row

# 17 significant digits: a float cannot hold these.
SEVENTEEN = ["1234567.8912345678", "9876543.2109876543", "0.0000000001", "-4567890.1234567891"]


@pytest.mark.django_db
def test_seventeen_significant_digits_round_trip_and_sum_exactly(run, focus_files):
    path = focus_files.write("m.csv", [minimal_row(v) for v in SEVENTEEN])
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    stored = sorted(Charge.objects.values_list("billed_cost", flat=True))
    assert stored == sorted(Decimal(v) for v in SEVENTEEN)
    exact = sum((Decimal(v) for v in SEVENTEEN), Decimal(0))
    assert Charge.objects.aggregate(total=MoneySum("billed_cost"))["total"] == exact == Decimal("6543220.9787654331")
    assert Decimal(sum(float(v) for v in SEVENTEEN)) != exact  # what a float sum would have said
    assert period_summaries()[0]["imported_cost"] == exact  # the negative amount is flagged, so not billed yet


@pytest.mark.django_db
def test_amounts_filter_and_order_numerically(run, focus_files):
    path = focus_files.write("m.csv", [minimal_row(v) for v in ["10", "9.5", "-3", "100.25"]])
    run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    ordered = list(Charge.objects.order_by("billed_cost").values_list("billed_cost", flat=True))
    assert ordered == [Decimal("-3"), Decimal("9.5"), Decimal("10"), Decimal("100.25")]
    assert Charge.objects.filter(billed_cost__gte=Decimal("9.6")).count() == 2


@pytest.mark.django_db
def test_sums_past_the_64_bit_range_do_not_overflow(run, focus_files):
    # 30 x 900 million = 27 billion, i.e. 2.7e20 ten-billionths: past int64 on SQLite.
    big = "900000000.1234567891"
    path = focus_files.write("big.csv", [minimal_row(big) for _ in range(30)])
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    assert Charge.objects.aggregate(total=MoneySum("billed_cost"))["total"] == Decimal(big) * 30


@pytest.mark.django_db
def test_an_empty_sum_is_zero():
    assert Charge.objects.aggregate(total=MoneySum("billed_cost"))["total"] == Decimal(0)


def test_the_embedded_range_is_checked():
    assert to_scaled(SQLITE_MAX) == 2**63 - 1
    with pytest.raises(MoneyRangeError):
        to_scaled(SQLITE_MAX + Decimal("0.0000000001"))
    assert connection.vendor in {"sqlite", "postgresql"}


@pytest.mark.parametrize(
    "amount, cents",
    [("2.675", "2.68"), ("2.665", "2.67"), ("-2.675", "-2.68"), ("0.004999", "0.00"), ("0.005", "0.01")],
)
def test_rounding_is_half_up(amount, cents):
    assert round_cents(Decimal(amount)) == Decimal(cents)


def test_allocation_adds_up_exactly_by_largest_remainder():
    parts = [Decimal("0.333"), Decimal("0.333"), Decimal("0.334")]
    total = round_cents(sum(parts, Decimal(0)))
    shares = allocate(total, parts)
    assert shares == [Decimal("0.33"), Decimal("0.33"), Decimal("0.34")]
    assert sum(shares) == total == Decimal("1.00")
    three = [Decimal("10.005"), Decimal("20.005"), Decimal("30.005")]
    total = round_cents(sum(three, Decimal(0)))  # 60.015 -> 60.02
    shares = allocate(total, three)
    assert sum(shares) == total == Decimal("60.02")
    negative = [Decimal("-1.005"), Decimal("-2.005")]
    total = round_cents(sum(negative, Decimal(0)))
    assert sum(allocate(total, negative)) == total
