"""Money is exact on SQLite and PostgreSQL, and rounded once, half-up, in one helper."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from billing.models import Charge, Rate
from billing.selectors import period_summaries
from chargeback.money import SQLITE_MAX, MoneyRangeError, MoneySum, allocate, round_cents, to_scaled
from statements.models import Statement
from tests.billing.test_convert_slurm import HEADER as SACCT_HEADER
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


@pytest.mark.django_db
def test_half_cent_ties_go_to_the_earlier_line_whatever_the_cent_is_odd_or_even(run, focus_files):
    """Compute bills 0.005 and Storage 0.015: 0.020, amount due 0.02.

    Cut to cents: 0.00 and 0.01 (0.01); the missing cent goes to the larger remainder, and the two
    remainders are equal (0.005 each), so to the earlier line (Compute): 0.01 and 0.01.
    Rounding each to the nearest even cent instead would give 0.00 and 0.02, which also add up to 0.02
    but bill Storage a cent more than Compute for a tie.
    """
    rows = [
        minimal_row("0.005", resource="vm-1", service="Compute"),
        minimal_row("0.015", resource="b-1", service="Storage"),
    ]
    assert run("ingest", str(focus_files.write("m.csv", rows)), "-s", "aws", "-p", "2025-01").code == 0
    assert run("periods", "close", "2025-01").code == 0
    result = run("generate", "-p", "2025-01")
    assert result.code == 0, result.err

    st = Statement.objects.get()
    lines = [(ln.service_name, ln.amount, ln.list_amount) for ln in st.lines.all()]
    assert lines == [("Compute", Decimal("0.01"), Decimal("0.01")), ("Storage", Decimal("0.01"), Decimal("0.01"))]
    assert (st.amount_due, st.list_total) == (Decimal("0.02"), Decimal("0.02"))


@pytest.mark.django_db
def test_the_most_negative_amount_the_embedded_database_holds_is_stored(run, focus_files):
    """-922,337,203.6854775807 is -(2^63 - 1) ten-billionths, the lowest a 64-bit integer holds
    symmetrically with the highest; a credit of exactly that much is imported, read back unchanged and
    found by its amount (the amount compared with goes through the same conversion as one saved)."""
    lowest = "-922337203.6854775807"
    assert Decimal(lowest) == -SQLITE_MAX
    result = run("ingest", str(focus_files.write("m.csv", [minimal_row(lowest)])), "-s", "aws", "-p", "2025-01")
    assert result.code == 0, result.err
    assert Charge.objects.get().billed_cost == Decimal(lowest)
    assert Charge.objects.filter(billed_cost=Decimal(lowest)).count() == 1


@pytest.mark.django_db
def test_an_amount_past_ten_places_is_kept_rounded_half_up(run, focus_files, tmp_path):
    """A Slurm partition priced 0.0123456789 per SU; a job of 30 minutes at billing=1 is 0.5 SU.

    0.5 x 0.0123456789 = 0.00617283945, eleven places; kept to ten, half-up: 0.0061728395
    (half-even would keep 0.0061728394). No subsidy applies, so that is also what is billed.
    """
    Rate.objects.create(name="fine-su", kind="slurm", applies_to="fine", unit="SU", price=Decimal("0.0123456789"),
                        multiplier=Decimal(1), effective_from=date(2024, 7, 1))  # fmt: skip
    jobs = focus_files.raw("sacct.txt", SACCT_HEADER + (
        "5001|sol|chen-lab|achen|fine|normal|2025-01-10T08:00:00|2025-01-10T08:30:00|1800|COMPLETED|1|billing=1\n"
    ))  # fmt: skip
    out = tmp_path / "jan.csv"
    result = run("convert", "slurm", str(jobs), "-p", "2025-01", "-o", str(out), "--format", "json")
    assert result.code == 0, result.err

    with out.open(newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert Decimal(row["PricingQuantity"]) == Decimal("0.5")
    assert Decimal(row["ListCost"]) == Decimal(row["BilledCost"]) == Decimal("0.0061728395")
    assert Decimal(result.json()["billed_total"]) == Decimal("0.0061728395")
