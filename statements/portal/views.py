"""Portal pages: read-only, each filtered through the signed-in user's `Access`.

Anonymous visitors are sent to the sign-in page; signed-in users without a PI record or a
delegation get a page that says so (403); an object outside what the user may see is a 404.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig
from django_tables2.paginators import LazyPaginator

from billing.models import Charge
from billing.selectors.funding import project_funding_rows
from chargeback.audit import Actor
from chargeback.spreadsheet import escape_formula
from statements.models import PortalDelegate
from statements.portal import selectors
from statements.portal.access import Access, access_for
from statements.portal.filters import ChargeFilter, StatementFilter
from statements.portal.forms import DelegateForm
from statements.portal.open_month import charge_disputes, project_budgets
from statements.portal.services import DelegationError, delegate_grant, delegate_revoke, delegate_update
from statements.portal.tables import ChargeTable, StatementTable

PER_PAGE = 50
PortalView = Callable[..., HttpResponseBase]


def portal_page(view: PortalView) -> PortalView:
    """Sign-in required; the view gets the user's `Access`; no access at all is a clear 403."""

    @wraps(view)
    @never_cache
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        access = access_for(request.user)
        if not access.allowed:
            return render(request, "portal/no_access.html", {"title": "No statements to show"}, status=403)
        request.portal_access = access  # type: ignore[attr-defined]
        return view(request, access, *args, **kwargs)

    return wrapper


def _filtered(f: Any) -> Any:
    """The filtered rows; a filter that is not understood (another user's project id, say) shows nothing."""
    if f.is_bound and not f.is_valid():
        return f.queryset.none()
    return f.qs


def _context(request: HttpRequest, access: Access, section: str, title: str, **more: Any) -> dict[str, Any]:
    return {"access": access, "section": section, "title": title, **more}


@portal_page
def home(request: HttpRequest, access: Access) -> HttpResponse:
    summary = selectors.home_summary(access)
    return render(request, "portal/home.html", _context(request, access, "home", "Overview", summary=summary))


@portal_page
def projects(request: HttpRequest, access: Access) -> HttpResponse:
    rows = selectors.project_rows(access)
    return render(request, "portal/projects.html", _context(request, access, "projects", "Projects", rows=rows))


@portal_page
def project(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    obj = selectors.portal_project(access, pk)
    if obj is None:
        raise Http404("No such project")
    detail = selectors.project_detail(access, obj, request.GET.get("period") or None)
    funding = project_funding_rows(project=obj, today=timezone.localdate())
    context = _context(
        request, access, "projects", f"Project {obj.code}", detail=detail, funding=funding,
        **project_budgets(access, obj),
    )  # fmt: skip
    return render(request, "portal/project.html", context)


@portal_page
def statements(request: HttpRequest, access: Access) -> HttpResponse:
    f = StatementFilter(request.GET or None, queryset=selectors.portal_statements(access), access=access)
    table = StatementTable(_filtered(f))
    RequestConfig(request, paginate={"per_page": PER_PAGE, "paginator_class": LazyPaginator}).configure(table)
    return render(
        request, "portal/statements.html", _context(request, access, "statements", "Statements", filter=f, table=table)
    )


@portal_page
def statement(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    st = selectors.portal_statement(access, pk)
    if st is None:
        raise Http404("No such statement")
    lines = list(selectors.portal_statement_lines(st))
    versions = list(
        selectors.portal_statements(access)
        .filter(number=st.number)
        .order_by("-version")
        .values_list("pk", "version", "status")
    )
    context = _context(request, access, "statements", f"Statement {st.number} v{st.version}", st=st, lines=lines,
                       versions=versions)  # fmt: skip
    return render(request, "portal/statement.html", context)


@portal_page
def statement_pdf(request: HttpRequest, access: Access, pk: int) -> FileResponse:
    st = selectors.portal_statement(access, pk)
    if st is None or not st.pdf:
        raise Http404("No such statement PDF")
    try:
        handle = st.pdf.open("rb")
    except FileNotFoundError:
        raise Http404("The statement PDF is missing") from None
    response = FileResponse(
        handle, as_attachment=True, filename=f"statement-{st.number}-v{st.version}.pdf", content_type="application/pdf"
    )
    if st.pdf_sha256:
        response["X-Content-SHA256"] = st.pdf_sha256
    return response


def _charge_filter(request: HttpRequest, access: Access) -> ChargeFilter:
    qs = selectors.portal_charges(access).select_related("period", "project")
    return ChargeFilter(request.GET or None, queryset=qs, access=access)


@portal_page
def charges(request: HttpRequest, access: Access) -> HttpResponse:
    f = _charge_filter(request, access)
    # A filter that is not understood (another user's project id, say) shows nothing, not everything.
    qs = _filtered(f).order_by("-id")
    table = ChargeTable(qs)
    # No COUNT(*) of a big table: the paginator looks one page ahead instead.
    RequestConfig(request, paginate={"per_page": PER_PAGE, "paginator_class": LazyPaginator}).configure(table)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("sort", None)
    csv_url = reverse("portal:charges_csv") + (f"?{query.urlencode()}" if query else "")
    context = _context(request, access, "charges", "Charges", filter=f, table=table, csv_url=csv_url)
    return render(request, "portal/charges.html", context)


@portal_page
def charge(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    obj = selectors.portal_charge(access, pk)
    if obj is None:
        raise Http404("No such charge")
    disputes = charge_disputes(access, obj)
    context = _context(request, access, "charges", f"Charge #{obj.pk}", charge=obj, disputes=disputes)
    return render(request, "portal/charge.html", context)


CSV_COLUMNS = [
    ("charge_id", "id"), ("period", "period__period"), ("project_id", "project__code"), ("fund_org", "fund_org"),
    ("service_name", "service_name"), ("resource_id", "resource_id"), ("resource_name", "resource_name"),
    ("charge_period_start", "charge_period_start"), ("charge_period_end", "charge_period_end"),
    ("charge_category", "charge_category"), ("charge_description", "charge_description"),
    ("list_cost", "list_cost"), ("billed_cost", "billed_cost"), ("currency", "billing_currency"),
    ("review_state", "review_state"),
]  # fmt: skip


def csv_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, Decimal | int):
        return value
    return escape_formula(value.isoformat() if hasattr(value, "isoformat") else str(value))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _ in CSV_COLUMNS])
    for row in rows:
        yield writer.writerow([csv_cell(v) for v in row])


CSV_CHUNK = 2000


def _csv_values(qs: Any) -> Iterator[tuple[Any, ...]]:
    """The rows in id order, a chunk of ids at a time.

    The ids are read first with an ordinary query (planned for the whole result: the user's
    charges through the PI index), then the rows by id. A server-side cursor over the filtered
    query would be planned for a fast start instead, which on PostgreSQL can walk the whole
    primary key index to find one PI's charges.
    """
    ids = list(qs.order_by("id").values_list("id", flat=True))
    fields = [field for _, field in CSV_COLUMNS]
    for start in range(0, len(ids), CSV_CHUNK):
        chunk = ids[start : start + CSV_CHUNK]
        yield from Charge.objects.filter(pk__in=chunk).order_by("id").values_list(*fields)


@portal_page
def charges_csv(request: HttpRequest, access: Access) -> StreamingHttpResponse:
    f = _charge_filter(request, access)
    qs = _filtered(f)
    response = StreamingHttpResponse(_csv_rows(_csv_values(qs)), content_type="text/csv; charset=utf-8")
    period = f.form.cleaned_data.get("period") if f.is_valid() else None
    response["Content-Disposition"] = f'attachment; filename="charges{"-" + period if period else ""}.csv"'
    return response


def _own_pi_or_403(request: HttpRequest, access: Access) -> HttpResponse | None:
    if access.own_pi is None:
        context = _context(request, access, "delegates", "Delegates")
        return render(request, "portal/delegates_pi_only.html", context, status=403)
    return None


@portal_page
def delegates(request: HttpRequest, access: Access) -> HttpResponse:
    refusal = _own_pi_or_403(request, access)
    if refusal is not None:
        return refusal
    pi = access.own_pi
    assert pi is not None
    form = DelegateForm(request.POST or None, pi=pi)
    if request.method == "POST" and form.is_valid():
        try:
            d = delegate_grant(
                pi=pi, email=form.cleaned_data["email"], all_projects=form.cleaned_data["all_projects"],
                projects=form.cleaned_data["projects"], note=form.cleaned_data["note"],
                actor=Actor.for_user(request.user, request.META.get("REMOTE_ADDR")),
            )  # fmt: skip
        except DelegationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{d.email} can now sign in and see what you shared.")
            return redirect("portal:delegates")
    rows = PortalDelegate.objects.filter(pi=pi).prefetch_related("projects").order_by("email")
    return render(request, "portal/delegates.html", _context(request, access, "delegates", "Delegates", form=form,
                                                              delegates=rows))  # fmt: skip


def _own_delegate(access: Access, pk: int) -> PortalDelegate:
    d = PortalDelegate.objects.filter(pk=pk, pi=access.own_pi).select_related("pi").first()
    if d is None:
        raise Http404("No such delegate")
    return d


@portal_page
def delegate_edit(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    refusal = _own_pi_or_403(request, access)
    if refusal is not None:
        return refusal
    d = _own_delegate(access, pk)
    assert access.own_pi is not None
    initial = {"email": d.email, "all_projects": d.all_projects, "projects": list(d.projects.all()), "note": d.note}
    form = DelegateForm(request.POST or None, pi=access.own_pi, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            delegate_update(
                delegate=d, all_projects=form.cleaned_data["all_projects"], projects=form.cleaned_data["projects"],
                note=form.cleaned_data["note"], actor=Actor.for_user(request.user, request.META.get("REMOTE_ADDR")),
            )  # fmt: skip
        except DelegationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Updated what {d.email} can see.")
            return redirect("portal:delegates")
    context = _context(request, access, "delegates", f"Delegate {d.email}", form=form, delegate=d)
    return render(request, "portal/delegate_edit.html", context)


@require_POST
@portal_page
def delegate_remove(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    refusal = _own_pi_or_403(request, access)
    if refusal is not None:
        return refusal
    d = _own_delegate(access, pk)
    delegate_revoke(delegate=d, actor=Actor.for_user(request.user, request.META.get("REMOTE_ADDR")))
    messages.success(request, f"{d.email} no longer has access.")
    return redirect("portal:delegates")
