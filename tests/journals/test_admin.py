"""The export page of a period: only the finance admin exports; preview, export, history, reconciliation."""

from __future__ import annotations

import pytest
from django.test import Client

from billing.models import BillingPeriod, Source
from journals.models import JournalExport

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
