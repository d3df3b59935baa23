"""The export page of a period: only the finance admin exports; preview, export, history, reconciliation."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from billing.models import BillingPeriod, Source
from journals.models import JournalExport, JournalFormat

from .conftest import PERIOD


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def export_url() -> str:
    return f"/admin/journals/journalexport/period/{BillingPeriod.objects.get(period=PERIOD).pk}/"


def test_the_finance_admin_previews_then_exports(finance_admin, closed_period):
    client = logged_in(finance_admin)

    page = client.get(export_url())
    assert page.status_code == 200
    assert 'id="reconciliation"' in page.content.decode()

    preview = client.post(export_url(), {"journal_format": "gl", "preview": "1"})
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "fund,orgn,account,program,activity,location,debit,credit,description,reference_id" in html
    assert "6 lines from 3 statements" in html
    assert not JournalExport.objects.exists()  # a preview saves nothing

    done = client.post(export_url(), {"journal_format": "gl", "export": "1"}, follow=True)
    assert done.status_code == 200
    export = JournalExport.objects.get()
    assert export.actor == "finance@example.edu"
    assert f"Exported journal {export.number}" in done.content.decode()
    assert export.number in done.content.decode()  # in the history

    download = client.get(f"/admin/journals/journalexport/{export.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download.getvalue().startswith(b"fund,orgn,account")


@pytest.mark.parametrize("persona", ["reviewer", "viewer"])
def test_reviewers_and_viewers_cannot_export(request, persona, closed_period):
    client = logged_in(request.getfixturevalue(persona))

    assert client.get(export_url()).status_code == 403
    assert client.post(export_url(), {"journal_format": "gl", "export": "1"}).status_code == 403
    assert not JournalExport.objects.exists()


def test_the_role_permissions(finance_admin, reviewer, viewer):
    assert finance_admin.has_perm("journals.export_journal")
    assert not reviewer.has_perm("journals.export_journal")
    assert not viewer.has_perm("journals.export_journal")
    assert viewer.has_perm("journals.view_journalexport")


def test_a_viewer_browses_the_history_and_downloads(run, viewer, closed_period):
    run("export-journal", "-p", PERIOD)
    client = logged_in(viewer)

    listing = client.get("/admin/journals/journalexport/")
    assert listing.status_code == 200 and f"{PERIOD}-J001" in listing.content.decode()
    assert "Export a period's journal" not in listing.content.decode()
    export = JournalExport.objects.get()
    assert client.get(f"/admin/journals/journalexport/{export.pk}/download/").status_code == 200


def test_problems_are_listed_on_the_page(finance_admin, closed_period):
    Source.objects.filter(name__in=["aws", "hpc"]).update(credit_fund_org="")

    page = logged_in(finance_admin).post(export_url(), {"journal_format": "gl", "export": "1"})

    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="problems"' in html
    assert "source aws has no credit fund/org" in html and "source hpc has no credit fund/org" in html
    assert not JournalExport.objects.exists()


def test_an_open_period_says_to_close_it_first(finance_admin, imported):
    page = logged_in(finance_admin).post(export_url(), {"journal_format": "gl", "preview": "1"}, follow=True)

    assert "is open; a journal is built from statements" in page.content.decode()


def test_the_reconciliation_panel_highlights_a_missing_journal(finance_admin, closed_period, run):
    client = logged_in(finance_admin)

    before = client.get(export_url()).content.decode()
    assert before.count('class="mismatch"') == 2  # journal debits and credits

    run("export-journal", "-p", PERIOD)
    after = client.get(export_url()).content.decode()
    assert 'class="mismatch"' not in after


INCLUDE = '{{ fund }},{% include "admin/base.html" %}'


def test_a_template_that_includes_another_is_a_form_error_not_a_format(finance_admin):
    client = logged_in(finance_admin)

    page = client.post("/admin/journals/journalformat/add/", {
        "name": "sneaky", "kind": "template", "description": "", "enabled": "on",
        "fund_org_regex": r"^(?P<orgn>[^-]+)-(?P<fund>.+)$", "account_code_regex": "", "default_account": "",
        "group_by": "fund_org", "debit_description": "{source}", "credit_description": "{source}",
        "max_description_length": "35", "date_format": "%Y-%m-%d", "number_format": "dot",
        "header_template": "", "row_template": INCLUDE,
    })  # fmt: skip

    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert errors["row_template"] == [
        "template error: {% include %} is not allowed; a journal template cannot load others"
    ]
    assert not JournalFormat.objects.filter(name="sneaky").exists()


def test_a_template_that_fails_on_a_sample_line_is_a_form_error(db):
    fmt = JournalFormat(
        name="divides", kind="template", row_template="{{ line_number|divisibleby:0 }}", header_template="{% now %}"
    )

    with pytest.raises(ValidationError) as refused:
        fmt.full_clean()

    errors = refused.value.message_dict
    assert errors["row_template"][0].startswith("template error while rendering: ZeroDivisionError")
    assert errors["header_template"][0].startswith("template error")


def test_a_saved_template_that_includes_another_is_refused_at_preview_and_export_with_its_reason(
    finance_admin, closed_period, run
):
    JournalFormat.objects.create(name="sneaky", kind="template", row_template=INCLUDE)  # saved before the check
    client = logged_in(finance_admin)

    preview = client.post(export_url(), {"journal_format": "sneaky", "preview": "1"})
    done = client.post(export_url(), {"journal_format": "sneaky", "export": "1"}, follow=True)
    cli = run("export-journal", "-p", PERIOD, "-f", "sneaky")

    said = "journal format sneaky: template error: {% include %} is not allowed"
    assert preview.status_code == 200 and said in preview.content.decode().lower()
    assert done.status_code == 200 and said in done.content.decode().lower()
    assert cli.code == 1 and cli.err.startswith(said) and len(cli.err.splitlines()) == 1
    assert not JournalExport.objects.exists()
