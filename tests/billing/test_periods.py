"""`openchargeback periods`: the lifecycle open → closed → finalized, with its history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import BillingPeriod, Charge, PeriodTransition
from chargeback.models import AuditEvent
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db


def test_list_shows_status_charges_totals_and_flags_per_period(run, focus_files):
    path = focus_files.write("a.csv", [minimal_row("10.005", listed="12"), minimal_row("2.5", tag_json=tags(pi=None))])
    run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    run("periods", "open", "2025-02")
    rows = run("periods", "list", "--format", "json").json()
    zero = "0.0000000000"
    assert rows == [
        {"period": "2025-02", "status": "open", "charges": 0, "billed_cost": zero,
         "list_cost": zero, "flagged_charges": 0, "flagged_cost": zero, "rejected_charges": 0,
         "rejected_cost": zero, "imported_charges": 0, "imported_cost": zero, "currencies": []},
        {"period": "2025-01", "status": "open", "charges": 1, "billed_cost": "10.0050000000",
         "list_cost": "12.0000000000", "flagged_charges": 1, "flagged_cost": "2.5000000000",
         "rejected_charges": 0, "rejected_cost": zero, "imported_charges": 2, "imported_cost": "12.5050000000",
         "currencies": ["USD"]},
    ]  # fmt: skip
    text = run("periods", "list").out
    assert "2025-01  open" in text and "10.01" in text


def test_a_period_moves_open_closed_open_closed_finalized_and_every_move_is_recorded(run):
    assert run("periods", "open", "2025-01").out.strip() == "period 2025-01 is open"
    assert run("periods", "close", "2025-01", "--notes", "all in").code == 0
    assert run("periods", "reopen", "2025-01", "--reason", "late HPC file").code == 0
    assert run("periods", "close", "2025-01").code == 0
    assert run("periods", "finalize", "2025-01").out.strip() == "period 2025-01 is finalized"
    moves = list(PeriodTransition.objects.values_list("from_status", "to_status", "reason", "actor"))
    assert [(a, b, r) for a, b, r, _ in moves] == [
        ("", "open", ""), ("open", "closed", "all in"), ("closed", "open", "late HPC file"),
        ("open", "closed", ""), ("closed", "finalized", ""),
    ]  # fmt: skip
    assert all(actor.startswith("cli:") for *_, actor in moves)
    assert AuditEvent.objects.filter(action__startswith="period.").count() == 5
    assert BillingPeriod.objects.get().finalized_at is not None


@pytest.mark.parametrize(
    "steps, command, message",
    [
        ([], ["finalize", "2025-01"], "period 2025-01 is open; it cannot move to finalized"),
        ([], ["reopen", "2025-01", "--reason", "x"], "period 2025-01 is already open"),
        (["close"], ["reopen", "2025-01", "--reason", "  "], "reopening period 2025-01 needs a reason"),
        (["close", "finalize"], ["reopen", "2025-01", "--reason", "oops"],
         "period 2025-01 is finalized; finalized periods are permanent"),
        ([], ["close", "2025-13"], "'2025-13' is not a billing period (use YYYY-MM)"),
        ([], ["close", "2031-01"], "period 2031-01 does not exist"),
    ],
)  # fmt: skip
def test_illegal_moves_are_refused_with_a_reason(run, steps, command, message):
    run("periods", "open", "2025-01")
    for step in steps:
        assert run("periods", step, "2025-01").code == 0
    result = run("periods", *command)
    assert result.code == 1
    assert result.err == message


def test_closing_is_refused_while_flagged_charges_remain_and_names_them(run, focus_files):
    path = focus_files.write("a.csv", [minimal_row("1", tag_json=tags(pi=None))])
    run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    result = run("periods", "close", "2025-01")
    assert (result.code, result.err) == (1, (
        "period 2025-01 cannot be closed yet: 1 flagged charge not yet decided: approve or reject them "
        "(see 'openchargeback periods check 2025-01')"
    ))  # fmt: skip
    assert BillingPeriod.objects.get().status == "open"
    assert Charge.objects.get().billed_cost == Decimal("1")
    # A month closed before closing checked readiness moves forward only once decided.
    BillingPeriod.objects.update(status="closed")
    result = run("periods", "finalize", "2025-01")
    assert result.code == 1 and "cannot be finalized yet: 1 flagged charge not yet decided" in result.err
