"""Codes, fund/orgs, emails and names are one line of text, whichever way they come in.

A carriage return in a project code (`"inj-06 \\r=2+3"`) once reached the journal file and split
a record into a live formula. The admin's forms and spreadsheet imports refuse it, the review
service refuses it, and an import flags the line instead of creating such a project.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing.models import PI, Charge, Project, ReviewDecision
from billing.services.review import charges_reattribute
from chargeback.audit import Actor
from chargeback.errors import BillingError
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db
QUEUE = reverse("admin:billing_charge_changelist")
INJECTED = "inj-06 \r=2+3"


@pytest.fixture
def orphan(run, focus_files) -> Charge:
    path = focus_files.write("aws-2025-01.csv", [minimal_row("20.25", resource="orphan", tag_json=tags(project=None))])
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    return Charge.objects.get()


def test_the_fix_attribution_form_refuses_a_project_code_with_a_carriage_return(client, reviewer, orphan):
    client.force_login(reviewer)

    page = client.post(QUEUE, {
        "action": "reattribute_selected", "_selected_action": [str(orphan.pk)], "index": "0", "confirm": "yes",
        "project_code": INJECTED, "reason": "tag typo",
    })  # fmt: skip

    assert page.status_code == 200  # the form again, with the error
    assert page.context["form"].errors["project_code"] == [
        "contains a carriage return (U+000D); it must be one line of plain text"
    ]
    orphan.refresh_from_db()
    assert orphan.project_id is None and orphan.review_state == "flagged"
    assert not Project.objects.filter(code__contains="\r").exists()
    assert not ReviewDecision.objects.exists()


@pytest.mark.parametrize("field", ["project_code", "fund_org", "pi_email"])
def test_the_review_service_refuses_control_characters_with_one_line(orphan, field):
    value = {"project_code": INJECTED, "fund_org": "BIO-\n=1", "pi_email": "bob\x1b@example.edu"}[field]

    with pytest.raises(BillingError) as refused:
        charges_reattribute(ids=[orphan.pk], actor=Actor(label="test"), reason="typo", **{field: value})

    assert "it must be one line of plain text" in str(refused.value)
    assert "\n" not in str(refused.value) and "\r" not in str(refused.value)
    orphan.refresh_from_db()
    assert orphan.project_id is None and not ReviewDecision.objects.exists()


def test_an_import_flags_a_project_code_or_fund_org_with_a_control_character_and_creates_no_such_project(
    run, focus_files
):
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("1", resource="cr", tag_json=tags(project=INJECTED)),
        minimal_row("2", resource="lf", tag_json=tags(fund="BIO-\n=2+3")),
        minimal_row("3", resource="esc", tag_json=tags(pi="bob\x1b@example.edu")),
    ])  # fmt: skip

    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")

    assert result.code == 0, result.err
    reasons = {c.resource_id: c.flag_reason_list for c in Charge.objects.all()}
    assert reasons == {"cr": ["invalid_project"], "lf": ["invalid_fund_org"], "esc": ["invalid_pi_email"]}
    assert list(Project.objects.values_list("code", flat=True)) == ["genomics"]
    assert list(PI.objects.values_list("email", flat=True)) == ["alice@example.edu"]


def test_the_project_form_in_the_admin_refuses_a_control_character(client, finance_admin):
    client.force_login(finance_admin)

    page = client.post(reverse("admin:billing_project_add"), {"code": INJECTED, "title": "x", "active": "on"})

    assert page.status_code == 200
    assert "carriage return" in page.context["adminform"].form.errors["code"][0]
    assert not Project.objects.exists()


def test_a_pi_name_with_a_line_feed_is_refused_by_the_pi_form(client, finance_admin):
    client.force_login(finance_admin)

    page = client.post(reverse("admin:billing_pi_add"), {"email": "bob@example.edu", "name": "Bob\n=1+1"})

    assert page.status_code == 200 and "line feed" in page.context["adminform"].form.errors["name"][0]
    assert not PI.objects.exists()


def test_a_spreadsheet_import_of_projects_refuses_the_row_with_a_control_character(client, finance_admin):
    client.force_login(finance_admin)
    content = b'code,pi_email,title,fund_org,active,fund_end_date\n"inj-06 \r=2+3",,Evil,,yes,\ngood,,Fine,,yes,\n'

    preview = client.post(
        reverse("admin:billing_project_import"),
        {"import_file": SimpleUploadedFile("projects.csv", content), "format": "0", "resource": "0"},
    )

    assert preview.status_code == 200
    result = preview.context["result"]
    assert result.has_validation_errors()
    errors = [str(e) for row in result.invalid_rows for e in row.error_dict.values()]
    assert any("it must be one line of plain text" in e for e in errors), errors
    assert not Project.objects.exists()
