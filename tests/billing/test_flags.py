"""Every flag reason of design.md §6, with all reasons kept on the charge."""

from __future__ import annotations

import pytest

from billing.models import Charge, FlagPattern, FundOrgPattern
from chargeback.models import Organization
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db


def reasons_for(run, focus_files, rows, period="2025-01") -> list[list[str]]:
    path = focus_files.write("f.csv", rows)
    result = run("ingest", str(path), "-s", "aws", "-p", period)
    assert result.code == 0, result.err
    return [c.flag_reason_list for c in Charge.objects.order_by("line_number")]


def test_an_invalid_pi_email_is_flagged_and_creates_no_pi(run, focus_files):
    assert reasons_for(run, focus_files, [minimal_row(tag_json=tags(pi="not-an-email"))]) == [["invalid_pi_email"]]
    assert Charge.objects.get().pi is None


def test_a_fund_org_must_match_an_enabled_pattern(run, focus_files):
    FundOrgPattern.objects.create(pattern=r"^[A-Z]+-\d{4}-\d{3}$")
    FundOrgPattern.objects.create(pattern=r"^never$", enabled=False)
    rows = [
        minimal_row(tag_json=tags(fund="BIO-2025-001")),
        minimal_row(tag_json=tags(project="other", fund="bogus")),
    ]
    assert reasons_for(run, focus_files, rows) == [[], ["invalid_fund_org"]]


def test_flag_patterns_match_their_fields_and_name_the_pattern(run, focus_files):
    FlagPattern.objects.create(name="gpu", pattern="gpu|p4d", fields="service_name,resource_name")
    FlagPattern.objects.create(name="sandbox", pattern="sandbox", fields="tags")
    rows = [
        minimal_row(resource="p4d.24xlarge-1"),
        minimal_row(tag_json=tags(env="sandbox")),
        minimal_row(service="Amazon S3"),
    ]
    assert reasons_for(run, focus_files, rows) == [["pattern_match:gpu"], ["pattern_match:sandbox"], []]


def test_a_row_of_another_period_is_flagged(run, focus_files):
    assert reasons_for(run, focus_files, [minimal_row(period="2024-12")]) == [["period_mismatch"]]


def test_a_currency_other_than_the_expected_one_is_flagged(run, focus_files):
    header = ["BillingPeriodStart", "BilledCost", "BillingCurrency", "Tags"]
    Organization.objects.create(expected_currency="EUR")
    path = focus_files.write("c.csv", [["2025-01-01", "1", "EUR", tags()], ["2025-01-01", "2", "USD", tags()]], header)
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json").json()
    assert [c.flag_reason_list for c in Charge.objects.order_by("line_number")] == [[], ["currency_mismatch"]]
    assert result["currencies"] == ["EUR", "USD"]
    assert any("more than one currency" in w for w in result["warnings"])


def test_a_missing_currency_is_the_expected_one(run, focus_files):
    reasons_for(run, focus_files, [minimal_row()])
    assert Charge.objects.get().billing_currency == "USD"


def test_negative_amounts_are_flagged(run, focus_files):
    assert reasons_for(run, focus_files, [minimal_row("-12.5")]) == [["negative_amount"]]


def test_a_project_tagged_with_another_pi_is_flagged(run, focus_files):
    rows = [minimal_row(), minimal_row(tag_json=tags(pi="mallory@example.edu"))]
    assert reasons_for(run, focus_files, rows) == [[], ["project_owner_change"]]


def test_all_reasons_are_kept_not_just_the_first(run, focus_files):
    FlagPattern.objects.create(name="gpu", pattern="gpu", fields="resource_name")
    row = minimal_row("-1", period="2024-11", resource="gpu-node", tag_json=tags(pi=None, project=None, fund=None))
    assert reasons_for(run, focus_files, [row]) == [[
        "missing_pi", "missing_project", "missing_fund_org", "period_mismatch", "negative_amount", "pattern_match:gpu",
    ]]  # fmt: skip


def test_a_credit_is_flagged_even_when_its_amount_is_not_negative(run, focus_files):
    header = ["BillingPeriodStart", "BilledCost", "ChargeCategory", "Tags"]
    path = focus_files.write(
        "c.csv", [["2025-01-01", "0", "Credit", tags()], ["2025-01-01", "3", "Usage", tags()]], header
    )
    run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    assert [c.flag_reason_list for c in Charge.objects.order_by("line_number")] == [["negative_amount"], []]


def test_a_row_without_a_billing_period_is_flagged_as_a_period_mismatch(run, focus_files):
    header = ["BillingPeriodStart", "BilledCost", "Tags"]
    path = focus_files.write("c.csv", [["", "3", tags()]], header)
    run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    assert Charge.objects.get().flag_reason_list == ["period_mismatch"]
