"""Native cloud FOCUS exports import without editing: AWS, Azure, Google Cloud, FOCUS 1.3.

The samples in fixtures/samples/ follow each provider's published column list; their amounts are
small enough to check by hand. Rows whose tags name no project are attributed through the
account mapping, and say which mapping did it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.models import PI, AccountMapping, Charge, Project, Source, TagMapping
from billing.services.rules import period_reevaluate
from chargeback.audit import Actor
from chargeback.money import MoneySum

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "samples"


@pytest.fixture
def projects(db):
    alice = PI.objects.create(email="alice.chen@example.edu", name="Alice Chen")
    bob = PI.objects.create(email="bob.diaz@example.edu", name="Bob Diaz")
    return {
        "genomics": Project.objects.create(code="genomics-core", pi=alice, fund_org="BIO-2025-001"),
        "climate": Project.objects.create(code="climate-model", pi=bob, fund_org="GEO-2025-014"),
        "ocean": Project.objects.create(code="ocean-lab", pi=bob, fund_org="GEO-2025-020"),
    }


def mapping(kind: str, value: str, project: Project, **more: Any) -> AccountMapping:
    return AccountMapping.objects.create(kind=kind, value=value, project=project, **more)


def ingest(run, name: str, source: str) -> dict:
    result = run("ingest", str(SAMPLES / name), "-s", source, "--format", "json")
    assert result.code == 0, result.err
    return result.json()


def charges() -> list[Charge]:
    return list(Charge.objects.select_related("project", "pi").order_by("line_number"))


class TestAwsFocus12WithAwsColumns:
    @pytest.fixture
    def aws_tag_keys(self, db):
        # AWS writes user-defined cost allocation tags with a "user:" prefix.
        for field in ("pi_email", "project_id", "fund_org"):
            TagMapping.objects.create(field=field, tag_key=f"user:{field}", priority=1)

    def test_the_export_imports_with_exact_totals_and_every_charge_category(self, run, projects, aws_tag_keys):
        mapping("sub_account", "210000000001", projects["genomics"])
        report = ingest(run, "aws-focus12-2025-03.csv", "aws")
        assert report["rows"] == 7
        assert report["focus_version"] == "1.2"
        # 480.624 + 23.00 + 12.40 + 33.76 - 50.00 - 4.80 + 120.00
        assert Decimal(report["billed_total"]) == Decimal("614.984")
        # list: 505.92 + 23.00 + 12.40 + 33.76 + 0 - 4.80 + 120.00
        assert Decimal(report["list_total"]) == Decimal("690.28")
        rows = charges()
        assert [c.charge_category for c in rows] == ["Usage", "Usage", "Usage", "Tax", "Credit", "Usage", "Purchase"]
        assert rows[5].charge_class == "Correction"
        assert rows[0].extensions == {
            "x_Discounts": '{"edp_discount":-25.296}', "x_Operation": "RunInstances", "x_ServiceCode": "AmazonEC2",
        }  # fmt: skip

    def test_tags_attribute_first_and_the_sub_account_mapping_attributes_the_untagged_rows(
        self, run, projects, aws_tag_keys
    ):
        mapping("sub_account", "210000000001", projects["genomics"])
        ingest(run, "aws-focus12-2025-03.csv", "aws")
        tagged, s3, sandbox, tax, credit, correction, purchase = charges()
        assert (tagged.project.code, tagged.attribution_rule) == ("genomics-core", "")
        for charge in (s3, tax, credit, correction, purchase):
            assert charge.project.code == "genomics-core"
            assert charge.pi.email == "alice.chen@example.edu"
            assert charge.fund_org == "BIO-2025-001"
            assert charge.attribution_rule == "sub_account:210000000001"
        assert s3.review_state == tax.review_state == purchase.review_state == "ok"

    def test_an_unmapped_account_is_flagged_not_dropped_and_credits_stay_their_own_lines(
        self, run, projects, aws_tag_keys
    ):
        mapping("sub_account", "210000000001", projects["genomics"])
        report = ingest(run, "aws-focus12-2025-03.csv", "aws")
        _, _, sandbox, _, credit, correction, _ = charges()
        assert sandbox.project is None
        assert sandbox.flag_reason_list == ["missing_pi", "missing_project", "missing_fund_org"]
        assert sandbox.billed_cost == Decimal("12.40")
        # Credits and refunds are reviewed, never netted into another line.
        assert credit.billed_cost == Decimal("-50.00") and credit.flag_reason_list == ["negative_amount"]
        assert correction.billed_cost == Decimal("-4.80") and correction.flag_reason_list == ["negative_amount"]
        assert report["flagged_rows"] == 3
        assert Decimal(report["flagged_cost"]) == Decimal("-42.40")

    def test_the_focus_1_0_export_with_its_five_aws_columns_imports_too(self, run, projects, aws_tag_keys):
        mapping("sub_account", "210000000001", projects["genomics"])
        report = ingest(run, "aws-focus10-2025-02.csv", "aws")
        assert (report["rows"], report["focus_version"]) == (3, "1.0")
        assert Decimal(report["billed_total"]) == Decimal("487.232")  # 434.112 + 23.00 + 30.12
        ec2, s3, tax = charges()
        assert ec2.extensions["x_UsageType"] == "BoxUsage:c6i.4xlarge"
        assert ec2.extensions["x_CostCategories"] == '{"department":"biology"}'
        assert (ec2.attribution_rule, s3.attribution_rule) == ("", "sub_account:210000000001")
        assert tax.charge_category == "Tax" and tax.project.code == "genomics-core"
        assert report["flagged_rows"] == 0


class TestAzureFocusCost:
    def test_focuscost_1_0_with_dates_without_seconds_and_crlf_imports(self, run, projects):
        mapping("resource_group", "RG-Chen-Lab", projects["genomics"])
        mapping("sub_account", "/subscriptions/5f3c1a2b-8d9e-4f70-a1b2-c3d4e5f60718", projects["climate"])
        report = ingest(run, "azure-focuscost10-2025-03.csv", "azure")
        assert report["rows"] == 4
        assert report["focus_version"] == "1.0"
        assert Decimal(report["billed_total"]) == Decimal("1497.932")  # 292 + 18.432 + 1200 - 12.50
        vm, blob, reservation, correction = charges()
        assert vm.charge_period_start.isoformat() == "2025-03-01T00:00:00+00:00"
        assert vm.extensions["x_BilledCostInUsd"] == "292.00"
        assert vm.extensions["x_SkuMeterCategory"] == "Virtual Machines"
        assert (vm.project.code, vm.attribution_rule) == ("climate-model", "")
        # The resource group is more specific than the subscription: it wins.
        assert (blob.project.code, blob.attribution_rule) == ("genomics-core", "resource_group:rg-chen-lab")
        assert blob.pi.email == "alice.chen@example.edu"
        sub = "sub_account:5f3c1a2b-8d9e-4f70-a1b2-c3d4e5f60718"
        assert (reservation.project.code, reservation.attribution_rule) == ("climate-model", sub)
        assert reservation.charge_category == "Purchase" and reservation.charge_frequency == "One-Time"
        assert correction.charge_class == "Correction"
        assert correction.charge_period_start.isoformat() == "2025-02-14T00:00:00+00:00"

    def test_focuscost_1_2_matches_a_subscription_mapped_by_its_bare_id_in_any_case(self, run, projects):
        mapping("sub_account", "C0FFEE00-1234-4ABC-8DEF-0123456789AB", projects["ocean"])
        report = ingest(run, "azure-focuscost12-2025-03.csv", "azure")
        assert report["focus_version"] == "1.2"
        assert Decimal(report["billed_total"]) == Decimal("55.25")  # 150.00 - 100.00 + 5.25
        usage, credit, adjustment = charges()
        assert [c.charge_category for c in (usage, credit, adjustment)] == ["Usage", "Credit", "Adjustment"]
        assert all(c.project.code == "ocean-lab" for c in (usage, credit, adjustment))
        assert usage.fund_org == "GEO-2025-020"
        assert usage.invoice_id == "G083412977"
        assert usage.review_state == adjustment.review_state == "ok"
        assert credit.review_state == "flagged"


class TestGoogleCloudFocusExport:
    def test_bigquery_timestamps_and_project_mapping_attribute_what_labels_cannot(self, run, projects):
        # Label values cannot hold an email address: the project id carries the attribution.
        mapping("sub_account", "rc-genomics-chen", projects["genomics"], note="GCP project")
        report = ingest(run, "gcp-focus-2025-03.csv", "gcp")
        assert report["rows"] == 6
        assert report["periods_seen"] == {"2025-03": 6}
        # 211.20 + 20.48 - 42.24 + 15.87 - 3.10 + 7.77
        assert Decimal(report["billed_total"]) == Decimal("209.98")
        compute, storage, credit, tax, adjustment, sandbox = charges()
        assert compute.billing_period_start.isoformat() == "2025-03-01T08:00:00+00:00"
        assert compute.extensions["x_Credits"].startswith('[{"name": "Sustained Usage Discount"')
        assert '"id": "rc-genomics-chen"' in compute.extensions["x_Project"]
        assert [c.charge_category for c in (credit, tax, adjustment)] == ["Credit", "Tax", "Adjustment"]
        for charge in (compute, storage, credit, tax, adjustment):
            assert charge.project.code == "genomics-core"
            assert charge.attribution_rule == "sub_account:rc-genomics-chen"
        assert sandbox.project is None and "missing_project" in sandbox.flag_reason_list
        attributed = Charge.objects.filter(project__code="genomics-core").aggregate(t=MoneySum("billed_cost"))["t"]
        assert attributed == Decimal("202.21")


class TestFocus13Headers:
    def test_service_and_host_provider_names_are_read(self, run, projects):
        Source.objects.create(name="gpucloud", display_name="Example GPU Cloud")
        report = ingest(run, "gpucloud-focus13-2025-03.csv", "gpucloud")
        assert report["focus_version"] == "1.3"
        assert Decimal(report["billed_total"]) == Decimal("110.34")
        gpu, inference = charges()
        assert gpu.provider_name == "Example GPU Cloud"
        assert inference.provider_name == "Example AI Models"
        assert inference.focus_extra["HostProviderName"] == "Example GPU Cloud"
        assert gpu.project.code == inference.project.code == "climate-model"
        assert report["flagged_rows"] == 0


class TestTheMappingTable:
    def test_a_disabled_mapping_attributes_nothing(self, run, projects):
        mapping("sub_account", "rc-genomics-chen", projects["genomics"], enabled=False)
        ingest(run, "gcp-focus-2025-03.csv", "gcp")
        assert not Charge.objects.filter(project__isnull=False).exists()

    def test_a_mapping_fund_org_overrides_the_projects_default(self, run, projects):
        mapping("sub_account", "rc-genomics-chen", projects["genomics"], fund_org="BIO-2025-777")
        ingest(run, "gcp-focus-2025-03.csv", "gcp")
        assert set(Charge.objects.filter(project__isnull=False).values_list("fund_org", flat=True)) == {"BIO-2025-777"}

    def test_the_tags_win_over_a_mapping(self, run, projects):
        mapping("resource_group", "rg-climate", projects["genomics"])
        ingest(run, "azure-focuscost10-2025-03.csv", "azure")
        vm = charges()[0]
        assert vm.project.code == "climate-model" and vm.attribution_rule == ""


class TestReevaluation:
    def test_re_evaluating_the_rules_keeps_and_applies_account_mappings(self, run, projects):
        ingest(run, "gcp-focus-2025-03.csv", "gcp")
        assert not Charge.objects.filter(project__isnull=False).exists()
        # A mapping added after the import attributes the charges when the rules are re-evaluated.
        mapping("sub_account", "rc-genomics-chen", projects["genomics"])
        period_reevaluate(month="2025-03", actor=Actor.cli())
        mapped = Charge.objects.filter(project__code="genomics-core")
        assert mapped.count() == 5
        assert set(mapped.values_list("attribution_rule", flat=True)) == {"sub_account:rc-genomics-chen"}
        # …and again changes nothing.
        report = period_reevaluate(month="2025-03", actor=Actor.cli())
        assert report.affected == 0
