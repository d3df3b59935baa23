"""The review queue decides row by row: what a reviewer needs to see, Approve / Reject / Fix on
each flagged charge (and on its own page), approve all in the filter, open periods by default."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing.models import BillingPeriod, Charge, ReviewDecision
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db
QUEUE = reverse("admin:billing_charge_changelist")


@pytest.fixture
def month(run, focus_files):
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10", resource="ok-1"),
        minimal_row("20.25", resource="orphan", tag_json=tags(pi=None)),
        minimal_row("5.10", resource="nofund", tag_json=tags(project="p9", fund=None)),
    ])  # fmt: skip
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    return {c.resource_id: c for c in Charge.objects.all()}


def shown(page):
    return {c.resource_id for c in page.context["cl"].result_list}


def review_url(charge, decision, **query):
    url = reverse("admin:billing_charge_review", args=[charge.pk, decision])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_the_queue_shows_what_a_reviewer_decides_on_with_reasons_in_words(client, reviewer, month):
    client.force_login(reviewer)
    page = client.get(QUEUE)
    headers = [h["text"] for h in page.context["result_headers"]]
    assert headers[1:] == ["Period", "PI", "Project", "Service", "Billed", "Flags", "Decide"]
    html = page.content.decode()
    assert '<span class="oc-badge">Missing PI</span>' in html and ">missing_pi<" not in html
    assert '<span class="oc-badge">Missing fund/org</span>' in html
    assert f'href="{review_url(month["orphan"], "approve")}"' in html


def test_the_queue_defaults_to_open_periods(client, reviewer, month, run):
    client.force_login(reviewer)
    assert shown(client.get(QUEUE)) == {"orphan", "nofund"}
    # Closed with flags (a month closed before closing checked readiness): not in the default queue.
    BillingPeriod.objects.filter(period="2025-01").update(status="closed")
    assert shown(client.get(QUEUE)) == set()
    assert shown(client.get(f"{QUEUE}?period=all")) == {"orphan", "nofund"}
    assert shown(client.get(f"{QUEUE}?period=2025-01")) == {"orphan", "nofund"}


def test_a_row_is_approved_with_a_note_after_seeing_why_it_was_flagged(client, reviewer, month):
    client.force_login(reviewer)
    orphan = month["orphan"]
    confirm = client.get(review_url(orphan, "approve", filters="reason%3Dmissing_pi"))
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Missing PI" in html and 'value="Approve charge"' in html
    assert Charge.objects.get(pk=orphan.pk).review_state == "flagged"  # nothing before confirming
    done = client.post(
        review_url(orphan, "approve"),
        {"confirm": "yes", "note": "lab manager confirmed", "filters": "reason=missing_pi"},
    )
    assert done.status_code == 302 and done["Location"] == f"{QUEUE}?reason=missing_pi"
    assert Charge.objects.get(pk=orphan.pk).review_state == "approved"
    assert ReviewDecision.objects.get(charge=orphan).note == "lab manager confirmed"
    assert [str(m) for m in done.wsgi_request._messages] == ["Approved 1 charge (20.25)."]


def test_a_row_is_rejected_or_its_attribution_fixed(client, reviewer, month):
    client.force_login(reviewer)
    client.post(review_url(month["orphan"], "reject"), {"confirm": "yes", "note": "not ours"})
    assert Charge.objects.get(pk=month["orphan"].pk).review_state == "rejected"
    form = client.get(review_url(month["nofund"], "fix"))
    assert b"Fund/org" in form.content and b"Missing fund/org" in form.content
    client.post(review_url(month["nofund"], "fix"), {"confirm": "yes", "fund_org": "BIO-2025-001", "reason": "per PI"})
    nofund = Charge.objects.get(pk=month["nofund"].pk)
    assert (nofund.fund_org, nofund.review_state) == ("BIO-2025-001", "ok")


def test_approve_all_in_this_filter_is_one_button(client, reviewer, month):
    client.force_login(reviewer)
    page = client.get(f"{QUEUE}?reason=missing_pi")
    assert page.context["approve_all"]["count"] == 1
    html = page.content.decode()
    assert "Approve all 1 in this filter…" in html
    # Its own form, outside the queue's action form (a nested form would merge into it).
    assert html.index("Approve all 1 in this filter") < html.index('id="changelist-form"')
    form = {"action": "approve_selected", "select_across": "1", "index": "0",
            "_selected_action": str(page.context["approve_all"]["any"])}  # fmt: skip
    confirm = client.post(f"{QUEUE}?reason=missing_pi", form)
    assert confirm.status_code == 200 and b"Missing PI" in confirm.content
    client.post(f"{QUEUE}?reason=missing_pi", {**form, "confirm": "yes", "note": "all of them"})
    assert Charge.objects.get(pk=month["orphan"].pk).review_state == "approved"
    assert Charge.objects.get(pk=month["nofund"].pk).review_state == "flagged"  # outside the filter


def test_the_charge_page_offers_the_decisions_to_reviewers_only(client, reviewer, viewer, month):
    orphan = month["orphan"]
    page = reverse("admin:billing_charge_change", args=[orphan.pk])
    client.force_login(reviewer)
    html = client.get(page).content.decode()
    for decision in ("approve", "reject", "fix"):
        assert review_url(orphan, decision) in html
    client.force_login(viewer)
    html = client.get(page).content.decode()
    assert review_url(orphan, "approve") not in html
    assert client.get(review_url(orphan, "approve")).status_code == 403
    assert "Decide" not in [h["text"] for h in client.get(QUEUE).context["result_headers"]]
