"""The finance pages of a project and of a PI: cost per period, statements, funding, flags.

They read through the portal's selectors (`statements.portal.selectors`) with the grants the PI
has, so finance and the PI see the same figures: a PI's page is exactly what the PI sees; a
project's page covers every PI its charges or statements name (a project that changed hands).
Flags and decisions come from `billing.selectors.people`. The admin site adds these views
(`admin:ocb_project_finance`, `admin:ocb_pi_finance`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from billing.models import PI, Charge, Project
from billing.selectors.people import review_summary
from chargeback.money import ZERO
from statements.models import Statement
from statements.portal.access import Access, Grant
from statements.portal.selectors import (
    TREND_PERIODS,
    TrendBar,
    period_costs,
    portal_statements,
    project_detail,
    project_rows,
)

LATEST_STATEMENTS = 24


def _require(request: HttpRequest, model: str) -> None:
    user = request.user
    if not (user.has_perm(f"billing.view_{model}") and user.has_perm("billing.view_charge")):
        raise PermissionDenied


def project_access(project: Project) -> Access:
    """The grants of every PI of the project's charges and statements, limited to this project."""
    pi_ids = set(Charge.objects.filter(project=project).exclude(pi=None).values_list("pi_id", flat=True).distinct())
    pi_ids |= set(Statement.objects.filter(project=project).values_list("pi_id", flat=True).distinct())
    if project.pi_id is not None:
        pi_ids.add(project.pi_id)
    only = frozenset({project.pk})
    return Access(user_id=None, grants=[Grant(pi_id, only) for pi_id in sorted(pi_ids)])


def pi_access(pi: PI) -> Access:
    """What the PI sees on the portal: everything of their own PI record."""
    return Access(user_id=None, own_pi=pi, grants=[Grant(pi.pk)], pis={pi.pk: pi})


def project_finance_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "project")
    project = get_object_or_404(Project.objects.select_related("pi"), pk=pk)
    access = project_access(project)
    detail = project_detail(access, project, month=request.GET.get("period"))
    context = {
        **_frame(request, f"Project {project.code}"),
        "project": project,
        "detail": detail,
        **_costs(detail.periods),
        "statements": _statements(request, portal_statements(access).filter(project=project)),
        "review": review_summary(project=project),
    }
    return TemplateResponse(request, "admin/finance/project.html", context)


def pi_finance_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "pi")
    pi = get_object_or_404(PI, pk=pk)
    access = pi_access(pi)
    context = {
        **_frame(request, f"PI {pi}"),
        "pi": pi,
        **_costs(period_costs(access)),
        "projects": project_rows(access),
        "statements": _statements(request, portal_statements(access)),
        "review": review_summary(pi=pi),
    }
    return TemplateResponse(request, "admin/finance/pi.html", context)


def _frame(request: HttpRequest, title: str) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, "subtitle": None}


def _costs(periods: list[dict[str, Any]]) -> dict[str, Any]:
    """The table rows and the chart: billed per period in the most used currency, the last 12."""
    if not periods:
        return {"periods": [], "chart": [], "chart_currency": "", "other_currencies": False}
    counts: dict[str, int] = {}
    for row in periods:
        counts[row["currency"]] = counts.get(row["currency"], 0) + 1
    main = max(counts, key=lambda c: (counts[c], c))
    recent = sorted({r["period"] for r in periods}, reverse=True)[:TREND_PERIODS]
    amounts = {r["period"]: r["billed_cost"] for r in periods if r["currency"] == main}
    bars = [TrendBar(period=p, amount=amounts.get(p, ZERO)) for p in sorted(recent)]
    top = max((b.amount for b in bars), default=ZERO)
    for bar in bars:
        bar.height = int(bar.amount / top * 100) if top > 0 and bar.amount > 0 else 0
        bar.y = 100 - bar.height
    return {"periods": periods, "chart": bars, "chart_currency": main, "other_currencies": len(counts) > 1}


def _statements(request: HttpRequest, statements: Any) -> list[Statement] | None:
    """The newest statements, every version (None: the user may not see statements)."""
    if not request.user.has_perm("statements.view_statement"):
        return None
    return list(statements.order_by("-period__period", "number", "-version")[:LATEST_STATEMENTS])
