"""The statements and deliveries section of the period page (see `billing.cockpit`)."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from billing.cockpit import Action, Section
from billing.models import BillingPeriod
from statements.models import Delivery, Statement
from statements.selectors import outbox_rows, statement_counts
from statements.services.delivery import outbox_summary

Status = BillingPeriod.Status


def statements_section(request: HttpRequest, period: BillingPeriod) -> Section | None:
    user = request.user
    if not user.has_perm("statements.view_statement"):
        return None
    counts = statement_counts(period=period)
    current = sum(n for status, n in counts.items() if status != Statement.Status.SUPERSEDED)
    outbox = outbox_summary(month=period.period)
    attention = [
        *outbox_rows(month=period.period, status=Delivery.Status.FAILED, limit=20),
        *outbox_rows(month=period.period, status=Delivery.Status.SENDING, limit=20),
    ]
    page = reverse("admin:statements_statement_period", args=[period.period])
    actions = []
    if period.status == Status.CLOSED and user.has_perm("statements.generate_statement"):
        label = "Regenerate statements" if current else "Generate statements"
        actions.append(Action(label, page, note="on the statements page, after a confirmation"))
    unsent = counts[Statement.Status.FINAL] + counts[Statement.Status.DRAFT]
    if period.status != Status.OPEN and unsent and user.has_perm("statements.send_statement"):
        actions.append(Action("Send statements", page, note=f"{unsent} not sent yet"))
    if not actions:
        actions.append(Action("Statements", page))
    return Section(
        title="Statements and email",
        template="admin/statements/statement/_cockpit.html",
        context={
            "counts": [(Statement.Status(s).label, n) for s, n in counts.items()],
            "current": current,
            "outbox": [(Delivery.Status(s).label, n) for s, n in outbox.items()],
            "attention": attention,
            "list_url": f"{reverse('admin:statements_statement_changelist')}?period__id__exact={period.pk}",
            "outbox_url": f"{reverse('admin:statements_delivery_changelist')}?period__id__exact={period.pk}",
        },
        actions=actions,
        order=20,
    )
