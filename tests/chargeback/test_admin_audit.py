"""The audit log in the admin: who did what when, filterable, and never editable."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from chargeback.audit import Actor, audit_record
from chargeback.models import AuditEvent
from tests.conftest import give_authenticator

pytestmark = pytest.mark.django_db
LOG = reverse("admin:chargeback_auditevent_changelist")


@pytest.fixture
def events(run):
    """The CLI opens and closes a period; a person changes a flag pattern."""
    run("periods", "open", "2025-01")
    run("periods", "close", "2025-01")
    audit_record(
        actor=Actor(label="finance@example.edu"), action="flagpattern.change", month="",
        before={"pattern": "gpu"}, after={"pattern": "gpu|p4d", "note": "Zürich <lab>"},
    )  # fmt: skip
    return {e.action: e for e in AuditEvent.objects.all()}


def shown(client, query=""):
    page = client.get(LOG + query)
    assert page.status_code == 200
    return sorted(e.action for e in page.context["cl"].result_list)


@pytest.mark.parametrize("persona", ["finance_admin", "reviewer", "viewer"])
def test_every_role_reads_the_log(client, request, persona, events):
    client.force_login(request.getfixturevalue(persona))
    assert shown(client) == ["flagpattern.change", "period.closed", "period.open"]


def test_the_log_filters_by_actor_action_object_type_and_period(client, finance_admin, events):
    client.force_login(finance_admin)
    cli_actor = events["period.open"].actor
    assert cli_actor.startswith("cli:")
    assert shown(client, f"?actor={cli_actor}") == ["period.closed", "period.open"]
    assert shown(client, "?actor=finance@example.edu") == ["flagpattern.change"]
    assert shown(client, "?action=period.closed") == ["period.closed"]
    assert shown(client, "?object_type=billing.billingperiod") == ["period.closed", "period.open"]
    assert shown(client, "?period=2025-01") == ["period.closed", "period.open"]
    period_id = events["period.open"].object_id
    assert shown(client, f"?object_type=billing.billingperiod&object_id={period_id}") == [
        "period.closed", "period.open",
    ]  # fmt: skip
    assert shown(client, "?q=p4d") == []  # search is on actor, action, object, not on the data
    assert shown(client, "?q=flagpattern") == ["flagpattern.change"]
    page = client.get(LOG)
    filters = {
        spec.title: [c["display"] for c in spec.choices(page.context["cl"])] for spec in page.context["cl"].filter_specs
    }
    assert filters["actor"] == ["All", cli_actor, "finance@example.edu"]
    assert filters["period"] == ["All", "2025-01"]


def test_the_detail_page_shows_before_and_after_as_key_value_tables(client, viewer, events):
    client.force_login(viewer)
    event = events["flagpattern.change"]
    page = client.get(reverse("admin:chargeback_auditevent_change", args=[event.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<tr><th scope="row">pattern</th><td>gpu</td></tr>' in html
    assert '<tr><th scope="row">note</th><td>Zürich &lt;lab&gt;</td></tr>' in html
    assert "Source IP" in html and "Source ip" not in html
    assert 'name="_save"' not in html


@pytest.mark.parametrize("persona", ["finance_admin", "superuser"])
def test_nobody_can_add_change_or_delete_audit_rows(client, request, persona, events):
    if persona == "superuser":
        user = User.objects.create_superuser("root", "root@example.edu", "pw")
        give_authenticator(user)  # superusers must have one to reach the admin
    else:
        user = request.getfixturevalue(persona)
    client.force_login(user)
    event = events["period.open"]
    change = reverse("admin:chargeback_auditevent_change", args=[event.pk])
    delete = reverse("admin:chargeback_auditevent_delete", args=[event.pk])
    assert client.post(change, {"actor": "someone else", "action": "x"}).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:chargeback_auditevent_add")).status_code == 403
    page = client.get(LOG)
    assert "delete_selected" not in page.context["cl"].model_admin.get_actions(page.wsgi_request)
    bulk = client.post(LOG, {"action": "delete_selected", "_selected_action": [str(event.pk)], "post": "yes"})
    assert bulk.status_code in (200, 302)
    event.refresh_from_db()
    assert event.actor.startswith("cli:") and AuditEvent.objects.count() == 3
