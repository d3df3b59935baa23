"""Statement PDFs: the data a statement shows, and rendering it once (`pdf.py` lays out the template).

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

from billing.selectors import Basis
from chargeback.errors import RenderError
from chargeback.models import Organization
from chargeback.money import ZERO, allocate_lines
from statements.models import Statement, StatementLine
from statements.templatetags import statement_tags

# The headings the non-usage lines are shown under, in this order; usage is "Charges by service".
Kind = StatementLine.Kind
SECTIONS = (
    ("Purchases", (Kind.PURCHASE,)),
    ("Tax", (Kind.TAX,)),
    ("Credits and adjustments", (Kind.CREDIT, Kind.ADJUSTMENT, Kind.CORRECTION)),
)


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

    @property
    def label(self) -> str:
        """The resource as a statement shows it: its kind when not usage, how many charges it sums."""
        kind = f" ({self.kind})" if self.kind != Kind.USAGE else ""
        return self.resource + kind + (f" ×{self.count}" if self.count > 1 else "")

    @property
    def quantity_text(self) -> str:
        return f"{statement_tags.qty(self.quantity)} {self.unit}".strip()


def statement_details(st: Statement, limit: int | None = None) -> tuple[list[DetailLine], int]:
    """The statement's charges per resource, service and kind, allocated to its amounts.

    Beyond `limit` lines the smallest are folded into one "other resources" line, so a project
    with a hundred thousand jobs still has a readable statement; returns (lines, folded count).
    """
    from statements.selectors import line_kind, statement_charges

    limit = limit or settings.OPENCHARGEBACK_STATEMENT_DETAIL_LINES
    groups: dict[tuple[str, str, str, str], DetailLine] = {}
    basis = Basis.of()
    rows = (
        statement_charges(st, basis=basis)
        .annotate(kind=line_kind(), basis_list=basis.listed(), basis_cost=basis.cost())
        .values_list(
            "charge_period_start",
            "resource_id",
            "resource_name",
            "service_name",
            "kind",
            "pricing_quantity",
            "pricing_unit",
            "basis_list",
            "basis_cost",
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
    lines = sorted(groups.values(), key=lambda d: (d.kind != Kind.USAGE, d.service, d.resource))
    folded = 0
    if len(lines) > limit:
        keep = sorted(lines, key=lambda d: -abs(d.billed_exact))[: limit - 1]
        kept = {id(d) for d in keep}
        rest = [d for d in lines if id(d) not in kept]
        folded = len(rest)
        other = DetailLine(None, f"{folded} other resources", "", Kind.USAGE, None, "",
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
    """Everything the statement template shows (see templates/statements/statement_pdf.html).

    Amounts are the statement's frozen lines and totals, grouped but never recomputed; sources
    are shown by their display names.
    """
    from statements.selectors import source_display_names, statement_fund_amounts

    org = Organization.current()
    lines = list(st.lines.all())
    details, folded = statement_details(st)
    names = source_display_names({ln.source for ln in lines})
    by_service: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"list": ZERO, "amount": ZERO, "count": 0})
    for ln in lines:
        if ln.kind == Kind.USAGE:
            row = by_service[(names[ln.source], ln.service_name)]
            row["list"] += ln.list_amount
            row["amount"] += ln.amount
            row["count"] += ln.charge_count
    services = [
        {"source": src, "service": svc or "—", "list": v["list"], "amount": v["amount"],
         "discount": v["list"] - v["amount"], "count": v["count"]}
        for (src, svc), v in sorted(by_service.items())
    ]  # fmt: skip
    sections = []
    for title, kinds in SECTIONS:
        rows = [
            {"kind": ln.get_kind_display(), "source": names[ln.source], "service": _service_text(ln),
             "list": ln.list_amount, "discount": ln.list_amount - ln.amount, "amount": ln.amount}
            for ln in lines if ln.kind in kinds
        ]  # fmt: skip
        if rows:
            sections.append({"title": title, "lines": rows})
    return {
        "org": org, "st": st, "pi": st.pi, "project": st.project, "period": st.period.period,
        "lines": lines, "services": services, "sections": sections, "details": details,
        "folded": folded, "currency": st.currency, "draft": draft, "logo_path": _logo_path(org),
        "contact_line": " · ".join(x for x in (org.contact_name, org.contact_email, org.contact_phone) if x),
        "fully_subsidised": st.list_total > 0 and st.amount_due == 0,
        "amount_label": amount_label(lines),
        "fund_amounts": statement_fund_amounts(st),
        "issued": timezone.localdate(),
    }  # fmt: skip


def _service_text(ln: StatementLine) -> str:
    """A line's service, with the month a correction corrects (FOCUS ChargeClass=Correction)."""
    return (ln.service_name or "—") + (f" (corrects {ln.corrects})" if ln.corrects else "")


def amount_label(lines: list[StatementLine]) -> str:
    """What the amount due is: "Amortized cost" where a source bills on the effective basis."""
    amortized = [ln for ln in lines if ln.amortized]
    if not amortized:
        return "Amount due"
    return "Amount due (amortized cost)" if len(amortized) == len(lines) else "Amount due (partly amortized cost)"


def _logo_path(org: Organization) -> str:
    """The uploaded logo's file, only inside the media folder's branding/ (never a URL or another path)."""
    if not org.logo:
        return ""
    try:
        path = Path(org.logo.path).resolve()
    except SuspiciousFileOperation:
        return ""
    return str(path) if (Path(settings.MEDIA_ROOT) / "branding").resolve() in path.parents and path.is_file() else ""


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
    except RenderError as exc:
        raise RenderError(f"statement {label}: {exc}") from exc
    except Exception as exc:  # a template or layout error has no common base class
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
