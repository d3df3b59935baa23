"""The statement PDF, laid out with ReportLab's platypus (the engine under xhtml2pdf).

xhtml2pdf turns every table cell into a styled paragraph after a CSS cascade: about 2,000
Python calls a cell, so a statement with twenty detail lines took ten times the design's
budget of 5 statements a second per worker. The same page built from platypus flowables costs
a tenth of that, so statements are drawn here directly; the layout is a plain function of
the statement's frozen data (`statement_context`), tested through its extracted text.

Fonts are DejaVu Sans (shipped in statements/static/statements/fonts, embedded as subsets),
so any name renders; long values wrap inside their cell instead of running into the next.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from statements.templatetags.statement_tags import cents, qty  # the figures read as on the HTML email

FONT_DIR = Path(__file__).resolve().parent.parent / "static" / "statements" / "fonts"
FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
INK, MUTED, RULE, SHADE, BOX = (colors.HexColor(c) for c in ("#1f2933", "#616e7c", "#d9dee3", "#e4e7eb", "#9aa5b1"))
DUE = colors.HexColor("#f0f4f8")
MARGIN = 1.5 * cm
WIDTH = A4[0] - 2 * MARGIN


# Layout only from here to build_statement_pdf: `make mutate` leaves it alone.
# pragma: no mutate start
@cache
def _fonts() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def _style(
    size: float = 8.5, *, bold: bool = False, color: Any = INK, right: bool = False, **kw: Any
) -> ParagraphStyle:
    return ParagraphStyle(
        "s", fontName=BOLD if bold else FONT, fontSize=size, leading=size * 1.3, textColor=color,
        alignment=TA_RIGHT if right else 0, splitLongWords=1, **kw,
    )  # fmt: skip


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


class _NumberedCanvas(Canvas):
    """Holds each page until the end so the footer can say "Page N of M"."""

    footer_left = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - ReportLab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(FONT, 7.5)
            self.setFillColor(MUTED)
            self.drawString(MARGIN, 1.0 * cm, self.footer_left[:150])
            self.drawRightString(A4[0] - MARGIN, 1.0 * cm, f"Page {self._pageNumber} of {total}")
            super().showPage()
        super().save()


def _draft_watermark(canvas: Canvas, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont(BOLD, 90)
    canvas.setFillColor(colors.HexColor("#e6b0aa"))
    canvas.translate(A4[0] / 2, A4[1] / 2)
    canvas.rotate(35)
    canvas.drawCentredString(0, 0, "DRAFT")
    canvas.restoreState()


def _grid(rows: Sequence[Sequence[Any]], widths: Sequence[float], *, numeric_from: int, header: bool = True,
          total: bool = False) -> Table:  # fmt: skip
    table = Table(list(rows), colWidths=[WIDTH * w for w in widths], repeatRows=1 if header else 0)
    style = [
        ("FONT", (0, 0), (-1, -1), FONT, 8),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ALIGN", (numeric_from, 0), (-1, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
    ]
    if header:
        style += [("FONT", (0, 0), (-1, 0), BOLD, 8), ("BACKGROUND", (0, 0), (-1, 0), SHADE)]
    if total:
        style += [("FONT", (0, -1), (-1, -1), BOLD, 8), ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK)]
    table.setStyle(TableStyle(style))
    return table


def _wrap_if_long(text: str, width_chars: int, style: ParagraphStyle) -> Any:
    """A plain string where it fits (cheap), a wrapping paragraph where it does not."""
    return text if len(text) <= width_chars else _p(text, style)


# pragma: no mutate end
def build_statement_pdf(ctx: dict[str, Any]) -> tuple[bytes, int]:
    """The PDF bytes and page count of a statement from `statement_context`."""
    _fonts()
    st, org, currency, draft = ctx["st"], ctx["org"], ctx["currency"], ctx["draft"]
    # Layout is left alone by `make mutate` but for the rows of figures.
    # pragma: no mutate start
    small, muted, cell = _style(8), _style(8, color=MUTED), _style(8)
    story: list[Any] = []

    # Header: the organization on the left, the statement's identity on the right.
    left: list[Any] = []
    if ctx["logo_path"]:
        left.append(Image(ctx["logo_path"], width=4 * cm, height=1.4 * cm, kind="proportional", hAlign="LEFT"))
    left.append(_p(org.name, _style(15, bold=True)))
    contact = " · ".join(x for x in (org.contact_email, org.contact_phone) if x)
    for text in (org.address, contact, org.website):
        if text:
            left.append(_p(text, muted))
    ident = Table(
        [["Number", f"{st.number}" + (f" v{st.version}" if st.version > 1 else "")],
         ["Date", f"{ctx['issued']:%Y-%m-%d}"], ["Billing period", ctx["period"]], ["Currency", currency]],
        colWidths=[WIDTH * 0.2, WIDTH * 0.2],
        style=TableStyle([("FONT", (0, 0), (-1, -1), FONT, 8.5), ("TEXTCOLOR", (0, 0), (0, -1), MUTED),
                          ("ALIGN", (0, 0), (-1, -1), "RIGHT"), ("TOPPADDING", (0, 0), (-1, -1), 1),
                          ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]),
    )  # fmt: skip
    title = _p("DRAFT statement" if draft else "Statement", _style(15, bold=True, right=True))
    story.append(Table([[left, [title, Spacer(1, 4), ident]]], colWidths=[WIDTH * 0.58, WIDTH * 0.42],
                       style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, 0), 0),
                                         ("RIGHTPADDING", (-1, 0), (-1, 0), 0)])))  # fmt: skip
    story.append(Spacer(1, 10))

    # Who and what: PI, project, fund/org; long values wrap in their cell.
    pi, project = ctx["pi"], ctx["project"]
    pi_cell = ([_p(pi.name, _style(8.5, bold=True))] if pi.name else []) + [_p(pi.email, cell)]
    project_cell = [_p(project.code if project else "(no project)", _style(8.5, bold=True))]
    if project is not None and project.title:
        project_cell.append(_p(project.title, cell))
    who = Table(
        [[_p("PI", muted), pi_cell, _p("Project", muted), project_cell],
         [_p("Fund/org", muted), _p(st.fund_orgs or "—", cell), _p("Charges", muted), str(st.charge_count)]],
        colWidths=[WIDTH * w for w in (0.12, 0.38, 0.12, 0.38)],
        style=TableStyle([("BOX", (0, 0), (-1, -1), 0.8, BOX), ("INNERGRID", (0, 0), (-1, -1), 0.3, RULE),
                          ("VALIGN", (0, 0), (-1, -1), "TOP"), ("FONT", (0, 0), (-1, -1), FONT, 8.5)]),
    )  # fmt: skip
    story += [who, Spacer(1, 10)]

    # Summary boxes: list price (struck through when fully subsidised), discount, amount due.
    list_text = f"{currency} {cents(st.list_total)}"
    if ctx["fully_subsidised"]:
        list_text = f"<strike>{escape(list_text)}</strike>"
    boxes = Table(
        [[[_p("List price", muted), Paragraph(list_text, _style(13, bold=True))],
          [_p(f"Discount / subsidy ({st.discount_percent}%)", muted),
           _p(f"{currency} {cents(st.discount_total)}", _style(13, bold=True))],
          [_p("Amount due", muted), _p(f"{currency} {cents(st.amount_due)}", _style(13, bold=True))]]],
        colWidths=[WIDTH / 3] * 3,
        style=TableStyle([("BOX", (0, 0), (0, 0), 0.8, BOX), ("BOX", (1, 0), (1, 0), 0.8, BOX),
                          ("BOX", (2, 0), (2, 0), 0.8, BOX), ("BACKGROUND", (2, 0), (2, 0), DUE),
                          ("VALIGN", (0, 0), (-1, -1), "TOP")]),
    )  # fmt: skip
    story.append(boxes)
    if ctx["fully_subsidised"]:
        story.append(_p("This project's usage is fully subsidised this period: nothing is due.", muted))

    def heading(text: str) -> Paragraph:
        return _p(text, _style(10.5, bold=True, spaceBefore=12, spaceAfter=4))

    # Charges by service.
    story.append(heading("Charges by service"))
    rows: list[list[Any]] = [["Source", "Service", "Charges", f"List ({currency})", "Discount", "Amount"]]
    # pragma: no mutate end
    for s in ctx["services"]:
        rows.append([s["source"], _wrap_if_long(s["service"], 48, cell), str(s["count"]), cents(s["list"]),
                     cents(s["discount"]), cents(s["amount"])])  # fmt: skip
    # pragma: no mutate start
    if len(rows) == 1:
        rows.append(["", "No usage this period.", "", "", "", ""])
    story.append(_grid(rows, (0.14, 0.4, 0.09, 0.13, 0.12, 0.12), numeric_from=2))

    # pragma: no mutate end
    if ctx["adjustments"]:
        story.append(heading("Credits and adjustments"))  # pragma: no mutate
        rows = [["Kind", "Source", "Service", "List", "Discount", "Amount"]]  # pragma: no mutate
        for ln in ctx["adjustments"]:
            rows.append([ln.get_kind_display(), ln.source, _wrap_if_long(ln.service_name, 40, cell),
                         cents(ln.list_amount), cents(ln.list_amount - ln.amount), cents(ln.amount)])  # fmt: skip
        story.append(_grid(rows, (0.14, 0.14, 0.36, 0.12, 0.12, 0.12), numeric_from=3))  # pragma: no mutate

    # pragma: no mutate start
    story.append(Spacer(1, 6))
    story.append(_grid([[f"Amount due ({currency})", cents(st.amount_due)]], (0.66, 0.34), numeric_from=1,
                       header=False, total=True))  # fmt: skip
    if org.payment_instructions:
        story += [heading("Payment"), _p(org.payment_instructions, _style(8.5))]

    # Charge details, one line per resource, service and kind; the header repeats on each page.
    story.append(heading("Charge details"))
    rows = [["Date", "Resource", "Service", "Quantity", "List", "Discount", "Amount"]]
    # pragma: no mutate end
    for d in ctx["details"]:
        resource = d.resource + (f" ({d.kind})" if d.kind != "usage" else "") + (f" ×{d.count}" if d.count > 1 else "")
        rows.append([
            f"{d.date:%Y-%m-%d}" if d.date else "—", _wrap_if_long(resource, 30, small),
            _wrap_if_long(d.service, 22, small), _wrap_if_long(f"{qty(d.quantity)} {d.unit}".strip(), 14, small),
            cents(d.list_amount), cents(d.discount), cents(d.amount),
        ])  # fmt: skip
    rows.append(["Total", "", "", "", cents(st.list_total), cents(st.discount_total), cents(st.amount_due)])
    # pragma: no mutate start
    story.append(_grid(rows, (0.11, 0.27, 0.2, 0.12, 0.1, 0.1, 0.1), numeric_from=3, total=True))
    notes = []
    if ctx["folded"]:
        notes.append(
            f"The {ctx['folded']} smallest resources are summed on one line; every charge is listed in the "
            "portal and its CSV download."
        )
    notes.append(
        "Amounts and discounts are the provider's exact costs rounded once per statement to cents; lines are "
        "rounded so that they add up to the totals, and each line's list price is its amount plus its discount. "
        f"Questions: {org.contact_email or 'your research computing office'}."
    )
    story.append(KeepTogether([Spacer(1, 6)] + [_p(n, muted) for n in notes]))

    footer = f"{org.name} · Statement {st.number}" + (f" (version {st.version})" if st.version > 1 else "")
    if draft:
        footer += " · DRAFT, not a bill"
    if org.footer_text:
        footer += f" · {org.footer_text}"
    canvas_class = type("StatementCanvas", (_NumberedCanvas,), {"footer_left": " ".join(footer.split())})
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=1.6 * cm, bottomMargin=2.0 * cm,
        title=f"Statement {st.number}", author=org.name, subject=f"{ctx['period']} research computing charges",
    )  # fmt: skip
    on_page = _draft_watermark if draft else (lambda canvas, doc: None)
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page, canvasmaker=canvas_class)
    # pragma: no mutate end
    return out.getvalue(), doc.page
