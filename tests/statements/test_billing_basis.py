"""Billing basis per source, and corrections linked to the month they correct.

A provider month with a one-year reservation bought upfront (Purchase, BilledCost 8760.00,
EffectiveCost 0 by the FOCUS rules), usage it covers (BilledCost 0, EffectiveCost 6.00 and
4.50, list 10.00 and 7.50), on-demand usage (3.00 both ways) and the reservation's unused hours
(BilledCost 0, EffectiveCost 1.11). Billed on the effective basis, the statements bill
Σ EffectiveCost = 6.00 + 4.50 + 3.00 + 1.11 = 14.61, the purchase is on no statement, and the
reconciliation shows invoiced − amortized = 8763.00 − 14.61 = 8748.39 as commitment timing.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from billing.models import Source
from statements.models import Statement, StatementLine
from tests.conftest import FocusFiles, Result, tags

from .conftest import pdf_text

pytestmark = pytest.mark.django_db

MONTH = "2025-03"
ALICE, BOB = "alice@example.edu", "bob@example.edu"
HEADER = [
    "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "InvoiceId",
    "BillingCurrency", "ChargeCategory", "ChargeClass", "ListCost", "BilledCost", "EffectiveCost", "ResourceId",
    "ServiceName", "Tags",
]  # fmt: skip
CENTRAL = tags(ALICE, "genomics", "BIO-2025-001")


def row(category: str, listed: str, billed: str, effective: str, resource: str, tag_json: str, *,
        start: str = "2025-03-01", cls: str = "") -> list[str]:  # fmt: skip
    return ["2025-03-01", "2025-04-01", start, "2025-04-01", "INV-1", "USD", category, cls, listed, billed,
            effective, resource, "Amazon EC2", tag_json]  # fmt: skip


ROWS = [
    row("Purchase", "8760.00", "8760.00", "0", "ri-1", CENTRAL),
    row("Usage", "10.00", "0", "6.00", "i-alice", tags(ALICE, "genomics", "BIO-2025-001")),
    row("Usage", "7.50", "0", "4.50", "i-bob", tags(BOB, "astro", "PHYS-9")),
    row("Usage", "3.00", "3.00", "3.00", "i-bob-2", tags(BOB, "astro", "PHYS-9")),
    row("Usage", "1.11", "0", "1.11", "ri-1-unused", CENTRAL),
]


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


@pytest.fixture
def month(run: Callable[..., Result], focus_files: FocusFiles, django_capture_on_commit_callbacks: Any) -> None:
    ok(run("sources", "set", "aws", "--billing-basis", "effective", "--credit-fund-org", "RC-AWS", "--gl-account", "1"))
    ok(run("ingest", str(focus_files.write("aws.csv", ROWS, HEADER)), "-s", "aws", "-p", MONTH, "--final"))
    ok(run("invoices", "record", "aws", "INV-1", "--month", MONTH, "--total", "8763.00"))
    ok(run("periods", "close", MONTH))
    with django_capture_on_commit_callbacks(execute=True):
        ok(run("generate", "-p", MONTH))


def test_effective_basis_bills_the_amortized_cost_without_the_purchase(run, month):
    statements = ok(run("statements", "list", "-p", MONTH, "--format", "json")).json()

    assert sum((Decimal(s["amount_due"]) for s in statements), Decimal(0)) == Decimal("14.61")
    by_pi = {s["pi_email"]: Decimal(s["amount_due"]) for s in statements}
    assert by_pi == {ALICE: Decimal("7.11"), BOB: Decimal("7.50")}
    assert not StatementLine.objects.filter(kind=StatementLine.Kind.PURCHASE).exists()
    assert sum(s["charges"] for s in statements) == 4  # the purchase is on no statement
    lines = StatementLine.objects.filter(statement__pi__email=BOB)
    assert all(ln.amortized for ln in lines)
    assert sum((ln.list_amount - ln.amount for ln in lines), Decimal(0)) == Decimal("3.00")  # 7.50 list, 4.50 billed

    journal = ok(run("export-journal", "-p", MONTH, "--format", "json")).json()
    assert Decimal(journal["debit_total"]) == Decimal(journal["credit_total"]) == Decimal("14.61")
    [row] = ok(run("periods", "list", "--format", "json")).json()
    assert Decimal(row["billed_cost"]) == Decimal("14.61")


def test_the_reconciliation_shows_the_commitment_timing_as_its_own_line(run, month):
    data = ok(run("reconcile", MONTH, "--format", "json")).json()

    assert Decimal(data["imported"]) == Decimal("8763.00")
    assert Decimal(data["billed"]) == Decimal("14.61")
    assert Decimal(data["commitment_timing"]) == Decimal("8748.39")
    assert Decimal(data["unexplained"]) == 0
    assert "commitment timing" in ok(run("reconcile", MONTH)).out


def test_a_statement_billed_at_amortized_cost_says_so(run, month, admin_client):
    st = Statement.objects.get(pi__email=BOB)

    assert "Amortized cost" in pdf_text(st.pdf.read())
    page = admin_client.get(f"/admin/statements/statement/{st.pk}/change/").content.decode()
    assert "Amortized cost" in page


def test_the_billed_basis_stays_the_default_and_bills_what_was_invoiced(
    run, focus_files, django_capture_on_commit_callbacks
):
    assert Source.objects.get(name="aws").billing_basis == "billed"
    ok(run("ingest", str(focus_files.write("aws.csv", ROWS, HEADER)), "-s", "aws", "-p", MONTH))
    ok(run("periods", "close", MONTH))
    with django_capture_on_commit_callbacks(execute=True):
        ok(run("generate", "-p", MONTH))

    statements = ok(run("statements", "list", "-p", MONTH, "--format", "json")).json()
    assert sum((Decimal(s["amount_due"]) for s in statements), Decimal(0)) == Decimal("8763.00")
    assert Decimal(ok(run("reconcile", MONTH, "--format", "json")).json()["commitment_timing"]) == 0


def test_a_correction_stays_its_own_line_linked_to_the_month_it_corrects(
    run, focus_files, django_capture_on_commit_callbacks
):
    rows = [
        row("Usage", "3.00", "3.00", "3.00", "i-bob-2", tags(BOB, "astro", "PHYS-9")),
        row("Usage", "-1.25", "-1.25", "-1.25", "i-bob-2", tags(BOB, "astro", "PHYS-9"), start="2025-01-10",
            cls="Correction"),
    ]  # fmt: skip
    ok(run("ingest", str(focus_files.write("aws.csv", rows, HEADER)), "-s", "aws", "-p", MONTH))
    ok(run("review", "approve", "-p", MONTH))  # a negative amount is held for review
    ok(run("periods", "close", MONTH))
    with django_capture_on_commit_callbacks(execute=True):
        ok(run("generate", "-p", MONTH))

    [st] = ok(run("statements", "list", "-p", MONTH, "--format", "json")).json()
    detail = ok(run("statements", "show", st["number"], "--format", "json")).json()
    kinds = {(ln["kind"], ln["corrects"], ln["amount"]) for ln in detail["lines"]}
    assert kinds == {("usage", "", "3.00"), ("correction", "2025-01", "-1.25")}
    assert "(corrects 2025-01)" in pdf_text(Statement.objects.get(number=st["number"]).pdf.read())
