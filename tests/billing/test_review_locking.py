"""A review and a period close never interleave: one waits for the other (PostgreSQL).

Approve, reject and fix attribution lock the period row the way closing it does. A review that
starts while a close is under way waits for it and is then refused; a close that starts while a
review is under way waits until the decisions are in, so the statements generated after the close
bill every approved charge. Two threads, two database connections, on the PostgreSQL suite only
(SQLite serialises every write anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from billing.models import BillingPeriod, Charge
from billing.services.periods import period_close
from billing.services.review import charges_approve, charges_reattribute, charges_reject
from chargeback.audit import Actor
from chargeback.errors import BillingError
from statements.models import Statement
from tests.conftest import minimal_row

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ACTOR = Actor(label="test")
WAIT = 1.5  # seconds a blocked thread is given to show that it waits


@pytest.fixture
def credit(run, focus_files) -> Charge:
    """2025-01 of Alice's genomics project: 10.00 billed, and a credit of -3.00 flagged for review."""
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL suite: row locks between two connections")
    from billing.models import Source
    from tests.browser.conftest import reseed

    if not Source.objects.exists():
        reseed()
    rows = [minimal_row("10", resource="vm"), minimal_row("-3", resource="refund")]
    path = focus_files.write("aws-2025-01.csv", rows)
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    return Charge.objects.get(resource_id="refund", review_state="flagged")


def in_thread(work: Callable[[], Any], outcome: dict[str, Any], key: str) -> threading.Thread:
    def target() -> None:
        try:
            outcome[key] = work()
        except BillingError as exc:
            outcome[key] = exc
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


REVIEWS: dict[str, Callable[[Charge], Any]] = {
    "approve": lambda c: charges_approve(ids=[c.pk], actor=ACTOR),
    "approve the period": lambda c: charges_approve(month="2025-01", actor=ACTOR),
    "reject": lambda c: charges_reject(ids=[c.pk], actor=ACTOR),
    "fix attribution": lambda c: charges_reattribute(ids=[c.pk], actor=ACTOR, reason="x", fund_org="CHEM-77"),
}


@pytest.mark.parametrize("review", REVIEWS, ids=list(REVIEWS))
def test_a_review_started_while_the_period_closes_waits_for_the_close_and_is_refused(credit, review, monkeypatch):
    # The row lock is what is tested: the close goes ahead despite the flagged credit (which
    # readiness would name first), as a month closed before closing checked readiness did.
    monkeypatch.setattr("billing.services.periods.readiness_require", lambda *args, **kwargs: None)
    closing, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def close() -> BillingPeriod:
        with transaction.atomic():
            closed = period_close(month="2025-01", actor=ACTOR)
            closing.set()
            release.wait(30)  # the close's transaction is still open
            return closed

    closer = in_thread(close, outcome, "close")
    assert closing.wait(30)
    reviewer = in_thread(lambda: REVIEWS[review](credit), outcome, "review")
    reviewer.join(WAIT)
    waited = reviewer.is_alive()
    release.set()
    closer.join(30)
    reviewer.join(30)

    assert waited, "the review must wait for the close under way"
    assert isinstance(outcome["review"], BillingError)
    assert "period 2025-01 is closed" in str(outcome["review"])
    credit.refresh_from_db()
    assert (credit.review_state, credit.fund_org) == ("flagged", "BIO-2025-001")
    assert BillingPeriod.objects.get(period="2025-01").status == "closed"


def test_a_close_started_during_a_bulk_approval_waits_for_it_and_the_statements_bill_what_it_approved(credit, run):
    reviewing, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def approve() -> Any:
        with transaction.atomic():
            result = charges_approve(month="2025-01", actor=ACTOR)
            reviewing.set()
            release.wait(30)  # the approval's transaction is still open
            return result

    reviewer = in_thread(approve, outcome, "review")
    assert reviewing.wait(30)
    closer = in_thread(lambda: period_close(month="2025-01", actor=ACTOR), outcome, "close")
    closer.join(WAIT)
    waited = closer.is_alive()
    release.set()
    reviewer.join(30)
    closer.join(30)

    assert waited, "the close must wait for the approval under way"
    assert outcome["review"].charges == 1 and isinstance(outcome["close"], BillingPeriod)
    assert run("generate", "-p", "2025-01").code == 0
    statement = Statement.objects.get()
    assert statement.amount_due == Decimal("7.00")  # 10.00 and the approved credit of -3.00
    credit.refresh_from_db()
    assert credit.review_state == "approved"
