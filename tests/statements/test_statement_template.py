"""The statement is a template: an installation's own letterhead, the organization's contact, display
names, purchases and tax under their own headings, a footer inside the page below the body."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from billing.models import Source
from chargeback.models import Organization
from statements.models import Statement
from tests.conftest import MINIMAL_HEADER, minimal_row

from .conftest import pdf_text

pytestmark = pytest.mark.django_db(transaction=True)

LETTERHEAD = """{% extends "statements/statement_pdf.html" %}
{% block letterhead %}<img src="letterhead.png" height="1cm">
<h1>Institute of Examples, Finance Office</h1><p>Statement {{ st.number }} for {{ pi.email }}</p>
{% endblock %}"""


def generate(run, focus_files, rows, header=MINIMAL_HEADER, source="aws"):
    path = focus_files.write(f"{source}-2025-01.csv", rows, header)
    assert run("ingest", str(path), "-s", source, "-p", "2025-01").code == 0
    assert run("periods", "close", "2025-01").code == 0
    result = run("generate", "-p", "2025-01")
    assert result.code == 0, result.err
    return Statement.objects.exclude(status="superseded").get()


@pytest.fixture
def template_dir(settings, tmp_path: Path) -> Path:
    """OPENCHARGEBACK_TEMPLATE_DIR as chargeback/settings.py wires it: searched before the project's templates."""
    folder = tmp_path / "installation-templates"
    (folder / "statements").mkdir(parents=True)
    settings.OPENCHARGEBACK_TEMPLATE_DIR = str(folder)
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(folder), *settings.TEMPLATES[0]["DIRS"]]}]
    return folder


def png(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (300, 60), (120, 20, 60)).save(path, format="PNG")


def test_an_override_in_the_template_dir_is_the_statement_with_its_letterhead(run, focus_files, seeded, template_dir):
    (template_dir / "statements" / "statement_pdf.html").write_text(LETTERHEAD, encoding="utf-8")
    png(template_dir / "letterhead.png")

    st = generate(run, focus_files, [minimal_row("42.00", resource="vm-1", service="Compute")])

    data = st.pdf.read()
    text = pdf_text(data)
    assert "Institute of Examples, Finance Office" in text
    assert f"Statement {st.number} for alice@example.edu" in text
    assert "Research Computing\n" not in text  # the default letterhead block is replaced
    assert "USD 42.00" in text and "vm-1" in text and "Page 1 of 1" in text  # the rest is the default's
    assert len(PdfReader(io.BytesIO(data)).pages[0].images) == 1


@pytest.mark.parametrize("asked", ["http://169.254.169.254/latest/meta-data.png", "../../../../etc/passwd"])
def test_a_template_asking_for_a_url_or_a_file_outside_its_folders_is_refused(
    run, focus_files, seeded, template_dir, asked
):
    (template_dir / "statements" / "statement_pdf.html").write_text(
        LETTERHEAD.replace("letterhead.png", asked), encoding="utf-8"
    )
    path = focus_files.write("aws-2025-01.csv", [minimal_row("42.00")])
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0

    result = run("generate", "-p", "2025-01", "--dry-run")

    assert result.code == 1
    assert f"the statement template asks for '{asked}', which is not a file in" in result.err
    assert "\n" not in result.err.strip()


def test_sources_are_shown_by_their_display_names(run, focus_files, seeded):
    Source.objects.create(
        name="it_storage", display_name="Campus Storage", file_pattern="it_storage-*",
        credit_fund_org="RC-OPS", gl_account="54000",
    )  # fmt: skip
    st = generate(run, focus_files, [minimal_row("12.00", service="Project space")], source="it_storage")

    text = pdf_text(st.pdf.read())

    assert "Campus Storage" in text and "it_storage" not in text


def test_purchases_and_tax_are_under_their_own_headings(run, focus_files, seeded):
    header = [*MINIMAL_HEADER, "ChargeCategory"]
    st = generate(run, focus_files, [
        [*minimal_row("100.00", resource="vm-1", service="Compute"), "Usage"],
        [*minimal_row("500.00", resource="ri-1", service="Reserved capacity"), "Purchase"],
        [*minimal_row("8.25", resource="tax-1", service="Sales tax"), "Tax"],
    ], header)  # fmt: skip

    text = pdf_text(st.pdf.read())
    lines = [line.strip() for line in text.splitlines()]

    assert "Credits and adjustments" not in text
    purchases, tax, details = lines.index("Purchases"), lines.index("Tax"), lines.index("Charge details")
    assert purchases < lines.index("Reserved capacity") < tax < lines.index("Sales tax") < details
    assert lines.index("Compute") < purchases  # usage stays under "Charges by service"
    assert "608.25" in lines


def test_the_contact_for_questions_is_the_organizations(run, focus_files, seeded):
    org = Organization.current()
    org.contact_name, org.contact_email, org.contact_phone = "HPC Billing", "hpc-billing@example.edu", "+1 555 0100"
    org.save()
    st = generate(run, focus_files, [minimal_row("42.00")])

    text = pdf_text(st.pdf.read()).replace("\n", " ")

    contact = "HPC Billing · hpc-billing@example.edu · +1 555 0100"
    assert f"Questions about this statement: {contact}; please quote {st.number}" in text
    assert "research computing office" not in text


def test_without_a_contact_the_statement_makes_none_up(run, focus_files, seeded):
    st = generate(run, focus_files, [minimal_row("42.00")])

    text = pdf_text(st.pdf.read())

    assert "Questions" not in text and "research computing office" not in text


def test_quantities_are_never_broken_inside_a_number(run, focus_files, seeded):
    header = [*MINIMAL_HEADER, "PricingQuantity", "PricingUnit"]
    st = generate(run, focus_files, [[*minimal_row("9.99", resource="bucket"), "1286990.7358", "GB-Hours"]], header)

    lines = [line.strip() for line in pdf_text(st.pdf.read()).splitlines()]

    assert "1,286,990.7358 GB-Hours" in lines or "1,286,990.7358" in lines


def text_boxes(page) -> list[tuple[float, float, float, str]]:
    """(left, height above the bottom edge, width, text) of each piece of text on a PDF page."""
    from reportlab.pdfbase.pdfmetrics import registerFont, stringWidth
    from reportlab.pdfbase.ttfonts import TTFont

    fonts = Path(__file__).resolve().parents[2] / "statements" / "static" / "statements" / "fonts"
    for name in ("DejaVuSans", "DejaVuSans-Bold"):
        registerFont(TTFont(name, str(fonts / f"{name}.ttf")))
    found: list[tuple[float, float, float, str]] = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            x, y = tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            face = "DejaVuSans-Bold" if "Bold" in str((font or {}).get("/BaseFont", "")) else "DejaVuSans"
            found.append((x, y, stringWidth(text.strip(), face, size), text.strip()))

    page.extract_text(visitor_text=visit)
    return found


def test_the_footer_is_inside_every_page_below_the_body_with_page_n_of_m(run, focus_files, seeded):
    org = Organization.current()
    org.footer_text = "A service of the Office of the Vice Provost; tax id 12-3456789. " * 8
    org.save()
    rows = [minimal_row(f"{i}.50", resource=f"job-{i:04d}", service=f"Partition {i % 5}") for i in range(1, 121)]
    st = generate(run, focus_files, rows)

    pages = PdfReader(io.BytesIO(st.pdf.read())).pages
    assert len(pages) == st.pdf_pages >= 3
    for number, page in enumerate(pages, start=1):
        width = float(page.mediabox.width)
        boxes = text_boxes(page)
        is_footer = [t.startswith(("Research Computing ·", "Page ")) or t.rstrip("…") in org.footer_text
                     for *_, t in boxes]  # fmt: skip
        footer = [b for b, f in zip(boxes, is_footer, strict=True) if f]
        body = [b for b, f in zip(boxes, is_footer, strict=True) if not f]
        page_n = [b for b in footer if b[3] == f"Page {number} of {len(pages)}"]
        assert page_n and body, f"page {number}"
        assert max(y for _, y, _, _ in footer) < min(y for _, y, _, _ in body), f"page {number}: footer over the body"
        for x, y, w, text in footer:
            assert x > 0 and x + w <= width and y > 0, f"page {number}: {text!r} off the page"
            if abs(y - page_n[0][1]) < 1 and text != page_n[0][3]:
                assert x + w < page_n[0][0], f"page {number}: {text!r} runs into {page_n[0][3]!r}"


@pytest.mark.parametrize("guess", [1, 9])
def test_page_n_of_m_counts_the_pdfs_pages_whatever_was_estimated(run, focus_files, seeded, monkeypatch, guess):
    from statements.services.render import statement_render_to_bytes

    rows = [minimal_row(f"{i}.50", resource=f"job-{i:04d}") for i in range(1, 61)]
    st = generate(run, focus_files, rows)
    monkeypatch.setattr("statements.services.pdf.estimate_pages", lambda ctx: guess)

    data, pages = statement_render_to_bytes(st)

    text = pdf_text(data)
    assert pages == st.pdf_pages == len(PdfReader(io.BytesIO(data)).pages) > 1
    assert all(f"Page {n} of {pages}" in text for n in range(1, pages + 1))
    assert f"of {guess}\n" not in text
