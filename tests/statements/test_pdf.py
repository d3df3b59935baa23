"""The statement PDF: what a PI and a grant administrator read, checked with a text extractor."""

from __future__ import annotations

import pytest

from billing.models import PI
from chargeback.models import Organization
from statements.models import Statement
from tests.conftest import MINIMAL_HEADER, minimal_row, tags

from .conftest import pdf_text

pytestmark = pytest.mark.django_db(transaction=True)


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
