"""The journal section of the period page: the latest export and the reconciliation."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from billing.cockpit import Action, Section
from billing.models import BillingPeriod
from journals.selectors import period_reconciliation


def journal_section(request: HttpRequest, period: BillingPeriod) -> Section | None:
    user = request.user
    if not user.has_perm("journals.view_journalexport"):
        return None
    rec = period_reconciliation(period)
    page = reverse("admin:journals_export", args=[period.pk])
    actions = []
    if period.status != BillingPeriod.Status.OPEN and user.has_perm("journals.export_journal"):
        label = "Export journal again" if rec.export else "Export journal"
        actions.append(Action(label, page, note="preview first on the journal page"))
    return Section(
        title="Journal and reconciliation",
        template="admin/journals/journalexport/_cockpit.html",
        context={"rec": rec, "page": page, "currency": rec.currencies[0] if len(rec.currencies) == 1 else ""},
        actions=actions,
        order=30,
    )
