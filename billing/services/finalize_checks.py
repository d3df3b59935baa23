"""Checks a period must pass before it is finalized, filled in by the apps built on billing.

Billing cannot know what the floors above it need (statements rendered and current, a journal
exported), so each of those apps registers its check in its `AppConfig.ready()`; finalizing runs
them all, in registration order, and the first that raises a `DomainError` refuses the move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from billing.models import BillingPeriod

FinalizeCheck = Callable[["BillingPeriod"], None]

_checks: list[FinalizeCheck] = []


def register(check: FinalizeCheck) -> FinalizeCheck:
    """Add `check` (once) to the checks finalizing runs; returns it, so it also works as a decorator."""
    if check not in _checks:
        _checks.append(check)
    return check


def run_checks(period: BillingPeriod) -> None:
    """Run every registered check on `period`; each raises a `DomainError` naming what to do."""
    for check in list(_checks):
        check(period)


def registered() -> tuple[FinalizeCheck, ...]:
    return tuple(_checks)
