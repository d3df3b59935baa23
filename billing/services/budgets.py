"""Budget alerts: which thresholds a budget's spend crossed, once per threshold per span.

A crossing is a `BudgetAlert` row that stands while the spend stays at or above its threshold.
When the spend jumps past several thresholds at once, the highest one is raised (one alert, not
three). A threshold that stands raises nothing again in the same span, so a re-import that
replaces a batch with much the same figures is silent; when the spend falls below a threshold
its alert is cleared, and a new crossing raises it again. Who is told, and how, is for the apps
above billing (statements sends the emails).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import BillingPeriod, Budget, BudgetAlert, Project
from billing.selectors.budgets import BudgetStatus, budget_status
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError


@dataclass
class Crossing:
    budget_id: int
    subject: str
    span: str
    threshold: int
    spend: Decimal
    forecast: Decimal
    amount: Decimal
    currency: str
    alert_id: int | None = None


@dataclass
class EvaluationReport:
    dry_run: bool
    periods: list[str]
    budgets: int = 0
    raised: list[Crossing] = field(default_factory=list)
    cleared: int = 0
    unknown_spans: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for c in data["raised"]:
            for key in ("spend", "forecast", "amount"):
                c[key] = f"{c[key]:f}"
        return data


def evaluation_periods(extra: Iterable[str] = ()) -> list[str]:
    """The months alerts look at: every open month, and those just imported into."""
    open_months = BillingPeriod.objects.filter(status=BillingPeriod.Status.OPEN).values_list("period", flat=True)
    return sorted({*open_months, *extra})


def budget_alerts_evaluate(*, actor: Actor, periods: Iterable[str] = (), dry_run: bool = False) -> EvaluationReport:
    """Raise and clear the alerts of every budget for the open months (see the module docstring)."""
    months = evaluation_periods(periods)
    report = EvaluationReport(dry_run=dry_run, periods=months)
    if not months:
        return report
    for budget in Budget.objects.select_related("project").order_by("pk"):
        report.budgets += 1
        # A monthly budget has a span per month; an award budget one span (the newest month's forecast).
        for month in months if budget.span == Budget.Span.MONTH else months[-1:]:
            status = budget_status(budget, month=month)
            if status.span is None:
                report.unknown_spans.append(budget.subject)
                continue
            _evaluate(status, report, actor=actor, dry_run=dry_run)
    return report


def _evaluate(status: BudgetStatus, report: EvaluationReport, *, actor: Actor, dry_run: bool) -> None:
    budget, span = status.budget, status.span
    assert span is not None
    with transaction.atomic():
        Budget.objects.select_for_update(of=("self",)).filter(
            pk=budget.pk
        ).first()  # one evaluation of a budget at a time
        standing = list(BudgetAlert.objects.filter(budget=budget, span_key=span.key, cleared_at__isnull=True))
        fallen = [a for a in standing if status.percent < a.threshold]
        report.cleared += len(fallen)
        if fallen and not dry_run:
            BudgetAlert.objects.filter(pk__in=[a.pk for a in fallen]).update(cleared_at=timezone.now())
            audit_record(
                actor=actor, action="budget.alert_clear", obj=budget, after={
                    "span": span.key, "thresholds": [a.threshold for a in fallen], "spend": f"{status.spend:f}",
                },
            )  # fmt: skip
        reached = status.reached
        still = [a.threshold for a in standing if a not in fallen]
        if reached is None or any(t >= reached for t in still):
            return
        crossing = Crossing(
            budget_id=budget.pk, subject=budget.subject, span=span.label, threshold=reached, spend=status.spend,
            forecast=status.forecast, amount=budget.amount, currency=budget.currency,
        )  # fmt: skip
        if not dry_run:
            try:
                with transaction.atomic():
                    alert = BudgetAlert.objects.create(
                        budget=budget, span_key=span.key, threshold=reached, spend=status.spend,
                        forecast=status.forecast,
                    )  # fmt: skip
            except IntegrityError:  # raised by a concurrent evaluation a moment ago
                return
            crossing.alert_id = alert.pk
            audit_record(
                actor=actor, action="budget.alert", obj=budget,
                after={"span": span.key, "threshold": reached, "spend": f"{status.spend:f}"},
            )  # fmt: skip
        report.raised.append(crossing)


def budget_save(
    *, project: Project, amount: Decimal, currency: str, span: str, thresholds: list[int], set_by: str, actor: Actor
) -> Budget:
    """Create or change a project's budget for `span` (validated like the admin's and the import's)."""
    with transaction.atomic():
        budget = Budget.objects.select_for_update(of=("self",)).filter(project=project, span=span).first()
        before = {"amount": f"{budget.amount:f}", "currency": budget.currency, "thresholds": budget.thresholds} if (
            budget is not None) else None  # fmt: skip
        budget = budget or Budget(project=project, span=span)
        budget.amount, budget.currency, budget.thresholds, budget.set_by = amount, currency, thresholds, set_by
        try:
            budget.full_clean()
        except ValidationError as exc:
            raise BillingError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        budget.save()
        audit_record(
            actor=actor, action="budget.save", obj=budget, before=before,
            after={"amount": f"{budget.amount:f}", "currency": budget.currency, "span": span,
                   "thresholds": budget.thresholds, "set_by": set_by},
        )  # fmt: skip
    return budget
