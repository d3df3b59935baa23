"""The period page is the month's cockpit: figures, imports per source, the checklist, statements
and email, the journal and its reconciliation, the history, and the next moves as buttons."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing.models import BillingPeriod, Charge
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db


@pytest.fixture
def month(run, focus_files):
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10.005", tag_json=tags("alice@example.edu", "genomics", "BIO-1")),
        minimal_row("20.25", resource="orphan", tag_json=tags(pi=None)),
    ])  # fmt: skip
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    return BillingPeriod.objects.get(period="2025-01")


def cockpit(client, period):
    return client.get(reverse("admin:billing_billingperiod_change", args=[period.pk]))


def buttons(html):
    """The move buttons: (form action, button label)."""
    forms = re.findall(r'<form method="post" action="([^"]+)" class="ocb-move">(.*?)</form>', html, re.S)
    return [(action, re.search(r"<button[^>]*>([^<]+)</button>", body).group(1)) for action, body in forms]


def test_it_shows_the_figures_imports_checklist_and_history(client, finance_admin, month):
    client.force_login(finance_admin)
    html = cockpit(client, month).content.decode()
    figures = html[html.index('id="cockpit-figures"') : html.index('id="cockpit-imports"')]
    assert 'title="10.005 USD">10.01 USD<' in figures  # billed, to the cent, exact on hover
    assert 'title="20.25 USD">20.25 USD<' in figures  # flagged
    imports = html[html.index('id="cockpit-imports"') :]
    assert "Amazon Web Services" in imports or "aws" in imports.lower()
    assert '<span class="ocb-badge">missing</span>' in imports  # an enabled source without an import
    checklist = html[html.index('id="cockpit-checklist"') : html.index('id="cockpit-figures"')]
    assert '<a href="/admin/billing/charge/?period=2025-01">1 flagged charge not yet decided' in checklist
    history = html[html.index('id="cockpit-history"') :]
    assert "open" in history and "period.open" not in history


def test_statements_and_journal_come_in_as_sections_with_their_actions(client, finance_admin, month, run):
    flagged = [str(pk) for pk in Charge.objects.filter(review_state="flagged").values_list("pk", flat=True)]
    assert run("review", "reject", "--id", *flagged).code == 0
    closed = run("periods", "close", "2025-01")
    assert closed.code == 0, closed.err
    client.force_login(finance_admin)
    page = cockpit(client, month)
    titles = [s.title for s in page.context["sections"]]
    assert titles == ["Statements and email", "Journal and reconciliation"]
    html = page.content.decode()
    assert "/admin/statements/statement/period/2025-01/" in html and ">Generate statements<" in html
    assert f"/admin/journals/journalexport/period/{month.pk}/" in html and ">Export journal<" in html
    assert "No journal exported yet." in html
    assert "the reconciliation starts once they are generated" in html  # no false alarm before statements
    assert "Draft (PDF pending) <strong>0</strong>" in html


def test_close_and_reopen_are_buttons_that_move_the_period_here(client, finance_admin, month, run):
    flagged = [str(pk) for pk in Charge.objects.filter(review_state="flagged").values_list("pk", flat=True)]
    assert run("review", "reject", "--id", *flagged).code == 0  # nothing blocks closing
    client.force_login(finance_admin)
    move = reverse("admin:billing_billingperiod_move", args=[month.pk, "closed"])
    html = cockpit(client, month).content.decode()
    assert buttons(html) == [(move, "Close period")]
    assert html.index('class="ocb-move"') < html.index('id="billingperiod_form"')  # never a nested form
    response = client.post(move, {"cockpit": "1", "reason": ""})
    assert response["Location"] == reverse("admin:billing_billingperiod_change", args=[month.pk])
    month.refresh_from_db()
    assert month.status == "closed"
    html = cockpit(client, month).content.decode()
    reopen = reverse("admin:billing_billingperiod_move", args=[month.pk, "open"])
    assert (reopen, "Reopen period") in buttons(html) and 'name="reason" id="cockpit-reason" required' in html


def test_a_refused_move_comes_back_to_the_page_with_the_reason(client, finance_admin, month, run):
    # Closed before closing checked readiness: finalizing is refused while a flag remains.
    BillingPeriod.objects.filter(pk=month.pk).update(status="closed")
    client.force_login(finance_admin)
    move = reverse("admin:billing_billingperiod_move", args=[month.pk, "finalized"])
    response = client.post(move, {"cockpit": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:billing_billingperiod_change", args=[month.pk])
    assert "1 flagged charge not yet decided" in response.content.decode()
    month.refresh_from_db()
    assert month.status == "closed"


def test_a_reviewer_gets_no_move_buttons_but_the_link_to_review(client, reviewer, month):
    client.force_login(reviewer)
    html = cockpit(client, month).content.decode()
    assert buttons(html) == []
    assert '<a href="/admin/billing/charge/?period=2025-01">1 flagged charge' in html
