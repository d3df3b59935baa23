"""Closing, reopening and finalizing periods from the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing.models import BillingPeriod, PeriodTransition
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db


@pytest.fixture
def period(run):
    run("periods", "open", "2025-01")
    return BillingPeriod.objects.get(period="2025-01")


def move(client, period, to_status, reason=""):
    return client.post(reverse("admin:billing_billingperiod_move", args=[period.pk, to_status]), {"reason": reason})


def test_the_period_page_offers_the_moves_the_user_may_make(client, finance_admin, reviewer, period):
    client.force_login(finance_admin)
    page = client.get(reverse("admin:billing_billingperiod_change", args=[period.pk]))
    assert page.context["moves"] == [("closed", "Close period")]
    client.force_login(reviewer)
    page = client.get(reverse("admin:billing_billingperiod_change", args=[period.pk]))
    assert page.context["moves"] == []


def test_a_finance_admin_closes_reopens_with_a_reason_and_finalizes(client, finance_admin, period):
    client.force_login(finance_admin)
    confirm = client.get(reverse("admin:billing_billingperiod_move", args=[period.pk, "closed"]))
    assert confirm.status_code == 200 and b"refuses imports" in confirm.content
    assert move(client, period, "closed", "all in").status_code == 302
    refused = move(client, period, "open", "")
    assert refused.status_code == 200
    assert b"This field is required" in refused.content
    period.refresh_from_db()
    assert period.status == "closed"
    move(client, period, "open", "late HPC file")
    move(client, period, "closed")
    move(client, period, "finalized")
    period.refresh_from_db()
    assert period.status == "finalized"
    history = list(PeriodTransition.objects.filter(period=period).values_list("to_status", "reason", "actor"))
    assert history[1:] == [
        ("closed", "all in", "finance@example.edu"), ("open", "late HPC file", "finance@example.edu"),
        ("closed", "", "finance@example.edu"), ("finalized", "", "finance@example.edu"),
    ]  # fmt: skip
    page = client.get(reverse("admin:billing_billingperiod_change", args=[period.pk]))
    assert page.context["moves"] == [] and b"late HPC file" in page.content


def test_closing_is_refused_while_flagged_charges_remain_and_the_blockers_are_shown(
    client, finance_admin, run, focus_files
):
    run(
        "ingest",
        str(focus_files.write("a.csv", [minimal_row("1", tag_json=tags(pi=None))])),
        "-s",
        "aws",
        "-p",
        "2025-01",
    )
    period = BillingPeriod.objects.get()
    client.force_login(finance_admin)
    page = client.get(reverse("admin:billing_billingperiod_change", args=[period.pk])).content.decode()
    assert "1 flagged charge not yet decided" in page  # the period page lists the blockers
    response = move(client, period, "closed")
    assert "cannot be closed yet: 1 flagged charge not yet decided" in str(list(response.wsgi_request._messages)[-1])
    assert "1 flagged charge not yet decided" in response.content.decode()  # listed on the refused move's page
    period.refresh_from_db()
    assert period.status == "open"


def test_a_reviewer_cannot_close_or_finalize(client, reviewer, period):
    client.force_login(reviewer)
    assert move(client, period, "closed").status_code == 403
    assert move(client, period, "finalized").status_code == 403
    period.refresh_from_db()
    assert period.status == "open"


def test_periods_cannot_be_edited_or_deleted_by_hand(client, finance_admin, period):
    client.force_login(finance_admin)
    response = client.post(reverse("admin:billing_billingperiod_change", args=[period.pk]), {"status": "finalized"})
    assert response.status_code == 403
    assert (
        client.post(reverse("admin:billing_billingperiod_delete", args=[period.pk]), {"post": "yes"}).status_code == 403
    )
    period.refresh_from_db()
    assert period.status == "open"
