"""Reconciling a month with the provider's bill: invoices, the three-way match, explanations.

The provider file has two invoices: INV-A (rows 100.00 + 50.00 = 150.00) and INV-B (rows
200.00 + 25.50 = 225.50), and one row with no InvoiceId yet (12.34). The provider's totals are
150.00 (matching) and 226.73: INV-B is off by 1.23.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from billing.models import ImportBatch, ProviderInvoice, Source
from chargeback.models import AuditEvent
from tests.conftest import FocusFiles, Result, tags

pytestmark = pytest.mark.django_db

MONTH = "2025-03"
HEADER = [
    "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "BillingAccountId",
    "InvoiceIssuerName", "InvoiceId", "BillingCurrency", "ChargeCategory", "ChargeClass", "ListCost",
    "BilledCost", "EffectiveCost", "ResourceId", "ServiceName", "Tags",
]  # fmt: skip


def row(invoice: str, billed: str, resource: str, *, start: str = "2025-03-01", cls: str = "") -> list[str]:
    return [
        "2025-03-01", "2025-04-01", start, "2025-04-01", "111122223333", "Amazon Web Services, Inc.", invoice,
        "USD", "Usage", cls, billed, billed, billed, resource, "Amazon EC2", tags(),
    ]  # fmt: skip


PROVIDER_ROWS = [
    row("INV-A", "100.00", "i-1"),
    row("INV-A", "50.00", "i-2"),
    row("INV-B", "200.00", "i-3"),
    row("INV-B", "25.50", "i-4"),
]


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


@pytest.fixture
def imported(run: Callable[..., Result], focus_files: FocusFiles) -> None:
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD-AWS", gl_account="54100")
    path = focus_files.write("aws-2025-03.csv", PROVIDER_ROWS, HEADER)
    ok(run("ingest", str(path), "-s", "aws", "-p", MONTH, "--final"))
    ok(run("invoices", "record", "aws", "INV-A", "--month", MONTH, "--total", "150.00"))
    ok(run("invoices", "record", "aws", "INV-B", "--month", MONTH, "--total", "226.73", "--currency", "usd"))


def test_reconcile_names_the_invoice_that_differs_and_by_how_much(run, imported):
    data = ok(run("reconcile", MONTH, "--format", "json")).json()

    assert set(data) >= {"month", "invoices", "unassigned_rows", "imported", "billed", "rejected", "flagged",
                         "rounding", "unexplained"}  # fmt: skip
    by_id = {i["invoice_id"]: i for i in data["invoices"]}
    assert set(by_id["INV-A"]) >= {"source", "invoice_id", "provider_total", "imported", "delta", "explanation"}
    assert Decimal(by_id["INV-A"]["delta"]) == 0
    assert (Decimal(by_id["INV-B"]["provider_total"]), Decimal(by_id["INV-B"]["imported"])) == (
        Decimal("226.73"), Decimal("225.50"),
    )  # fmt: skip
    assert Decimal(by_id["INV-B"]["delta"]) == Decimal("1.23")
    assert Decimal(data["unexplained"]) == Decimal("1.23")
    assert Decimal(data["imported"]) == Decimal("375.50") == Decimal(data["billed"])
    assert data["unassigned_rows"] == 0

    text = ok(run("reconcile", MONTH)).out
    assert "INV-B" in text and "1.23 USD" in text and "UNEXPLAINED" in text


def test_finalize_refuses_an_unexplained_difference_until_it_is_explained_and_audited(
    run, imported, django_capture_on_commit_callbacks: Any
):
    ok(run("periods", "close", MONTH))
    with django_capture_on_commit_callbacks(execute=True):
        ok(run("generate", "-p", MONTH))
    ok(run("export-journal", "-p", MONTH))

    refused = run("periods", "finalize", MONTH)
    assert refused.code == 1
    assert "aws invoice INV-B differs by 1.23 USD" in refused.err and "\n" not in refused.err.strip()

    ok(run("reconcile", "explain", MONTH, "--invoice", "INV-B", "--note", "support credit on the next invoice"))
    data = ok(run("reconcile", MONTH, "--format", "json")).json()
    assert Decimal(data["unexplained"]) == 0
    assert {i["invoice_id"]: i["explanation"] for i in data["invoices"]}[
        "INV-B"
    ] == "support credit on the next invoice"
    assert Decimal(data["billed"]) == Decimal("375.50") and Decimal(data["rounding"]) == 0

    ok(run("periods", "finalize", MONTH))
    event = AuditEvent.objects.get(action="providerinvoice.explain")
    assert event.period == MONTH and event.after["explanation"] == "support credit on the next invoice"
    assert event.actor.startswith("cli:")
    assert AuditEvent.objects.filter(action="providerinvoice.record").count() == 2


def test_rows_without_an_invoice_id_are_counted_and_make_the_month_provisional(run, focus_files):
    rows = [*PROVIDER_ROWS, row("", "12.34", "i-5")]
    ok(run("ingest", str(focus_files.write("aws-2025-03.csv", rows, HEADER)), "-s", "aws", "-p", MONTH))

    data = ok(run("reconcile", MONTH, "--format", "json")).json()
    assert data["unassigned_rows"] == 1
    assert Decimal(data["imported"]) == Decimal("387.84")
    # Rows carry INV-A and INV-B, but no invoice is recorded: each is listed, not recorded.
    assert [(i["invoice_id"], i["provider_total"]) for i in data["invoices"]] == [("INV-A", None), ("INV-B", None)]

    from billing.selectors.data_status import data_status_warnings

    period = ImportBatch.objects.get().period
    [warning] = data_status_warnings(period)
    assert "aws 2025-03 is provisional data" in warning
    assert "1 of 5 rows have no InvoiceId" in warning and "is not marked final" in warning


def test_an_import_marked_final_in_the_admin_makes_the_month_final_and_is_audited(run, focus_files, admin_client):
    ok(run("ingest", str(focus_files.write("aws-2025-03.csv", PROVIDER_ROWS, HEADER)), "-s", "aws", "-p", MONTH))
    batch = ImportBatch.objects.get()
    page = admin_client.get(f"/admin/billing/billingperiod/{batch.period_id}/change/").content.decode()
    assert "provisional" in page and "is not marked final" in page

    admin_client.post("/admin/billing/importbatch/", {"action": "mark_final", "_selected_action": [batch.pk]})

    batch.refresh_from_db()
    assert batch.final
    assert AuditEvent.objects.filter(action="batch.final", object_id=str(batch.pk)).exists()
    page = admin_client.get(f"/admin/billing/billingperiod/{batch.period_id}/change/").content.decode()
    assert "is not marked final" not in page and "<strong>final</strong>" in page


def test_the_period_page_shows_the_reconciliation(run, imported, admin_client):
    period_id = ImportBatch.objects.get().period_id

    page = admin_client.get(f"/admin/billing/billingperiod/{period_id}/change/").content.decode()

    assert 'id="reconciliation"' in page
    assert "INV-B" in page and "1.23 USD" in page and "unexplained" in page


def test_invoices_import_from_a_file_and_bad_rows_change_nothing(run, focus_files, tmp_path):
    ok(run("ingest", str(focus_files.write("aws-2025-03.csv", PROVIDER_ROWS, HEADER)), "-s", "aws", "-p", MONTH))
    good = tmp_path / "invoices.csv"
    good.write_text(
        "source,invoice_id,month,currency,total,issuer,billing_account\n"
        "aws,INV-A,2025-03,USD,150.00,Amazon Web Services,111122223333\n"
        "aws,INV-B,2025-03,USD,226.73,,\n"
    )
    assert ok(run("data", "import", "invoices", str(good), "--format", "json")).json()["created"] == 2
    assert ProviderInvoice.objects.get(invoice_id="INV-A").issuer == "Amazon Web Services"
    assert ProviderInvoice.objects.get(invoice_id="INV-B").total == Decimal("226.73")

    bad = tmp_path / "bad.csv"
    bad.write_text("source,invoice_id,month,currency,total\naws,INV-C,2025-03,USD,1.00\nnope,INV-D,2025-03,USD,2\n")
    refused = run("data", "import", "invoices", str(bad))
    assert refused.code == 1 and "row 3" in refused.err and "no source 'nope'" in refused.err
    assert not ProviderInvoice.objects.filter(invoice_id="INV-C").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("invoices", "record", "nope", "X", "--month", MONTH, "--total", "1"), "unknown source 'nope'"),
        (("invoices", "record", "aws", "X", "--month", MONTH, "--total", "a lot"), "is not an amount"),
        (("invoices", "record", "aws", "X", "--month", "2025-13", "--total", "1"), "not a billing period"),
        (("invoices", "record", "aws", "X", "--month", "2024-01", "--total", "1"), "period 2024-01 does not exist"),
        (("reconcile", "explain", MONTH, "--invoice", "NOPE", "--note", "x"), "no invoice 'NOPE' recorded"),
        (("reconcile", "explain", MONTH, "--note", "x"), "needs --invoice ID and --note TEXT"),
    ],
)
def test_bad_input_is_refused_with_one_line(run, imported, args, message):
    result = run(*args)

    assert result.code == 1
    assert message in result.err and "\n" not in result.err.strip()
    assert ProviderInvoice.objects.count() == 2


def test_the_dashboard_shows_each_source_months_data_status(run, focus_files, admin_client):
    ok(run("ingest", str(focus_files.write("aws-2025-03.csv", PROVIDER_ROWS, HEADER)), "-s", "aws", "-p", MONTH))

    page = admin_client.get("/admin/").content.decode()
    batch = ImportBatch.objects.get()
    assert f'title="import batch {batch.pk} is not marked final">provisional</span>' in page

    ok(run("ingest", str(focus_files.write("aws-2025-03.csv", PROVIDER_ROWS, HEADER)), "-s", "aws", "-p", MONTH,
           "--final"))  # fmt: skip
    page = admin_client.get("/admin/").content.decode()
    assert 'title="">final</span>' in page


def test_periods_check_warns_of_the_unexplained_invoice_until_it_is_explained(run, imported):
    def warnings() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for w in run("periods", "check", MONTH, "--format", "json").json()["warnings"]:
            found.setdefault(w["code"], []).append(w["message"])
        return found

    before = warnings()
    assert before["unexplained_invoice"] == [
        "aws invoice INV-B differs from its imported rows by 1.23 USD, unexplained"
    ]
    ok(run("reconcile", "explain", MONTH, "--invoice", "INV-B", "--note", "credit"))
    assert "unexplained_invoice" not in warnings()
