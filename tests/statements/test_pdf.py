"""The statement PDF: what a PI and a grant administrator read, checked with a text extractor."""

from __future__ import annotations

import base64
import io
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from billing.models import PI
from chargeback.errors import RenderError
from chargeback.models import Organization
from statements.models import Statement
from tests.conftest import MINIMAL_HEADER, minimal_row, tags

from .conftest import ALICE, BOB, pdf_text

pytestmark = pytest.mark.django_db(transaction=True)
# A 1×1 PNG, for a logo or a letterhead.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


def generate(run, focus_files, rows, header=MINIMAL_HEADER):
    assert (
        run("ingest", str(focus_files.write("aws-2025-01.csv", rows, header)), "-s", "aws", "-p", "2025-01").code == 0
    )
    assert run("periods", "close", "2025-01").code == 0
    result = run("generate", "-p", "2025-01")
    assert result.code == 0, result.err
    return Statement.objects.exclude(status="superseded").order_by("number")


def test_the_pdf_shows_the_pi_project_totals_and_lines(run, focus_files, seeded):
    org = Organization.current()
    org.name, org.payment_instructions = "Université Research Computing", "Journal transfer on the 15th."
    org.save()
    rows = [
        minimal_row("80.00", listed="100.00", resource="gpu-node-7", service="GPU hours",
                    tag_json=tags("jose@example.edu", "lattice-qcd", "PHY-2025-007")),
        minimal_row("19.99", listed="20.00", resource="scratch", service="Storage",
                    tag_json=tags("jose@example.edu", "lattice-qcd", "PHY-2025-007")),
    ]  # fmt: skip
    st = generate(run, focus_files, rows).get()
    PI.objects.filter(email="jose@example.edu").update(name="José Núñez")  # shown from the next render on
    st.pi.refresh_from_db()
    from statements.services.render import statement_render_to_bytes

    text = pdf_text(statement_render_to_bytes(st)[0])
    for expected in (
        "Université Research Computing", "2025-01-000001", "José Núñez", "jose@example.edu", "lattice-qcd",
        "PHY-2025-007", "USD 120.00", "USD 20.01", "USD 99.99", "16.7%", "GPU hours", "gpu-node-7",
        "Journal transfer on the 15th.", "Page 1",
    ):  # fmt: skip
        assert expected in text, expected
    assert "$" not in text and "DRAFT" not in text


def test_the_currency_comes_from_the_data(run, focus_files, seeded):
    org = Organization.current()
    org.expected_currency = "EUR"
    org.save()
    header = [*MINIMAL_HEADER, "BillingCurrency"]
    st = generate(run, focus_files, [[*minimal_row("42.00"), "EUR"]], header).get()
    text = pdf_text(st.pdf.read())
    assert st.currency == "EUR" and "EUR 42.00" in text and "USD" not in text


def test_hundreds_of_lines_flow_over_pages_with_page_numbers(run, focus_files, seeded, settings):
    rows = [minimal_row(f"{i}.25", resource=f"job-{i:04d}", service=f"Partition {i % 7}") for i in range(1, 351)]
    st = generate(run, focus_files, rows).get()
    text = pdf_text(st.pdf.read())
    assert st.pdf_pages >= 5
    assert f"Page {st.pdf_pages}" in text
    assert "job-0001" in text and "job-0350" in text
    assert "61,512.50" in text  # 1.25 + 2.25 + … + 350.25, the amount due on the last page


def test_very_many_resources_are_summed_on_one_line_beyond_the_limit(run, focus_files, seeded, settings):
    settings.OPENCHARGEBACK_STATEMENT_DETAIL_LINES = 10
    rows = [minimal_row("1.00", resource=f"job-{i:04d}") for i in range(1, 31)]
    st = generate(run, focus_files, rows).get()
    text = pdf_text(st.pdf.read())
    assert "21 other resources" in text and "USD 30.00" in text


def test_long_emails_and_project_ids_render(run, focus_files, seeded):
    email = "a.very.long.principal.investigator.name@department-of-computational-biology.example.edu"
    project = "project-with-an-extremely-long-identifier-from-the-cloud-account-2025"
    st = generate(run, focus_files, [minimal_row("3.00", tag_json=tags(email, project, "BIO-1"))]).get()
    text = pdf_text(st.pdf.read()).replace("\u200b", "").replace("\n", "")
    assert email in text and project in text


def test_a_fully_subsidised_statement_shows_the_list_price_and_nothing_due(run, focus_files, seeded):
    st = generate(run, focus_files, [minimal_row("0", listed="250.00", service="HPC")]).get()
    text = pdf_text(st.pdf.read())
    assert "USD 250.00" in text and "USD 0.00" in text and "100.0%" in text and "fully subsidised" in text


def test_the_organizations_logo_is_drawn_and_other_paths_are_not_read(run, focus_files, seeded, tmp_path):
    import io

    from django.core.files.base import ContentFile
    from PIL import Image as PILImage
    from pypdf import PdfReader

    buffer = io.BytesIO()
    PILImage.new("RGB", (120, 40), (20, 90, 160)).save(buffer, format="PNG")
    org = Organization.current()
    org.logo.save("logo.png", ContentFile(buffer.getvalue()), save=True)
    st = generate(run, focus_files, [minimal_row("1.00")]).get()
    page = PdfReader(io.BytesIO(st.pdf.read())).pages[0]
    assert len(page.images) == 1

    from statements.services.render import statement_context

    Organization.objects.filter(pk=org.pk).update(logo="../../etc/passwd")
    assert statement_context(st, draft=False)["logo_path"] == ""  # outside branding/: ignored


def test_the_header_says_what_is_due_by_fund_and_every_page_counts_the_pages(run, focus_files, seeded):
    """GPU hours bill 60.005 on NIH-R01 and CPU hours 40.004 on NSF-2, both at list.

    Amount due 100.009 -> 100.01: cut 60.00 + 40.00, the missing cent to the larger remainder, GPU
    hours' 0.005: 60.01 and 40.00, which is also what each fund pays. Nothing is amortized ("Amount
    due", no note) and a list price is due, so nothing is fully subsidised.

    The payment instructions are 120 short lines: counted by characters, the first layout's estimate is
    fewer pages than the layout has, so the statement is laid out again and each page says "of" the
    real count. The draft of it says so on the page.
    """
    from django.utils import timezone

    from statements.services.pdf import estimate_pages
    from statements.services.render import statement_context, statement_render_to_bytes

    org = Organization.current()
    org.contact_name, org.contact_email, org.contact_phone = "RC Office", "rc@example.edu", "+1 555 0100"
    org.payment_instructions = "\n".join(f"Step {i}." for i in range(1, 121))
    org.save()
    rendered_on = {timezone.localdate()}  # and the day after, should the render cross midnight
    st = generate(run, focus_files, [
        minimal_row("60.005", resource="gpu-1", service="GPU hours", tag_json=tags(fund="NIH-R01")),
        minimal_row("40.004", resource="cpu-1", service="CPU hours", tag_json=tags(fund="NSF-2")),
    ]).get()  # fmt: skip
    assert st.amount_due == Decimal("100.01")
    pages = st.pdf_pages
    assert pages > estimate_pages(statement_context(st, draft=False)) >= 1  # laid out again with the real count

    text = " ".join(pdf_text(st.pdf.read()).split())
    rendered_on.add(timezone.localdate())
    assert any(f"Date {day:%Y-%m-%d} Billing period 2025-01 Currency USD" in text for day in rendered_on)
    for expected in (
        "RC Office · rc@example.edu · +1 555 0100",
        "Amount due USD 100.01",
        "Amount due by fund Fund/org Amount (USD) NIH-R01 60.01 NSF-2 40.00 Amount due (USD) 100.01",
        *(f"Page {n} of {pages}" for n in range(1, pages + 1)),
    ):
        assert expected in text, expected
    assert "Amortized cost" not in text and "fully subsidised" not in text and "DRAFT" not in text

    draft = " ".join(pdf_text(statement_render_to_bytes(st, draft=True)[0]).split())
    assert "DRAFT statement" in draft and "DRAFT, not a bill" in draft


def test_the_amount_due_says_when_all_or_part_of_it_is_amortized_cost(run, focus_files, seeded):
    """AWS bills on the effective basis (EffectiveCost), research storage on the billed one.

    Alice: AWS usage billed 0, effective 6.00, list 10.00: all amortized, "Amount due (amortized
    cost)" 6.00. Bob: AWS usage effective 4.50 (list 7.50) and storage 3.00 billed: partly amortized,
    "Amount due (partly amortized cost)" 4.50 + 3.00 = 7.50. Both say what amortized cost is.
    """
    effective = MINIMAL_HEADER.index("EffectiveCost")

    def aws(listed, cost, resource, pi):
        row = minimal_row("0", listed=listed, resource=resource, tag_json=tags(pi, "p-" + resource))
        row[effective] = cost
        return row

    assert run("sources", "set", "aws", "--billing-basis", "effective").code == 0
    aws_rows = [aws("10.00", "6.00", "i-a", ALICE), aws("7.50", "4.50", "i-b", BOB)]
    storage_rows = [minimal_row("3.00", resource="i-b", service="Disk", tag_json=tags(BOB, "p-i-b"))]
    for source, rows in (("aws", aws_rows), ("storage", storage_rows)):
        path = focus_files.write(f"{source}-2025-01.csv", rows)
        assert run("ingest", str(path), "-s", source, "-p", "2025-01").code == 0
    assert run("periods", "close", "2025-01").code == 0
    assert run("generate", "-p", "2025-01").code == 0

    shown = {}
    for st in Statement.objects.exclude(status="superseded"):
        text = " ".join(pdf_text(st.pdf.read()).split())
        shown[st.pi.email] = (st.amount_due, "Amortized cost: commitment purchases are spread" in text, text)
    assert shown[ALICE][:2] == (Decimal("6.00"), True) and "Amount due (amortized cost) USD 6.00" in shown[ALICE][2]
    assert shown[BOB][:2] == (Decimal("7.50"), True)
    assert "Amount due (partly amortized cost) USD 7.50" in shown[BOB][2]


def test_only_a_list_price_with_nothing_due_is_fully_subsidised(run, focus_files, seeded):
    """Alice's HPC lists 0.75 and bills 0: fully subsidised, the list price struck through and nothing due.
    Bob's 1.00 of usage and a 1.00 refund (approved) list 1.00 - 1.00 = 0.00 and bill 0.00: nothing is
    due, but nothing was subsidised either."""
    rows = [
        minimal_row("0", listed="0.75", resource="job-1", service="HPC", tag_json=tags(ALICE, "a")),
        minimal_row("1.00", resource="vm-1", tag_json=tags(BOB, "b")),
        minimal_row("-1.00", resource="refund", tag_json=tags(BOB, "b")),
    ]
    assert run("ingest", str(focus_files.write("aws-2025-01.csv", rows)), "-s", "aws", "-p", "2025-01").code == 0
    assert run("review", "approve", "-p", "2025-01").code == 0
    assert run("periods", "close", "2025-01").code == 0
    assert run("generate", "-p", "2025-01").code == 0

    alice, bob = (Statement.objects.exclude(status="superseded").get(pi__email=pi) for pi in (ALICE, BOB))
    assert (alice.list_total, alice.amount_due, bob.list_total, bob.amount_due) == (
        Decimal("0.75"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))  # fmt: skip
    alice_text, bob_text = (" ".join(pdf_text(st.pdf.read()).split()) for st in (alice, bob))
    assert "USD 0.75" in alice_text and "fully subsidised this period: nothing is due" in alice_text
    assert "fully subsidised" not in bob_text


def test_a_logo_outside_branding_or_missing_is_not_drawn(run, focus_files, seeded, settings):
    """Only a file inside the media folder's branding/ is drawn: another file in the media folder and a
    name in branding/ with no file are left out, and the statement renders without a logo."""
    from statements.services.render import statement_context, statement_render_to_bytes

    elsewhere = Path(settings.MEDIA_ROOT) / "elsewhere" / "logo.png"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_bytes(PNG)
    (Path(settings.MEDIA_ROOT) / "branding").mkdir()
    st = generate(run, focus_files, [minimal_row("1.00")]).get()
    for name in ("elsewhere/logo.png", "branding/gone.png"):
        Organization.objects.update(logo=name)
        assert statement_context(st, draft=False)["logo_path"] == "", name
        data, _pages = statement_render_to_bytes(st)
        assert len(PdfReader(io.BytesIO(data)).pages[0].images) == 0, name


def installation_template(settings, folder, body):
    """Put `body` in `folder` as the installation's statements/statement_pdf.html and use that folder."""
    (folder / "statements").mkdir(parents=True)
    (folder / "statements" / "statement_pdf.html").write_text(body)
    settings.OPENCHARGEBACK_TEMPLATE_DIR = str(folder)
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [folder, *settings.TEMPLATES[0]["DIRS"][-1:]]}]


def test_an_installation_template_draws_its_own_files_and_nothing_else(run, focus_files, seeded, settings, tmp_path):
    """An installation's template extends the default one, draws a letterhead from its own folder and
    lists the statement's lines (Compute 1.00, Storage 2.00) from the same context. A template that
    asks for a URL, or for a file outside its folders through "../", fails the render naming it."""
    from statements.services.render import statement_render_to_bytes

    st = generate(run, focus_files, [
        minimal_row("1.00", resource="vm-1", service="Compute"), minimal_row("2.00", resource="b-1", service="Storage"),
    ]).get()  # fmt: skip
    own = tmp_path / "own"
    installation_template(settings, own, (
        '{% extends "statements/statement_pdf.html" %}{% load statement_tags %}'
        '{% block letterhead %}<img src="letterhead.png" height="1cm">'
        "<p>Lines: {% for ln in lines %}{{ ln.service_name }} {{ ln.amount|cents }}; {% endfor %}</p>{% endblock %}"
    ))  # fmt: skip
    (own / "letterhead.png").write_bytes(PNG)
    data, _pages = statement_render_to_bytes(st)
    assert len(PdfReader(io.BytesIO(data)).pages[0].images) == 1
    assert "Lines: Compute 1.00; Storage 2.00;" in " ".join(pdf_text(data).split())

    (tmp_path / "outside.png").write_bytes(PNG)
    for folder, name in ((tmp_path / "url", "https://example.com/logo.png"), (tmp_path / "up", "../outside.png")):
        installation_template(settings, folder, f'<html><body><img src="{name}"><p>x</p></body></html>')
        with pytest.raises(RenderError, match=f"the statement template asks for '{name}', which is not a file in"):
            statement_render_to_bytes(st)
