"""The dashboard shown on the admin index page: a period's figures and its next step.

The figures come from `billing.selectors.dashboard` as exact amounts; this module only picks the period,
formats (amounts are rounded for display by `chargeback.formatting.money`, nowhere else), lays
out the two server-rendered charts and decides which next step the user may take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse

from billing.models import PERIOD_RE, BillingPeriod, Charge
from billing.selectors.checklist import period_checklist
from billing.selectors.dashboard import (
    CostRow,
    CurrencyTotals,
    PeriodFigures,
    dashboard_default_period,
    dashboard_figures,
    dashboard_periods,
)
from billing.selectors.data_status import data_status
from chargeback.formatting import money
from chargeback.money import ZERO, round_cents

Status = BillingPeriod.Status
TENTH = Decimal("0.1")

# The month chart's drawing area (SVG user units; the SVG scales to the box it is in).
# The top leaves room for the value written above the tallest column.
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BASE = 600, 200, 22, 170
MAX_SLOT = 90


@dataclass(frozen=True)
class Step:
    """One next step. `url` is None when the step is not a link (not available, or not allowed)."""

    label: str
    url: str | None = None
    note: str = ""


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.has_perm("billing.view_charge"):
        return {}
    periods = dashboard_periods()
    if not periods:
        return {"dashboard": {"empty": True, "import_url": _import_url(request)}}

    default = dashboard_default_period(periods)
    assert default is not None
    selected, notice = _selected_period(request.GET.get("period"), periods, default)
    figures = dashboard_figures(period=selected, periods=periods)
    return {"dashboard": _present(request, figures, periods, notice)}


def _selected_period(
    raw: str | None, periods: Sequence[BillingPeriod], default: BillingPeriod
) -> tuple[BillingPeriod, str]:
    """The period asked for with ?period=YYYY-MM, or the default with a notice saying why."""
    if raw is None or not raw.strip():
        return default, ""
    raw = raw.strip()
    if not PERIOD_RE.match(raw):
        return default, f"“{raw[:20]}” is not a billing period (use YYYY-MM); showing {default.period}."
    found = next((p for p in periods if p.period == raw), None)
    if found is None:
        return default, f"There is no billing period {raw}; showing {default.period}."
    return found, ""


def _present(request: HttpRequest, f: PeriodFigures, periods: Sequence[BillingPeriod], notice: str) -> dict[str, Any]:
    period = f.period
    totals = f.totals or [CurrencyTotals(currency="")]
    statuses = {s.batch_id: s for s in data_status(period=period)}
    return {
        "empty": False,
        "notice": notice,
        "period": period,
        "periods": [
            {
                "value": p.period,
                "label": f"{p.period} ({p.get_status_display().lower()})",
                "selected": p.id == period.id,
            }
            for p in periods
        ],
        "next_steps": next_steps(request, f),
        "period_url": _period_url(request, period.id),
        "mixed_currencies": f.mixed_currencies,
        "currencies": f.currencies,
        "totals": [_totals(t) for t in totals],
        "charges": f.charges,
        "flagged_charges": f.flagged_charges,
        "pis": f.pis,
        "projects": f.projects,
        "imports": [
            {
                "source": i.source,
                "display_name": i.display_name,
                "missing": i.missing,
                "batch_id": i.batch_id,
                "batch_url": _batch_url(request, i.batch_id),
                "rows": i.rows,
                "imported": [money(amount, currency) for currency, amount in i.imported] or [money(ZERO)],
                "imported_at": i.imported_at,
                "actor": i.actor,
                "warnings": i.warnings,
                "data_status": statuses[i.batch_id].status if i.batch_id in statuses else "",
                "data_status_why": "; ".join(statuses[i.batch_id].reasons) if i.batch_id in statuses else "",
            }
            for i in f.imports
        ],
        "top_pis": _ranked(f.top_pis, {t.currency: t.billed for t in f.totals}),
        "source_chart": _bars(f.by_source),
        "month_charts": _month_charts(f.by_month, period.period),
        "months": f.months,
    }


def _totals(t: CurrencyTotals) -> dict[str, Any]:
    percent = t.discount_percent
    return {
        "currency": t.currency,
        "charges": t.charges,
        "billed": money(t.billed, t.currency),
        "listed": money(t.listed, t.currency),
        "discount": money(t.discount, t.currency),
        "discount_percent": _percent(percent) if percent is not None else "",
        "flagged_charges": t.flagged_charges,
        "flagged_cost": money(t.flagged_cost, t.currency),
        "rejected_charges": t.rejected_charges,
        "rejected_cost": money(t.rejected_cost, t.currency),
        "imported_charges": t.imported_charges,
        "imported_cost": money(t.imported_cost, t.currency),
    }


def _percent(value: Decimal) -> str:
    # A display figure, not money: one decimal place.
    return f"{value.quantize(TENTH, rounding=ROUND_HALF_UP)} %"


def next_steps(request: HttpRequest, f: PeriodFigures) -> list[Step]:
    """What to do next with the period, from its checklist (the period page's), as links only where
    the user has the permission. Every state but finalized offers a way forward."""
    user = request.user
    period = f.period
    checks = {c.key: c for c in period_checklist(f)}

    def move(to_status: str, perm: str) -> str | None:
        # The period admin's confirmation page for the move (close, reopen, finalize).
        if not user.has_perm(perm):
            return None
        return reverse("admin:billing_billingperiod_move", args=[period.id, to_status])

    if period.status == Status.FINALIZED:
        when = f"{period.finalized_at:%Y-%m-%d}" if period.finalized_at else "an unknown date"
        return [Step(f"Finalized on {when}")]
    flagged = f.flagged_charges if not checks["flagged"].ok else 0
    if period.status == Status.CLOSED:
        statements = _statements_step(user, period)
        journal = Step("Export journal", _journal_url(request, period.id))
        if flagged:
            # Review needs the period open; statements and the journal leave flagged charges out.
            return [
                Step(f"Reopen the period to review {_charges(flagged)}", move(Status.OPEN, "billing.close_period")),
                Step(statements.label, statements.url, note="flagged charges are left out until approved"),
                journal,
            ]
        return [statements, journal, Step("Finalize the period", move(Status.FINALIZED, "billing.finalize_period"))]
    if not f.has_imports:
        return [Step("Import files", _import_url(request))]
    close = Step("Close the period", move(Status.CLOSED, "billing.close_period"))
    if flagged:
        url = None
        if user.has_perm("billing.approve_charge"):
            # The review queue's own period and review-state filters.
            query = urlencode({"period": period.period, "review": Charge.ReviewState.FLAGGED})
            url = f"{reverse('admin:billing_charge_changelist')}?{query}"
        return [Step(f"Review {_charges(flagged)}", url), Step(close.label, close.url, note="once reviewed")]
    return [close]


def _charges(n: int) -> str:
    return f"{n} flagged charge{'' if n == 1 else 's'}"


def _statements_step(user: Any, period: Any) -> Step:
    """Generate (or look at) the period's statements: how many exist and how many are sent."""
    from statements.models import Statement

    current = Statement.objects.filter(period_id=period.id).exclude(status=Statement.Status.SUPERSEDED)
    total = current.count()
    sent = current.filter(status=Statement.Status.SENT).count()
    url: str | None = reverse("admin:statements_statement_period", args=[period.period])
    if not total:
        return Step("Generate statements", url if user.has_perm("statements.generate_statement") else None)
    if not user.has_perm("statements.view_statement"):
        url = None
    return Step("Statements", url, note=f"{total} generated, {sent} sent")


def _period_url(request: HttpRequest, period_id: int) -> str | None:
    if not request.user.has_perm("billing.view_billingperiod"):
        return None
    return reverse("admin:billing_billingperiod_change", args=[period_id])


def _import_url(request: HttpRequest) -> str | None:
    if not request.user.has_perm("billing.import_charges"):
        return None
    return reverse("admin:billing_importbatch_changelist")


def _journal_url(request: HttpRequest, period_id: int) -> str | None:
    if not request.user.has_perm("journals.export_journal"):
        return None
    return reverse("admin:journals_export", args=[period_id])


def _batch_url(request: HttpRequest, batch_id: int | None) -> str | None:
    if batch_id is None or not request.user.has_perm("billing.view_importbatch"):
        return None
    return reverse("admin:billing_importbatch_change", args=[batch_id])


def _width(amount: Decimal, largest: Decimal) -> str:
    """A bar's length in percent of the largest bar; credits (negative) draw no bar."""
    if largest <= 0 or amount <= 0:
        return "0"
    return f"{(amount * 100 / largest).quantize(TENTH, rounding=ROUND_HALF_UP)}"


def _ranked(rows: Sequence[CostRow], totals: dict[str, Decimal]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        total = totals.get(r.currency)
        share = _percent(r.amount * 100 / total) if total and total > 0 else ""
        out.append(
            {
                "key": r.key,
                "label": r.label,
                "currency": r.currency,
                "billed": money(r.amount, r.currency),
                "share": share,
            }
        )
    return out


def _bars(rows: Sequence[CostRow]) -> list[dict[str, Any]]:
    """Rows grouped per currency, each with its bar length (scaled within its currency)."""
    charts: dict[str, list[CostRow]] = {}
    for r in rows:
        charts.setdefault(r.currency, []).append(r)
    out = []
    for currency, group in charts.items():
        largest = max(r.amount for r in group)
        bars = [
            {"key": r.key, "label": r.label, "amount": money(r.amount, currency), "width": _width(r.amount, largest)}
            for r in group
        ]
        out.append({"currency": currency, "rows": bars})
    return out


def _short(amount: Decimal) -> str:
    """A column's value in a few characters (12.1k, 1.23M); the exact amount is in its tooltip and table."""
    size = abs(amount)
    if size >= 1_000_000:
        return f"{amount / 1_000_000:.2f}M"
    if size >= 1_000:
        return f"{amount / 1_000:.1f}k"
    return f"{round_cents(amount):.0f}"


def _month_charts(rows: Sequence[CostRow], selected: str) -> list[dict[str, Any]]:
    """One column chart per currency: the geometry of each column, computed here (no JavaScript)."""
    charts: dict[str, list[CostRow]] = {}
    for r in rows:
        charts.setdefault(r.currency, []).append(r)
    out = []
    for currency, group in charts.items():
        largest = max(r.amount for r in group)
        # A few periods get columns of a sensible width, centred, rather than wide slabs.
        slot = min(Decimal(CHART_WIDTH) / len(group), Decimal(MAX_SLOT))
        left = (CHART_WIDTH - slot * len(group)) / 2
        plot = Decimal(CHART_BASE - CHART_TOP)
        columns = []
        for i, r in enumerate(group):
            height = r.amount * plot / largest if largest > 0 and r.amount > 0 else Decimal(0)
            columns.append(
                {
                    "period": r.key,
                    "amount": money(r.amount, currency),
                    "selected": r.key == selected,
                    "x": f"{left + slot * i + slot * Decimal('0.15'):.1f}",
                    "width": f"{slot * Decimal('0.7'):.1f}",
                    "y": f"{CHART_BASE - height:.1f}",
                    "height": f"{height:.1f}",
                    "label_x": f"{left + slot * i + slot / 2:.1f}",
                    "value_y": f"{CHART_BASE - height - 4:.1f}",
                    "short": _short(r.amount),
                }
            )
        out.append(
            {
                "currency": currency,
                "columns": columns,
                "viewbox": f"0 0 {CHART_WIDTH} {CHART_HEIGHT}",
                "base": CHART_BASE,
                "label_y": CHART_BASE + 18,
                "width": CHART_WIDTH,
            }
        )
    return out
