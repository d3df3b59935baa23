"""`openchargeback review`: flagged charges are approved or rejected, with a record of each."""

from __future__ import annotations

import pytest

from billing.models import BillingPeriod, Charge, ReviewDecision
from chargeback.models import AuditEvent
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged_period(run, focus_files):
    path = focus_files.write("a.csv", [
        minimal_row("1"),
        minimal_row("20.25", resource="orphan", tag_json=tags(pi=None)),
        minimal_row("5", resource="nofund", tag_json=tags(project="p9", fund=None)),
    ])  # fmt: skip
    run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    return list(Charge.objects.filter(review_state="flagged").order_by("id"))


def test_list_shows_flagged_charges_with_reasons_and_a_total(run, flagged_period):
    data = run("review", "list", "-p", "2025-01", "--format", "json").json()
    assert data["count"] == 2
    assert data["total_billed_cost"] == "25.2500000000"
    assert [c["reasons"] for c in data["charges"]] == [["missing_pi"], ["missing_fund_org"]]
    assert "2 flagged charges, 25.25" in run("review", "list").out


def test_approving_by_id_records_a_decision_and_an_audit_row(run, flagged_period):
    orphan = flagged_period[0]
    result = run("review", "approve", "--id", str(orphan.pk), "--note", "lab manager confirmed")
    assert result.out.strip() == "approved 1 charges (20.25)"
    orphan.refresh_from_db()
    assert orphan.review_state == "approved"
    decision = ReviewDecision.objects.get(charge=orphan)
    assert (decision.decision, decision.state_before, decision.state_after, decision.note) == (
        "approve", "flagged", "approved", "lab manager confirmed",
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="charge.approve", object_id=str(orphan.pk)).exists()


def test_approving_a_period_approves_every_flagged_charge(run, flagged_period):
    result = run("review", "approve", "-p", "2025-01", "--format", "json").json()
    assert result["charges"] == 2 and result["billed_cost"] == "25.2500000000"
    assert not Charge.objects.filter(review_state="flagged").exists()
    assert Charge.objects.filter(review_state="ok").count() == 1


def test_rejecting_keeps_the_charge_but_marks_it_rejected(run, flagged_period):
    orphan = flagged_period[0]
    assert run("review", "reject", "--id", str(orphan.pk), "--note", "not ours").code == 0
    orphan.refresh_from_db()
    assert orphan.review_state == "rejected"
    assert Charge.objects.count() == 3


def test_an_unknown_id_or_a_closed_period_is_refused_and_changes_nothing(run, flagged_period):
    result = run("review", "approve", "--id", "999999")
    assert (result.code, result.err) == (1, "no such charge: 999999")
    # Closed while charges were flagged (a month closed before closing checked readiness).
    BillingPeriod.objects.filter(period="2025-01").update(status="closed")
    result = run("review", "approve", "-p", "2025-01")
    assert result.code == 1
    assert result.err == "period 2025-01 is closed; reopen it (with a reason) to change reviews"
    assert Charge.objects.filter(review_state="flagged").count() == 2
    assert not ReviewDecision.objects.exists()


def test_approving_an_already_approved_charge_is_skipped_not_doubled(run, flagged_period):
    orphan = flagged_period[0]
    run("review", "approve", "--id", str(orphan.pk))
    again = run("review", "approve", "--id", str(orphan.pk), "--format", "json").json()
    assert again["charges"] == 0 and again["skipped"] == [orphan.pk]
    assert ReviewDecision.objects.filter(charge=orphan).count() == 1


def test_a_finalized_period_says_its_reviews_can_no_longer_change(run, flagged_period):
    from billing.models import BillingPeriod

    run("review", "approve", "-p", "2025-01")
    run("periods", "close", "2025-01")
    # Finalizing needs statements (tests/statements); here only the finalized state matters.
    BillingPeriod.objects.filter(period="2025-01").update(status="finalized")
    result = run("review", "reject", "--id", str(flagged_period[0].pk))
    assert (result.code, result.err) == (1, "period 2025-01 is finalized; its reviews can no longer change")


def test_a_malformed_period_is_refused(run):
    assert run("review", "list", "-p", "2025-1").err == "'2025-1' is not a billing period (use YYYY-MM)"
    assert run("show", "a@example.edu", "-p", "25-01").err == "'25-01' is not a billing period (use YYYY-MM)"
