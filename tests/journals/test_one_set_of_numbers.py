"""One figure, one meaning: the dashboard, `periods list`, `show`, the portal, the statements and
the journal agree on what a month bills (approved or never flagged, not rejected)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from billing.models import PI, Charge, Project, Source
from chargeback.formatting import money
from tests.conftest import Result, minimal_row, tags
from tests.portal.conftest import portal_user

pytestmark = pytest.mark.django_db

PERIOD = "2025-01"
ALICE, BOB = "alice@example.edu", "bob@example.edu"
HALF_CENT = Decimal("0.005")

ROWS = [
    # (billed, list, resource, tags)
    ("100.004", "120", "a-vm", tags(ALICE, "genomics", "BIO-2025-001")),
    ("50.3333333333", None, "a-disk", tags(ALICE, "genomics", "BIO-2025-001")),
    ("-10.005", None, "a-credit", tags(ALICE, "genomics", "BIO-2025-001")),  # flagged (credit), approved
    ("300.10", "400", "b-hpc", tags(BOB, "astro", "PHYS-2025-001")),
    ("-5.00", None, "b-credit", tags(BOB, "astro", "PHYS-2025-001")),  # flagged, left for review, then rejected
    ("20.25", None, "nobody", tags(None, "astro", "PHYS-2025-001")),  # flagged (no PI), rejected
]
ALICE_BILLED = Decimal("100.004") + Decimal("50.3333333333") - Decimal("10.005")
BOB_BILLED = Decimal("300.10")
BILLED = ALICE_BILLED + BOB_BILLED
IMPORTED = sum((Decimal(b) for b, *_ in ROWS), Decimal(0))


@pytest.fixture
def month(run: Callable[..., Result], focus_files: Any) -> None:
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD", gl_account="54100")
    rows = [minimal_row(b, listed=lst, resource=r, tag_json=t) for b, lst, r, t in ROWS]
    assert run("ingest", str(focus_files.write("aws-2025-01.csv", rows)), "-s", "aws").code == 0
    approve = Charge.objects.get(resource_id="a-credit")
    reject = Charge.objects.get(resource_id="nobody")
    assert run("review", "approve", "--id", str(approve.pk), "--note", "provider credit").code == 0
    assert run("review", "reject", "--id", str(reject.pk), "--note", "not ours").code == 0
    assert Charge.objects.get(resource_id="b-credit").review_state == Charge.ReviewState.FLAGGED


def dashboard_billed(client: Client) -> tuple[str, list[tuple[str, str]]]:
    d = client.get(f"/admin/?period={PERIOD}").context["dashboard"]
    [usd] = d["totals"]
    return usd["billed"], [(p["key"], p["billed"]) for p in d["top_pis"]]


def test_every_screen_bills_the_same_month(run, month, admin_client, django_capture_on_commit_callbacks):
    # While one charge is still held for review, nothing counts it as billed.
    assert dashboard_billed(admin_client) == (
        money(BILLED, "USD"), [(BOB, money(BOB_BILLED, "USD")), (ALICE, money(ALICE_BILLED, "USD"))]
    )  # fmt: skip
    [row] = run("periods", "list", "--format", "json").json()
    assert Decimal(row["billed_cost"]) == BILLED
    assert (Decimal(row["flagged_cost"]), Decimal(row["rejected_cost"])) == (Decimal("-5"), Decimal("20.25"))
    assert Decimal(row["imported_cost"]) == IMPORTED == BILLED + Decimal("-5") + Decimal("20.25")
    assert (row["charges"], row["flagged_charges"], row["rejected_charges"], row["imported_charges"]) == (4, 1, 1, 6)
    for pi, billed in ((ALICE, ALICE_BILLED), (BOB, BOB_BILLED)):
        shown = run("show", pi, "-p", PERIOD, "--format", "json").json()
        assert Decimal(shown["total_billed_cost"]) == billed, pi
    alice = portal_user(ALICE)
    PI.objects.filter(email=ALICE).update(user=alice)
    portal = Client()
    portal.force_login(alice)
    page = portal.get(f"/portal/projects/{Project.objects.get(code='genomics').pk}/").content.decode()
    assert f'<td class="num">{money(ALICE_BILLED, "USD")}</td>' in page
    preview = run("generate", "-p", PERIOD, "--dry-run", "--format", "json").json()
    assert abs(Decimal(preview["total_due"]["USD"]) - BILLED) <= HALF_CENT * preview["statements"]

    # Decided, closed, billed and journaled: the same figure everywhere, to the half-cent per statement.
    assert run("review", "reject", "--id", str(Charge.objects.get(resource_id="b-credit").pk)).code == 0
    assert run("periods", "close", PERIOD).code == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert run("generate", "-p", PERIOD).code == 0
    statements = run("statements", "list", "-p", PERIOD, "--format", "json").json()
    due = sum((Decimal(s["amount_due"]) for s in statements), Decimal(0))
    assert abs(due - BILLED) <= HALF_CENT * len(statements)
    by_pi = {s["pi_email"]: Decimal(s["amount_due"]) for s in statements}
    assert abs(by_pi[ALICE] - ALICE_BILLED) <= HALF_CENT and abs(by_pi[BOB] - BOB_BILLED) <= HALF_CENT
    journal = run("export-journal", "-p", PERIOD, "--format", "json")
    assert journal.code == 0, journal.err
    data = journal.json()
    assert Decimal(data["debit_total"]) == Decimal(data["credit_total"]) == due
    [row] = run("periods", "list", "--format", "json").json()
    assert Decimal(row["billed_cost"]) == BILLED and row["flagged_charges"] == 0
    assert Decimal(row["rejected_cost"]) == Decimal("15.25")
    assert dashboard_billed(admin_client)[0] == money(BILLED, "USD")
