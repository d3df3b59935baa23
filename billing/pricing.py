"""Prices and subsidies for converted usage (Slurm, storage): reads and arithmetic, no writes.

`RateBook` holds the rates and subsidy rules in force for a source and period, read once.
`SubsidyLedger` spends the subsidies line by line in the order the usage happened, so a cap
runs out at the charge where it ran out; it starts from what earlier periods of the cap's window
already used. A fully subsidised line keeps its list cost: only its billed cost goes to zero.
Recording what a period used is a write, `billing.services.rates.subsidy_usage_record`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Q

from billing.ingest.reader import IngestError
from billing.models import Rate, Source, SubsidyRule, SubsidyUsage
from chargeback.money import ZERO, quantize

HUNDRED = Decimal(100)


def period_bounds(month: str) -> tuple[date, date]:
    """The first day of a period and the first day of the next (exclusive end)."""
    year, number = int(month[:4]), int(month[5:7])
    return date(year, number, 1), date(year + number // 12, number % 12 + 1, 1)


@dataclass(frozen=True)
class Applied:
    """One subsidy on one line."""

    code: str
    label: str
    amount: Decimal


class RateBook:
    """The rates of one kind (Slurm partitions, storage tiers) that overlap a period."""

    def __init__(self, *, kind: str, month: str) -> None:  # pragma: no mutate block
        start, end = period_bounds(month)
        self.month = month
        rates = Rate.objects.filter(kind=kind, effective_from__lt=end).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gte=start)
        )
        self.by_target: dict[str, list[Rate]] = defaultdict(list)
        for rate in rates.order_by("effective_from"):
            self.by_target[rate.applies_to.lower()].append(rate)

    def rate(self, target: str, day: date) -> Rate | None:
        for rate in self.by_target.get(target.lower(), ()):
            if rate.effective_from <= day and (rate.effective_to is None or day <= rate.effective_to):
                return rate
        return None

    def require(self, target: str, day: date, what: str, *, file: str, line: int, column: str) -> Rate:
        """The rate in force, or an error naming the input line that needs one."""
        rate = self.rate(target, day)
        if rate is None:
            raise IngestError(file, line, f"no rate for {what} {target!r} on {day}; add one under Rates in the admin",
                              column)  # fmt: skip
        return rate


@dataclass
class SubsidyLedger:
    """The subsidy rules of a source for a period, and their caps' balances as lines are priced."""

    source: Source
    month: str
    rules: list[SubsidyRule] = field(default_factory=list)
    used_before: dict[int, Decimal] = field(default_factory=dict)
    used_now: dict[int, Decimal] = field(default_factory=dict)

    @classmethod
    def load(cls, *, source: Source, month: str) -> SubsidyLedger:  # pragma: no mutate block
        start, end = period_bounds(month)
        rules = list(
            SubsidyRule.objects.filter(enabled=True, effective_from__lt=end)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=start))
            .filter(Q(source__isnull=True) | Q(source=source))
            .select_related("project", "pi")
            .order_by("priority", "code")
        )
        ledger = cls(source=source, month=month, rules=rules)
        for rule in rules:
            if rule.cap is None:
                continue
            # What the rest of the window used: other periods, and other sources this period.
            window = rule.window(month)
            others = SubsidyUsage.objects.filter(rule=rule, window=window).exclude(period=month, source=source)
            ledger.used_before[rule.pk] = sum((u.amount for u in others), ZERO)
        return ledger

    def remaining(self, rule: SubsidyRule) -> Decimal | None:
        if rule.cap is None:
            return None
        return max(ZERO, rule.cap - self.used_before.get(rule.pk, ZERO) - self.used_now.get(rule.pk, ZERO))

    def apply(
        self, *, list_cost: Decimal, day: date, service: str, partition: str, project: str | None, pi: str | None
    ) -> list[Applied]:
        """The subsidies of one line, in priority order; each takes its percent of what is left."""
        applied: list[Applied] = []
        left = list_cost
        for rule in self.rules:
            if left <= 0:
                break
            if not self._matches(rule, day=day, service=service, partition=partition, project=project, pi=pi):
                continue
            percent = HUNDRED if rule.percent is None else rule.percent
            amount = quantize(left * percent / HUNDRED)
            room = self.remaining(rule)
            if room is not None:
                amount = min(amount, room)
            if amount <= 0:
                continue
            self.used_now[rule.pk] = self.used_now.get(rule.pk, ZERO) + amount
            applied.append(Applied(rule.code, rule.label, amount))
            left -= amount
        return applied

    @staticmethod
    def _matches(
        rule: SubsidyRule, *, day: date, service: str, partition: str, project: str | None, pi: str | None
    ) -> bool:
        if day < rule.effective_from or (rule.effective_to is not None and day > rule.effective_to):
            return False
        if rule.service_name and rule.service_name.lower() != service.lower():
            return False
        if rule.partition and rule.partition.lower() != partition.lower():
            return False
        if rule.project is not None and rule.project.code != project:
            return False
        return rule.pi is None or rule.pi.email == pi
