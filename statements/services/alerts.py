"""Budget alerts by email: each threshold crossed tells the PI and the delegates who see the project.

Billing decides which thresholds were crossed, once per threshold per span
(`billing.services.budgets`); this module tells people. Each person gets at most one digest a
day (the notice key holds the day); an alert raised after today's digest waits for tomorrow's.
Runs after every import (the after-import hook statements registers) and by
`openchargeback alerts run`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone

from billing.models import BudgetAlert
from billing.services.budgets import EvaluationReport, budget_alerts_evaluate
from chargeback.audit import Actor
from statements.models import Notice
from statements.portal.open_month import budget_viewers
from statements.services.notices import notice_queue

log = logging.getLogger("openchargeback.statements")


def today() -> date:
    return timezone.localdate()


@dataclass
class AlertsRun:
    evaluation: EvaluationReport
    notices: list[Notice] = field(default_factory=list)
    recipients: dict[str, list[str]] = field(default_factory=dict)  # who is (or would be) told what


def alerts_run(*, actor: Actor, periods: Iterable[str] = (), dry_run: bool = False) -> AlertsRun:
    """Evaluate every budget, then queue today's digests (nothing is written with `dry_run`)."""
    with transaction.atomic():
        evaluation = budget_alerts_evaluate(actor=actor, periods=periods, dry_run=dry_run)
        run = AlertsRun(evaluation=evaluation)
        if dry_run:
            from billing.models import Budget

            for crossing in evaluation.raised:
                budget = Budget.objects.select_related("project").get(pk=crossing.budget_id)
                for email in budget_viewers(budget):
                    run.recipients.setdefault(email, []).append(f"{crossing.subject} {crossing.threshold} %")
            return run
        run.notices = alert_digests_queue(day=today())
        for notice in run.notices:
            run.recipients[notice.recipient] = [str(a) for a in notice.budget_alerts.select_related("budget__project")]
    return run


def alert_digests_queue(*, day: date) -> list[Notice]:
    """One digest per person for the standing alerts they have not been told about; none if they had one today."""
    standing = list(BudgetAlert.objects.filter(cleared_at__isnull=True).select_related("budget", "budget__project"))
    told = set(
        Notice.budget_alerts.through.objects.filter(budgetalert_id__in=[a.pk for a in standing]).values_list(
            "notice__recipient", "budgetalert_id"
        )
    )
    pending: dict[str, list[BudgetAlert]] = defaultdict(list)
    for alert in standing:
        for email in budget_viewers(alert.budget):
            if (email, alert.pk) not in told:
                pending[email].append(alert)
    written = []
    for email, alerts in sorted(pending.items()):
        notice = notice_queue(
            key=f"budget-alerts:{email}:{day:%Y-%m-%d}", kind=Notice.Kind.BUDGET_ALERTS, recipient=email,
            template="statements/notices/budget_alerts.txt", context={"alerts": alerts, "day": day},
        )  # fmt: skip
        if notice is not None:
            notice.budget_alerts.set(alerts)
            written.append(notice)
    return written


def alerts_after_import(*, month: str, batch_id: int | None) -> None:
    """The after-import hook: alerts of the month just imported (and every open month)."""
    run = alerts_run(actor=Actor.system("alerts"), periods=[month])
    log.info(
        "budget alerts after import: %s raised, %s cleared, %s notices",
        len(run.evaluation.raised), run.evaluation.cleared, len(run.notices), extra={"period": month},
    )  # fmt: skip
