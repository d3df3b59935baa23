"""The review queue in the admin: filters, totals, approve / reject / fix attribution, permissions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing.models import BillingPeriod, Charge, ReviewDecision
from chargeback.models import AuditEvent
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db
QUEUE = reverse("admin:billing_charge_changelist")


@pytest.fixture
def month(run, focus_files):
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10", resource="ok-1"),
        minimal_row("20.25", resource="orphan", tag_json=tags(pi=None)),
        minimal_row("5.10", resource="nofund", tag_json=tags(project="p9", fund=None)),
        minimal_row("-3", resource="credit"),
    ])  # fmt: skip
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    return {c.resource_id: c for c in Charge.objects.all()}


def post_action(client, action, ids, url=QUEUE, **extra):
    data = {"action": action, "_selected_action": [str(i) for i in ids], "index": "0", **extra}
    return client.post(url, data)


def test_the_queue_shows_flagged_charges_and_their_total(client, reviewer, month):
    client.force_login(reviewer)
    page = client.get(QUEUE)
    assert page.status_code == 200
    shown = {c.resource_id for c in page.context["cl"].result_list}
    assert shown == {"orphan", "nofund", "credit"}
    assert page.context["filtered_totals"]["amounts"] == ["22.35 USD"]
    assert b"3 charges in this view" in page.content


@pytest.mark.parametrize(
    "query, expected",
    [
        ("reason=missing_pi", {"orphan"}),
        ("reason=negative_amount", {"credit"}),
        ("amount=negative", {"credit"}),
        ("amount=0-100", {"orphan", "nofund"}),
        ("review=all", {"ok-1", "orphan", "nofund", "credit"}),
        ("review=ok", {"ok-1"}),
        ("period=2025-01&project=p9", {"nofund"}),
        ("pi=ALICE@example.edu", {"nofund", "credit"}),
        ("q=orphan", {"orphan"}),
    ],
)
def test_the_queue_filters_and_searches(client, reviewer, month, query, expected):
    client.force_login(reviewer)
    page = client.get(f"{QUEUE}?{query}")
    assert {c.resource_id for c in page.context["cl"].result_list} == expected


def test_approving_asks_for_a_note_then_records_it(client, reviewer, month):
    client.force_login(reviewer)
    orphan = month["orphan"]
    confirm = post_action(client, "approve_selected", [orphan.pk])
    assert confirm.status_code == 200 and b"Approve charges" in confirm.content
    orphan.refresh_from_db()
    assert orphan.review_state == "flagged"  # nothing happens before confirming
    done = post_action(client, "approve_selected", [orphan.pk], confirm="yes", note="lab confirmed")
    assert done.status_code == 302
    orphan.refresh_from_db()
    assert orphan.review_state == "approved"
    decision = ReviewDecision.objects.get(charge=orphan)
    assert (decision.note, decision.actor) == ("lab confirmed", "reviewer@example.edu")
    assert AuditEvent.objects.filter(
        action="charge.approve", object_id=str(orphan.pk), actor="reviewer@example.edu"
    ).exists()
    assert orphan.pk not in {c.pk for c in client.get(QUEUE).context["cl"].result_list}


def test_approve_all_in_this_filter_uses_select_across(client, reviewer, month):
    client.force_login(reviewer)
    url = f"{QUEUE}?reason=missing_fund_org"
    data = {"action": "approve_selected", "select_across": "1", "index": "0", "confirm": "yes", "note": "bulk"}
    response = client.post(url, {**data, "_selected_action": [str(month["nofund"].pk)]})
    assert response.status_code == 302
    assert Charge.objects.get(resource_id="nofund").review_state == "approved"
    assert Charge.objects.get(resource_id="orphan").review_state == "flagged"


def test_rejecting_keeps_the_charge(client, reviewer, month):
    client.force_login(reviewer)
    post_action(client, "reject_selected", [month["credit"].pk], confirm="yes", note="not ours")
    assert Charge.objects.get(resource_id="credit").review_state == "rejected"
    assert Charge.objects.count() == 4


def test_fixing_attribution_reruns_the_rules_and_records_before_and_after(client, reviewer, month):
    client.force_login(reviewer)
    orphan = month["orphan"]
    needs_reason = post_action(client, "reattribute_selected", [orphan.pk], confirm="yes", pi_email="bob@example.edu")
    assert needs_reason.status_code == 200 and b"This field is required" in needs_reason.content
    post_action(client, "reattribute_selected", [orphan.pk], confirm="yes", pi_email="Bob@Example.edu",
                reason="ticket 42")  # fmt: skip
    orphan.refresh_from_db()
    assert orphan.pi.email == "bob@example.edu"
    assert orphan.review_state == "flagged"  # the project belongs to alice: now an owner change
    assert orphan.flag_reason_list == ["project_owner_change"]
    decision = ReviewDecision.objects.get(charge=orphan, decision="reattribute")
    assert decision.attribution_before["pi_email"] == "" and decision.attribution_after["pi_email"] == "bob@example.edu"
    assert decision.note == "ticket 42"
    nofund = month["nofund"]
    post_action(client, "reattribute_selected", [nofund.pk], confirm="yes", fund_org="BIO-2025-009", reason="grant")
    nofund.refresh_from_db()
    assert (nofund.fund_org, nofund.review_state, nofund.flag_reason_list) == ("BIO-2025-009", "ok", [])


def test_a_viewer_cannot_approve(client, viewer, month):
    client.force_login(viewer)
    page = client.get(QUEUE)
    assert page.status_code == 200
    assert "approve_selected" not in page.context["cl"].model_admin.get_actions(page.wsgi_request)
    response = post_action(client, "approve_selected", [month["orphan"].pk], confirm="yes")
    assert Charge.objects.get(resource_id="orphan").review_state == "flagged"
    assert not ReviewDecision.objects.exists()
    assert response.status_code in {200, 302}  # the admin ignores an action the user does not have


def test_a_closed_period_refuses_review_changes_with_a_message(client, reviewer, month, run):
    # Closed while charges were flagged (a month closed before closing checked readiness).
    BillingPeriod.objects.filter(period="2025-01").update(status="closed")
    client.force_login(reviewer)
    # Closed periods are out of the default queue; chosen by name, a decision is refused.
    assert month["orphan"].pk not in {c.pk for c in client.get(QUEUE).context["cl"].result_list}
    response = post_action(
        client, "approve_selected", [month["orphan"].pk], url=f"{QUEUE}?period=2025-01", confirm="yes", note="x"
    )
    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["period 2025-01 is closed; reopen it (with a reason) to change reviews"]
    assert Charge.objects.get(resource_id="orphan").review_state == "flagged"


def test_the_charge_detail_shows_every_field_its_origin_and_its_history(client, reviewer, month):
    client.force_login(reviewer)
    orphan = month["orphan"]
    post_action(client, "approve_selected", [orphan.pk], confirm="yes", note="seen")
    page = client.get(reverse("admin:billing_charge_change", args=[orphan.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    for expected in [
        "aws-2025-01.csv line 3", "Missing PI", "Amazon EC2", 'title="20.25 USD">20.25 USD<', "seen", "Tags",
    ]:  # fmt: skip
        assert expected in text, expected
    assert "missing_pi" not in text and "Pi:" not in text


def test_the_filtered_charges_can_be_exported(client, viewer, month):
    client.force_login(viewer)
    page = client.get(QUEUE)
    assert b"Export" in page.content
    assert client.get(reverse("admin:billing_charge_export")).status_code == 200


def list_query_plan(client, url):
    """The query plan of the page's charge list query (SQLite's EXPLAIN QUERY PLAN)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
    assert page.status_code == 200
    charge_list = 'SELECT "billing_charge"."id", "billing_charge"."batch'
    listing = [q["sql"] for q in queries if q["sql"].startswith(charge_list)]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + listing[-1])
        return page, " / ".join(str(row[-1]) for row in cursor.fetchall())


def test_a_fund_org_search_and_a_period_sorted_by_amount_use_their_indexes(client, reviewer, month):
    import re

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's query plan")
    client.force_login(reviewer)
    page, plan = list_query_plan(client, f"{QUEUE}?review=all&q=BIO-2025-001")
    assert {c.resource_id for c in page.context["cl"].result_list} == {"ok-1", "orphan", "credit"}
    assert "charge_fund_org_period" in plan, plan
    # The amount column sorts once a period is chosen (over all periods it would sort every charge).
    assert "column-billed" in client.get(f"{QUEUE}?review=all").content.decode()
    assert not re.search(r"sortable column-billed", client.get(f"{QUEUE}?review=all").content.decode())
    listing = client.get(f"{QUEUE}?review=all&period=2025-01").content.decode()
    sort = re.search(r'sortable column-billed.*?<a href="([^"]+)"', listing, re.S).group(1).replace("&amp;", "&")
    column = re.search(r"o=(\d+)", sort).group(1)
    for direction in ("", "-"):
        url = QUEUE + sort.replace(f"o={column}", f"o={direction}{column}")
        page, plan = list_query_plan(client, url)
        amounts = [c.billed_cost for c in page.context["cl"].result_list]
        assert amounts == sorted(amounts, reverse=direction == "-") and len(amounts) == 4
        assert "charge_period_billed" in plan, plan
