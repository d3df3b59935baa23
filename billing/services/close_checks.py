"""Checks a period must pass before it is closed, filled in by the apps built on billing.

Like `finalize_checks`: billing cannot know what the floors above it hold open (a PI's dispute on
the portal), so each app registers its check in its `AppConfig.ready()`; closing runs them all,
in registration order, and the first that raises a `DomainError` refuses the move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from billing.models import BillingPeriod

CloseCheck = Callable[["BillingPeriod"], None]

_checks: list[CloseCheck] = []


def register(check: CloseCheck) -> CloseCheck:
    """Add `check` (once) to the checks closing runs; returns it, so it also works as a decorator."""
    if check not in _checks:
        _checks.append(check)
    return check


def run_checks(period: BillingPeriod) -> None:
    """Run every registered check on `period`; each raises a `DomainError` naming what to do."""
    for check in list(_checks):
        check(period)


def registered() -> tuple[CloseCheck, ...]:
    return tuple(_checks)
