"""Statement PDFs: the data a statement shows, and rendering it once (see `pdf.py` for the layout).

Rendering is idempotent: a worker renders a draft statement, then marks it final with a
conditional update; if another worker got there first, its file is kept and this one discarded.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from chargeback.errors import RenderError
from chargeback.models import Organization
from chargeback.money import ZERO, allocate_lines
from statements.models import Statement, StatementLine


@dataclass
class DetailLine:
    date: Any
    resource: str
    service: str
    kind: str
    quantity: Decimal | None
    unit: str
    list_exact: Decimal
    billed_exact: Decimal
    count: int = 1
    list_amount: Decimal = ZERO
    amount: Decimal = ZERO

    @property
    def discount(self) -> Decimal:
        return self.list_amount - self.amount


def statement_details(st: Statement, limit: int | None = None) -> tuple[list[DetailLine], int]:
    """The statement's charges per resource, service and kind, allocated to its amounts.

    Beyond `limit` lines the smallest are folded into one "other resources" line, so a project
    with a hundred thousand jobs still has a readable statement; returns (lines, folded count).
    """
    from statements.selectors import line_kind, statement_charges

    limit = limit or settings.OPENCHARGEBACK_STATEMENT_DETAIL_LINES
    groups: dict[tuple[str, str, str, str], DetailLine] = {}
    rows = (
        statement_charges(st)
        .annotate(kind=line_kind())
        .values_list(
            "charge_period_start",
            "resource_id",
            "resource_name",
            "service_name",
            "kind",
            "pricing_quantity",
            "pricing_unit",
            "list_cost",
            "billed_cost",
        )  # fmt: skip
        .order_by()
        .iterator(chunk_size=5000)
    )
    for start, rid, rname, service, kind, qty, unit, listed, billed in rows:
        listed = billed if listed is None else listed
        resource = rname or rid or "—"
        key = (resource, service, kind, unit)
        line = groups.get(key)
        if line is None:
            groups[key] = DetailLine(start, resource, service, kind, qty, unit, listed, billed)
            continue
        line.count += 1
        line.list_exact += listed
        line.billed_exact += billed
        if qty is not None:
            line.quantity = (line.quantity or ZERO) + qty
        if start is not None and (line.date is None or start < line.date):
            line.date = start
    lines = sorted(groups.values(), key=lambda d: (d.kind != StatementLine.Kind.USAGE, d.service, d.resource))
    folded = 0
    if len(lines) > limit:
        keep = sorted(lines, key=lambda d: -abs(d.billed_exact))[: limit - 1]
        kept = {id(d) for d in keep}
        rest = [d for d in lines if id(d) not in kept]
        folded = len(rest)
        other = DetailLine(None, f"{folded} other resources", "", StatementLine.Kind.USAGE, None, "",
                           sum((d.list_exact for d in rest), ZERO), sum((d.billed_exact for d in rest), ZERO),
                           sum(d.count for d in rest))  # fmt: skip
        lines = [d for d in lines if id(d) in kept] + [other]
    shares = allocate_lines(
        amount_due=st.amount_due, discount_total=st.discount_total,
        billed=[d.billed_exact for d in lines], listed=[d.list_exact for d in lines],
    )  # fmt: skip
    for d, (amount, discount) in zip(lines, shares, strict=True):
        d.amount, d.list_amount = amount, amount + discount
    return lines, folded


def statement_context(st: Statement, *, draft: bool) -> dict[str, Any]:
    org = Organization.current()
    lines = list(st.lines.all())
    details, folded = statement_details(st)
    by_service: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"list": ZERO, "amount": ZERO, "count": 0})
    for ln in lines:
        if ln.kind == StatementLine.Kind.USAGE:
            row = by_service[(ln.source, ln.service_name)]
            row["list"] += ln.list_amount
            row["amount"] += ln.amount
            row["count"] += ln.charge_count
    services = [
        {"source": src, "service": svc or "—", "list": v["list"], "amount": v["amount"],
         "discount": v["list"] - v["amount"], "count": v["count"]}
        for (src, svc), v in sorted(by_service.items())
    ]  # fmt: skip
    adjustments = [ln for ln in lines if ln.kind != StatementLine.Kind.USAGE]
    # pragma: no mutate start
    logo_path = ""
    if org.logo:
        # Only a file inside the media folder's branding/ (never a URL or another path).
        try:
            path = Path(org.logo.path).resolve()
        except SuspiciousFileOperation:
            path = Path("/nonexistent")
        if (Path(settings.MEDIA_ROOT) / "branding").resolve() in path.parents and path.is_file():
            logo_path = str(path)
    return {
        "org": org, "st": st, "pi": st.pi, "project": st.project, "period": st.period.period,
        "lines": lines, "services": services, "adjustments": adjustments, "details": details,
        "folded": folded, "currency": st.currency, "draft": draft, "logo_path": logo_path,
        "fully_subsidised": st.list_total > 0 and st.amount_due == 0,
        "issued": timezone.localdate(),
    }  # fmt: skip
    # pragma: no mutate end


# Files and errors from here on decide no figure: `make mutate` leaves them alone.
# pragma: no mutate block
def statement_render_to_bytes(st: Statement, *, draft: bool = False) -> tuple[bytes, int]:
    """The statement as PDF bytes and its page count."""
    return context_render_to_bytes(statement_context(st, draft=draft), label=str(st))


def context_render_to_bytes(context: dict[str, Any], *, label: str) -> tuple[bytes, int]:
    """A statement's PDF from its `statement_context` (read beforehand: this reads no database)."""
    from statements.services.pdf import build_statement_pdf

    try:
        return build_statement_pdf(context)
    except Exception as exc:  # a layout error has no common base class in ReportLab
        raise RenderError(f"statement {label}: the PDF could not be laid out ({type(exc).__name__}: {exc})") from exc


def statement_render(*, statement_id: int) -> bool:
    """Render a draft statement's PDF once; True when this call rendered it."""
    st = Statement.objects.select_related("period", "pi", "project").filter(pk=statement_id).first()
    if st is None or st.status != Statement.Status.DRAFT:
        return False
    data, pages = statement_render_to_bytes(st)
    sha = hashlib.sha256(data).hexdigest()
    name = f"{st.number}-v{st.version}-{sha[:12]}.pdf"
    with transaction.atomic():
        if not Statement.objects.select_for_update().filter(pk=st.pk, status=Statement.Status.DRAFT).exists():
            return False
        st.pdf.save(name, ContentFile(data), save=False)
        claimed = Statement.objects.filter(pk=st.pk, status=Statement.Status.DRAFT).update(
            status=Statement.Status.FINAL, pdf=st.pdf.name, pdf_sha256=sha, pdf_pages=pages,
            rendered_at=timezone.now(),
        )  # fmt: skip
        if not claimed:  # pragma: no cover - the row lock above makes this a safety net
            st.pdf.delete(save=False)
            return False
    return True
