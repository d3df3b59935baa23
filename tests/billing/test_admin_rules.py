"""Rules and master data in the admin: who may edit them, testing and re-evaluating a period,
and spreadsheet import and export."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from import_export.formats.base_formats import CSV, XLSX

from billing.models import PI, BillingPeriod, Charge, FlagPattern, FundOrgPattern, Project, ReviewDecision, TagMapping
from billing.resources import ChargeResource, PIResource, ProjectResource
from billing.services.review import charges_approve, charges_reattribute
from billing.services.rules import period_reevaluate, rules_preview
from chargeback.audit import Actor
from chargeback.errors import BillingError
from chargeback.models import AuditEvent, Organization
from tests.conftest import make_staff, minimal_row, tags

pytestmark = pytest.mark.django_db
ACTOR = Actor(label="test")
ADD_PATTERN = reverse("admin:billing_flagpattern_add")


@pytest.fixture
def month(run, focus_files):
    """2025-01: an ordinary charge, two GPU charges, one without a PI."""
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10", resource="web-1"),
        minimal_row("200", resource="gpu-node-1"),
        minimal_row("300.5", resource="gpu-node-2"),
        minimal_row("7", resource="orphan", tag_json=tags(pi=None)),
    ])  # fmt: skip
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    return {c.resource_id: c for c in Charge.objects.all()}


def pattern_form(**overrides):
    return {"name": "gpu", "pattern": "gpu", "fields": "resource_name", "description": "", "enabled": "on", **overrides}


def state(charge):
    charge.refresh_from_db()
    return charge.review_state, charge.flag_reason_list


# -- who may edit rules --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["reviewer", "viewer"])
def test_reviewers_and_viewers_see_the_rules_but_cannot_change_them(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    mapping = TagMapping.objects.first()
    assert client.get(reverse("admin:billing_flagpattern_changelist")).status_code == 200
    assert client.get(ADD_PATTERN).status_code == 403
    assert client.post(ADD_PATTERN, pattern_form()).status_code == 403
    change = reverse("admin:billing_tagmapping_change", args=[mapping.pk])
    assert client.post(change, {"field": "pi_email", "tag_key": "owner", "priority": "0"}).status_code == 403
    assert client.get(reverse("admin:billing_tagmapping_delete", args=[mapping.pk])).status_code == 403
    assert client.get(reverse("admin:billing_flagpattern_rules_test")).status_code == 403
    assert client.post(reverse("admin:billing_flagpattern_reevaluate"), {"period": "2025-01"}).status_code == 403
    assert not FlagPattern.objects.exists()


def test_the_model_permission_alone_is_not_enough_to_edit_rules(client):
    clerk = make_staff("clerk@example.edu", "Viewer")
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["add_flagpattern", "change_flagpattern"]))
    client.force_login(clerk)
    assert client.post(ADD_PATTERN, pattern_form()).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="manage_rules"))
    client.force_login(clerk)
    assert client.post(ADD_PATTERN, pattern_form()).status_code == 302
    assert FlagPattern.objects.filter(name="gpu").exists()


def test_a_finance_admin_adds_a_flag_pattern_and_the_edit_is_audited(client, finance_admin):
    client.force_login(finance_admin)
    assert client.post(ADD_PATTERN, pattern_form()).status_code == 302
    pattern = FlagPattern.objects.get(name="gpu")
    change = reverse("admin:billing_flagpattern_change", args=[pattern.pk])
    assert client.post(change, pattern_form(pattern="gpu|p4d")).status_code == 302
    events = list(AuditEvent.objects.filter(object_type="billing.flagpattern").order_by("id"))
    assert [(e.action, e.actor) for e in events] == [
        ("flagpattern.add", "finance@example.edu"), ("flagpattern.change", "finance@example.edu"),
    ]  # fmt: skip
    assert (events[1].before, events[1].after) == ({"pattern": "gpu"}, {"pattern": "gpu|p4d"})


def test_an_invalid_regex_is_refused_with_the_reason(client, finance_admin):
    client.force_login(finance_admin)
    page = client.post(ADD_PATTERN, pattern_form(pattern="gpu(("))
    assert page.status_code == 200
    assert "not a valid regular expression: missing ), unterminated subpattern" in page.content.decode()
    page = client.post(reverse("admin:billing_fundorgpattern_add"), {"pattern": "[A-Z", "enabled": "on"})
    assert "not a valid regular expression" in page.content.decode()
    assert not FlagPattern.objects.exists() and not FundOrgPattern.objects.exists()


def test_an_unknown_pattern_field_is_refused_with_the_choices(client, finance_admin):
    client.force_login(finance_admin)
    page = client.post(ADD_PATTERN, pattern_form(fields="resource_name,colour"))
    assert "unknown field(s) colour; choose from service_name" in page.content.decode()


def test_the_expected_currency_is_edited_by_rule_managers_only_and_must_be_iso(client, finance_admin, reviewer):
    org = Organization.current()
    change = reverse("admin:chargeback_organization_change", args=[org.pk])
    form = {"name": org.name, "address": "", "contact_email": "", "footer_text": ""}
    client.force_login(finance_admin)
    page = client.post(change, {**form, "expected_currency": "eur"})
    assert "three upper-case letters" in page.content.decode()
    assert client.post(change, {**form, "expected_currency": "EUR"}).status_code == 302
    org.refresh_from_db()
    assert org.expected_currency == "EUR"
    assert AuditEvent.objects.get(action="organization.change").after == {"expected_currency": "EUR"}

    reviewer.user_permissions.add(Permission.objects.get(codename="change_organization"))
    client.force_login(reviewer)
    assert "expected_currency" not in client.get(change).context["adminform"].form.fields
    client.post(change, {**form, "name": "RC", "expected_currency": "GBP"})
    org.refresh_from_db()
    assert (org.name, org.expected_currency) == ("RC", "EUR")


# -- testing the rules against a period ------------------------------------------------------------


def test_the_preview_counts_what_the_current_rules_would_flag_and_writes_nothing(month):
    FlagPattern.objects.create(name="gpu", pattern="gpu", fields="resource_name")
    report = rules_preview(month="2025-01")
    assert (report.charges, report.flagged_now, report.flagged) == (4, 1, 3)
    assert report.by_reason_now == {"missing_pi": 1}
    assert report.by_reason == {"missing_pi": 1, "pattern_match:gpu": 2}
    assert (report.newly_flagged, report.no_longer_flagged, report.reasons_changed) == (2, 0, 2)
    assert [c.resource for c in report.sample] == ["gpu-node-1", "gpu-node-2"]
    assert report.sample[0].new_reasons == ["pattern_match:gpu"] and report.sample[0].new_review_state == "flagged"
    assert report.state_changes == {"ok→flagged": 2}
    assert Charge.objects.filter(review_state="flagged").count() == 1
    assert not AuditEvent.objects.filter(action="period.reevaluate").exists()


def test_unchanged_rules_change_nothing(month):
    FlagPattern.objects.create(name="sandbox", pattern="sandbox", fields="tags")
    report = rules_preview(month="2025-01")
    assert (report.affected, report.reasons_changed, report.attribution_changed) == (0, 0, 0)


def test_the_preview_shows_charges_that_would_no_longer_be_flagged(month):
    TagMapping.objects.create(field="pi_email", tag_key="owner", priority=5)
    Charge.objects.filter(resource_id="orphan").update(tags={"owner": "alice@example.edu", "project_id": "genomics"})
    report = rules_preview(month="2025-01")
    assert (report.no_longer_flagged, report.newly_flagged, report.flagged) == (1, 0, 0)
    assert report.sample[0].resource == "orphan" and report.sample[0].new_review_state == "ok"
    assert report.sample[0].new_attribution["pi"] == "alice@example.edu"
    assert report.sample[0].new_attribution["fund_org"] == "BIO-2025-001"  # the project's default


def test_the_preview_counts_new_pis_without_creating_them(month):
    TagMapping.objects.create(field="pi_email", tag_key="owner", priority=0)
    Charge.objects.filter(resource_id="orphan").update(tags={"owner": "bob@example.edu", "project_id": "genomics"})
    report = rules_preview(month="2025-01")
    assert report.by_reason == {"project_owner_change": 1}  # genomics belongs to alice
    assert report.new_pis == 1 and not PI.objects.filter(email="bob@example.edu").exists()


def test_the_test_page_shows_the_preview(client, finance_admin, month):
    FlagPattern.objects.create(name="gpu", pattern="gpu", fields="resource_name")
    client.force_login(finance_admin)
    listing = client.get(reverse("admin:billing_tagmapping_changelist")).content.decode()
    assert "Test against a period" in listing and "Re-evaluate open period" in listing
    page = client.get(reverse("admin:billing_fundorgpattern_rules_test"), {"period": "2025-01"})
    assert page.status_code == 200
    assert page.context["report"].newly_flagged == 2
    assert ("pattern_match:gpu", 0, 2) in page.context["reason_rows"]
    assert "gpu-node-2" in page.content.decode()


# -- re-evaluating an open period ------------------------------------------------------------------


def test_reevaluation_flags_charges_matching_a_new_pattern_and_keeps_approved_ones(month):
    charges_approve(ids=[month["orphan"].pk], actor=ACTOR, note="known")
    FlagPattern.objects.create(name="gpu", pattern="gpu", fields="resource_name")
    FlagPattern.objects.create(name="orphans", pattern="orphan", fields="resource_id")
    report = period_reevaluate(month="2025-01", actor=ACTOR)
    assert state(month["gpu-node-1"]) == ("flagged", ["pattern_match:gpu"])
    assert state(month["web-1"]) == ("ok", [])
    assert state(month["orphan"]) == ("approved", ["missing_pi", "pattern_match:orphans"])
    assert (report.updated, report.newly_flagged, report.kept_decisions) == (3, 2, 1)
    event = AuditEvent.objects.get(action="period.reevaluate")
    assert (event.period, event.actor, event.object_type) == ("2025-01", "test", "billing.billingperiod")
    counts = event.after or {}
    assert counts["newly_flagged"] == 2 and counts["updated"] == 3 and "sample" not in counts
    batch = month["web-1"].batch
    batch.refresh_from_db()
    assert (batch.flagged_rows, batch.flagged_cost, batch.flag_counts) == (2, Decimal("500.5"), {"pattern_match": 2})


def test_reevaluation_takes_attribution_again_from_the_tags(month):
    TagMapping.objects.create(field="pi_email", tag_key="owner", priority=0)
    Charge.objects.filter(resource_id="orphan").update(tags={"owner": "Carol@Example.edu", "project_id": "carol-lab"})
    period_reevaluate(month="2025-01", actor=ACTOR)
    orphan = Charge.objects.select_related("pi", "project").get(resource_id="orphan")
    assert (orphan.pi.email, orphan.project.code, orphan.project.pi.email) == (
        "carol@example.edu", "carol-lab", "carol@example.edu",
    )  # fmt: skip
    assert orphan.review_state == "flagged" and orphan.flag_reason_list == ["missing_fund_org"]


def test_an_attribution_fixed_by_a_reviewer_is_kept(month):
    charges_reattribute(ids=[month["orphan"].pk], actor=ACTOR, reason="lab manager", pi_email="dan@example.edu")
    Project.objects.filter(code="genomics").update(pi=PI.objects.get(email="dan@example.edu"))
    assert ReviewDecision.objects.filter(decision="reattribute").count() == 1
    report = period_reevaluate(month="2025-01", actor=ACTOR)
    orphan = Charge.objects.select_related("pi").get(resource_id="orphan")
    assert orphan.pi.email == "dan@example.edu" and report.kept_attributions == 1
    # The other genomics charges are now tagged with someone other than the project's PI.
    assert state(month["web-1"]) == ("flagged", ["project_owner_change"])


def test_reevaluation_is_refused_for_a_closed_period(run, month):
    # Closed while charges were flagged (a month closed before closing checked readiness).
    BillingPeriod.objects.filter(period="2025-01").update(status="closed")
    FlagPattern.objects.create(name="gpu", pattern="gpu", fields="resource_name")
    with pytest.raises(BillingError, match="period 2025-01 is closed; reopen it"):
        period_reevaluate(month="2025-01", actor=ACTOR)
    assert state(month["gpu-node-1"]) == ("ok", [])
    assert not AuditEvent.objects.filter(action="period.reevaluate").exists()


def messages_of(response):
    return [str(m) for m in response.wsgi_request._messages]


def period_page(period: str) -> str:
    return reverse("admin:billing_billingperiod_change", args=[BillingPeriod.objects.get(period=period).pk])


def test_the_reevaluate_page_queues_the_work_and_the_period_page_shows_its_progress(
    client, finance_admin, month, monkeypatch, django_capture_on_commit_callbacks
):
    from billing.services import reevaluation

    FlagPattern.objects.create(name="gpu", pattern="gpu", fields="resource_name")
    client.force_login(finance_admin)
    url = reverse("admin:billing_flagpattern_reevaluate")
    confirm = client.get(url)
    assert confirm.status_code == 200 and b"2025-01 (open)" in confirm.content
    with django_capture_on_commit_callbacks() as queued:
        answer = client.post(url, {"period": "2025-01"})
    # The admin answers before a single charge is evaluated: the work waits for a worker.
    assert answer.status_code == 302 and answer.url == period_page("2025-01")
    assert messages_of(answer) == ["Re-evaluation of 2025-01 queued; the period's page shows how far it is."]
    assert state(month["gpu-node-1"]) == ("ok", [])
    page = client.get(period_page("2025-01")).content.decode()
    assert "queued, waiting for a worker" in page and 'http-equiv="refresh"' in page
    again = client.post(url, {"period": "2025-01"})
    assert messages_of(again) == [
        "a re-evaluation of 2025-01 is already queued (requested by finance@example.edu); wait for it to finish"
    ]

    # The worker evaluates two charges at a time; the period page, looked at between them, says how far.
    monkeypatch.setattr("billing.services.rules.CHUNK", 2)
    seen, record = [], reevaluation._progress

    def record_and_look(key, done, total):
        record(key, done, total)
        text = client.get(period_page("2025-01")).content.decode()
        seen.append(re.search(r"running, \d+ of \d+ charges evaluated", text).group(0))

    monkeypatch.setattr(reevaluation, "_progress", record_and_look)
    for callback in queued:
        callback()
    assert seen == ["running, 2 of 4 charges evaluated", "running, 4 of 4 charges evaluated"]
    assert state(month["gpu-node-1"]) == ("flagged", ["pattern_match:gpu"])
    page = client.get(period_page("2025-01")).content.decode()
    assert (
        "done: 4 charges, 2 changed, 2 newly flagged, 0 no longer flagged, 0 approved or rejected kept their "
        "decision; 3 now have a flag reason." in page
    )
    assert 'http-equiv="refresh"' not in page
    assert AuditEvent.objects.get(action="period.reevaluate").actor == "finance@example.edu"


def test_a_reevaluation_whose_period_closed_before_it_ran_fails_with_the_reason(
    client, finance_admin, run, month, django_capture_on_commit_callbacks
):
    client.force_login(finance_admin)
    with django_capture_on_commit_callbacks() as queued:
        client.post(reverse("admin:billing_flagpattern_reevaluate"), {"period": "2025-01"})
    # Closed before the worker ran (a month with flagged charges: closed as before readiness checks).
    BillingPeriod.objects.filter(period="2025-01").update(status="closed")
    for callback in queued:
        callback()
    page = client.get(period_page("2025-01")).content.decode()
    assert "failed: period 2025-01 is closed; reopen it (with a reason) to re-evaluate it" in page
    assert not AuditEvent.objects.filter(action="period.reevaluate").exists()


def test_the_reevaluate_page_says_why_a_closed_period_is_refused(client, finance_admin, run, month):
    # Closed while charges were flagged (a month closed before closing checked readiness).
    BillingPeriod.objects.filter(period="2025-01").update(status="closed")
    client.force_login(finance_admin)
    page = client.post(reverse("admin:billing_flagpattern_reevaluate"), {"period": "2025-01"})
    assert page.status_code == 200
    assert [str(m) for m in page.wsgi_request._messages] == [
        "period 2025-01 is closed; reopen it (with a reason) to re-evaluate it"
    ]


# -- master data in spreadsheets -------------------------------------------------------------------


def import_file(client, model, name, content, fmt):
    """The admin's two-step import: upload (a dry run shown for review), then confirm."""
    base = f"admin:billing_{model}_"
    upload = SimpleUploadedFile(name, content)
    preview = client.post(reverse(base + "import"), {"import_file": upload, "format": fmt, "resource": "0"})
    assert preview.status_code == 200, preview.content
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors(), [
        (r.number, r.error) for r in result.invalid_rows
    ] or [e.error for _, errors in result.row_errors() for e in errors]
    confirm = preview.context["confirm_form"]
    return client.post(reverse(base + "process_import"), confirm.initial)


def test_a_pi_csv_import_normalises_emails_and_updates_existing_pis(client, finance_admin):
    PI.objects.create(email="alice@example.edu", name="")
    client.force_login(finance_admin)
    content = b"email,name\n Alice@Example.EDU ,Alice Liddell\nBOB@example.edu,Bob\n"
    done = import_file(client, "pi", "pis.csv", content, "0")
    assert done.status_code == 302
    assert dict(PI.objects.values_list("email", "name")) == {
        "alice@example.edu": "Alice Liddell", "bob@example.edu": "Bob",
    }  # fmt: skip
    event = AuditEvent.objects.get(action="pi.import")
    assert event.after == {"file": "pis.csv", "new": 1, "update": 1}


def test_a_pi_import_preview_writes_nothing(client, finance_admin):
    client.force_login(finance_admin)
    upload = SimpleUploadedFile("pis.csv", b"email,name\ncarol@example.edu,Carol\n")
    client.post(reverse("admin:billing_pi_import"), {"import_file": upload, "format": "0", "resource": "0"})
    assert not PI.objects.exists() and not AuditEvent.objects.exists()


def test_a_project_xlsx_import_finds_the_pi_by_email(client, finance_admin):
    PI.objects.create(email="alice@example.edu")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["code", "pi_email", "title", "fund_org", "active", "fund_end_date"])
    sheet.append(["genomics", "ALICE@example.edu", "Genome assembly", "BIO-1", "yes", "2026-06-30"])
    sheet.append(["old-lab", "", "", "", "no", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    client.force_login(finance_admin)
    assert import_file(client, "project", "projects.xlsx", buffer.getvalue(), "1").status_code == 302
    genomics = Project.objects.get(code="genomics")
    assert (genomics.pi.email, genomics.title, genomics.active, str(genomics.fund_end_date)) == (
        "alice@example.edu", "Genome assembly", True, "2026-06-30",
    )  # fmt: skip
    assert Project.objects.get(code="old-lab").active is False


def test_a_project_import_names_an_unknown_pi_and_a_bad_yes_no(client, finance_admin):
    dataset = CSV().create_dataset("code,pi_email,active\np1,nobody@example.edu,yes\np2,,maybe\n")
    result = ProjectResource().import_data(dataset, dry_run=True)
    errors = [str(e) for row in result.invalid_rows for e in row.error_dict.values()]
    assert any("no PI with email nobody@example.edu" in e for e in errors), errors
    assert any("'maybe' is not yes or no" in e for e in errors), errors
    assert not Project.objects.exists()


def test_master_data_exports_as_csv_and_xlsx(client, finance_admin):
    PI.objects.create(email="alice@example.edu", name="Alice")
    client.force_login(finance_admin)
    fields = {"resource": "0", "piresource_email": "on", "piresource_name": "on"}
    for fmt, kind in [("0", "text/csv"), ("1", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")]:
        response = client.post(reverse("admin:billing_pi_export"), {"format": fmt, **fields})
        assert response.status_code == 200 and response["Content-Type"].startswith(kind)
    assert PIResource().export().csv.splitlines() == ["email,name", "alice@example.edu,Alice"]


def test_a_charge_export_escapes_formulae_and_keeps_amounts_exact(run, focus_files):
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("1234567.8912345678", resource='=HYPERLINK("http://evil","x")'),
        minimal_row("-3", resource="@SUM(A1)", service="+cmd"),
    ])  # fmt: skip
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    dataset = ChargeResource().export()
    text = CSV().export_data(dataset)
    assert text.splitlines()[0] == (
        "id,period,source,pi_email,project_code,fund_org,service_name,resource_id,resource_name,billed_cost,"
        "list_cost,billing_currency,review_state,flag_reasons"
    )
    rows = list(CSV().create_dataset(text).dict)
    assert rows[0]["resource_name"] == '\'=HYPERLINK("http://evil","x")'
    assert (rows[0]["billed_cost"], rows[0]["pi_email"], rows[0]["period"]) == (
        "1234567.8912345678", "alice@example.edu", "2025-01",
    )  # fmt: skip
    assert (rows[1]["resource_id"], rows[1]["service_name"], rows[1]["billed_cost"]) == (
        "'@SUM(A1)",
        "'+cmd",
        "-3.0000000000",
    )
    assert rows[1]["flag_reasons"] == "negative_amount"
    sheet = openpyxl.load_workbook(io.BytesIO(XLSX().export_data(ChargeResource().export()))).active
    cells = [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))]
    assert '\'=HYPERLINK("http://evil","x")' in cells and sheet.cell(2, 9).data_type == "s"


def test_only_those_who_may_change_master_data_import_it(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("admin:billing_pi_import")).status_code == 403
    assert client.get(reverse("admin:billing_pi_changelist")).context["has_import_permission"] is False


def test_a_pi_edited_with_capitals_is_stored_lower_case_and_stays_unique(client, finance_admin):
    PI.objects.create(email="alice@example.edu")
    client.force_login(finance_admin)
    page = client.post(reverse("admin:billing_pi_add"), {"email": "ALICE@example.edu", "name": "Again"})
    assert page.status_code == 200 and "PI with this Email already exists" in page.content.decode()
    assert client.post(reverse("admin:billing_pi_add"), {"email": " Bob@Example.edu", "name": "Bob"}).status_code == 302
    assert PI.objects.filter(email="bob@example.edu").exists()
    assert AuditEvent.objects.get(action="pi.add").after["email"] == "bob@example.edu"


@pytest.mark.parametrize("url", [f"admin:billing_{m}_export" for m in ("charge", "pi", "project")])
def test_an_export_with_a_filter_the_list_does_not_know_is_a_bad_request(client, finance_admin, url):
    client.force_login(finance_admin)

    response = client.get(reverse(url) + "?format=0")

    assert response.status_code == 400
