"""Readiness: what blocks the next step of a month, named before anything goes out.

`period_readiness` lists the *blockers* (closing, generating, sending, exporting the journal and
finalizing are refused while any remain) and the *warnings* (worth a look, never refused):

* blockers billing knows: flagged charges not yet decided; billed charges without a PI; billed
  charges whose fund/org fails the fund/org patterns; sources with billed charges but no credit
  fund/org or GL account; billed charges in another currency than the organization's, or in
  more than one;
* warnings: enabled sources with no import for the month; provisional data (rows without an
  InvoiceId, or a newest import not marked final); provider invoices that differ unexplained.

The floors above billing add their own through `register` in their `AppConfig.ready()`, the way
`billing.services.finalize_checks` works: journals registers the fund/orgs the journal format
will refuse. Each check is a read: a few grouped queries over the month's billed charges.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count

from billing.models import BillingPeriod, FundOrgPattern, ImportBatch, Source
from chargeback.errors import BillingError
from chargeback.models import Organization

from .data_status import data_status_warnings
from .figures import billed_charges, flagged_charges
from .funding import OUTSIDE_AWARD
from .reconciliation import reconciliation_warnings

BLOCKER, WARNING = "blocker", "warning"


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    count: int
    level: str = BLOCKER

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "count": self.count}


@dataclass
class Readiness:
    period: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def blockers(self) -> list[Problem]:
        return [p for p in self.problems if p.level == BLOCKER]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARNING]

    @property
    def ready(self) -> bool:
        return not self.blockers

    def as_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "blockers": [p.as_dict() for p in self.blockers],
            "warnings": [p.as_dict() for p in self.warnings],
        }


class NotReady(BillingError):
    """A step refused because the period has blockers; `readiness` lists them all."""

    def __init__(self, step: str, readiness: Readiness) -> None:
        self.readiness = readiness
        listed = "; ".join(p.message for p in readiness.blockers)
        # The admin shows this one; the command line's adds where to see the list again.
        self.web_message = f"Period {readiness.period} cannot {step} yet: {listed}."
        super().__init__(
            f"period {readiness.period} cannot {step} yet: {listed} "
            f"(see 'openchargeback periods check {readiness.period}')"
        )


ReadinessCheck = Callable[[BillingPeriod], Iterable[Problem]]
_checks: list[ReadinessCheck] = []


def register(check: ReadinessCheck) -> ReadinessCheck:
    """Add `check` (once) to what `period_readiness` runs; usable as a decorator."""
    if check not in _checks:
        _checks.append(check)
    return check


def period_readiness(period: BillingPeriod) -> Readiness:
    """Every blocker and warning of the period, billing's first, then those the apps above registered."""
    readiness = Readiness(period=period.period)
    for check in [*BUILT_IN, *_checks]:
        readiness.problems.extend(check(period))
    return readiness


def readiness_require(period: BillingPeriod, *, step: str, left_to_caller: Collection[str] = ()) -> Readiness:
    """The period's readiness, or `NotReady` naming every blocker of `step` ("be closed", …).

    `left_to_caller`: codes of blockers the step itself reports more precisely (the journal export
    checks its own format's patterns and accounts, naming the statements)."""
    readiness = period_readiness(period)
    readiness.problems = [p for p in readiness.problems if p.code not in left_to_caller]
    if not readiness.ready:
        raise NotReady(step, readiness)
    return readiness


def _charges(n: int) -> str:
    return f"{n} charge{'' if n == 1 else 's'}"


def _flagged(period: BillingPeriod) -> Iterable[Problem]:
    n = flagged_charges(period=period).count()
    if n:
        yield Problem(
            "flagged",
            f"{n} flagged {'charge' if n == 1 else 'charges'} not yet decided: approve or reject them",
            n,
        )


def _outside_award(period: BillingPeriod) -> Iterable[Problem]:
    """Of the flagged charges, those outside their fund's award: a reviewer approves (charged
    anyway, recorded), re-funds or rejects each."""
    n = flagged_charges(period=period).filter(flag_reasons__contains=f",{OUTSIDE_AWARD}:").count()
    if n:
        yield Problem(
            "outside_award",
            f"{_charges(n)} outside their fund's award period (among the flagged): approve, re-fund or reject them",
            n,
        )


def _provisional_data(period: BillingPeriod) -> Iterable[Problem]:
    for message in data_status_warnings(period):
        yield Problem("provisional_data", message, 1, WARNING)


def _unexplained_invoices(period: BillingPeriod) -> Iterable[Problem]:
    for message in reconciliation_warnings(period):
        yield Problem("unexplained_invoice", message, 1, WARNING)


def _no_pi(period: BillingPeriod) -> Iterable[Problem]:
    n = billed_charges(period=period).filter(pi__isnull=True).count()
    if n:
        yield Problem(
            "no_pi", f"{_charges(n)} to bill have no PI: fix their attribution or reject them", n
        )  # fmt: skip


def _fund_org_patterns(period: BillingPeriod) -> Iterable[Problem]:
    patterns = [re.compile(p, re.IGNORECASE) for p in FundOrgPattern.objects.filter(enabled=True).values_list(
        "pattern", flat=True)]  # fmt: skip
    if not patterns:
        return
    per_fund = billed_charges(period=period).values_list("fund_org").annotate(n=Count("id")).order_by("fund_org")
    bad = [(fund, n) for fund, n in per_fund if not any(p.match(fund) for p in patterns)]
    if bad:
        n = sum(count for _, count in bad)
        shown = ", ".join(repr(fund) for fund, _ in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        yield Problem(
            "fund_org_pattern",
            f"{_charges(n)} to bill have a fund/org that matches none of the fund/org patterns ({shown}): "
            "correct their attribution",
            n,
        )


def _source_credit(period: BillingPeriod) -> Iterable[Problem]:
    used = billed_charges(period=period).values_list("source_id").annotate(n=Count("id")).order_by()
    counts = dict(used)
    for source in Source.objects.filter(pk__in=list(counts)).order_by("name"):
        missing = [what for what, value in (("credit fund/org", source.credit_fund_org),
                                            ("GL account", source.gl_account)) if not value]  # fmt: skip
        if missing:
            yield Problem(
                "source_credit",
                f"source {source.name} has {_charges(counts[source.pk])} to bill but no {' or '.join(missing)}: "
                f"set it (admin → Sources)",
                counts[source.pk],
            )


def _currency(period: BillingPeriod) -> Iterable[Problem]:
    expected = Organization.current().expected_currency.upper()
    rows = billed_charges(period=period).values_list("billing_currency").annotate(n=Count("id")).order_by()
    other = {(c or expected).upper(): n for c, n in rows if (c or expected).upper() != expected}
    if other:
        n = sum(other.values())
        yield Problem(
            "currency",
            f"{_charges(n)} to bill are in {', '.join(sorted(other))}, not {expected}: a month is billed in "
            "one currency; reject or correct them",
            n,
        )


def _missing_imports(period: BillingPeriod) -> Iterable[Problem]:
    imported = ImportBatch.objects.filter(period=period, status=ImportBatch.Status.APPLIED).values("source_id")
    missing = list(Source.objects.filter(enabled=True).exclude(pk__in=imported).order_by("name"))
    if missing:
        yield Problem(
            "missing_import",
            f"no import this month from {', '.join(s.name for s in missing)} (enabled sources)",
            len(missing),
            WARNING,
        )


BUILT_IN: list[ReadinessCheck] = [
    _flagged,
    _outside_award,
    _no_pi,
    _fund_org_patterns,
    _source_credit,
    _currency,
    _missing_imports,
    _provisional_data,
    _unexplained_invoices,
]

__all__ = ["NotReady", "Problem", "Readiness", "period_readiness", "readiness_require", "register"]
