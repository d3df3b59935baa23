"""Rates, subsidies and account mappings: edited in the admin, checked, imported and exported."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import PI, AccountMapping, Project, Rate, SubsidyRule
from chargeback.models import AuditEvent
from tests.billing.test_admin_rules import import_file

pytestmark = pytest.mark.django_db


def rate_form(**overrides: str) -> dict[str, str]:
    form = {
        "name": "gpu-a100-su", "description": "", "kind": "slurm", "applies_to": "gpu", "unit": "SU",
        "price": "2.50", "multiplier": "1", "free_quantity": "0", "basis": "usage",
        "effective_from": "2025-01-01", "effective_to": "2025-06-30",
    }  # fmt: skip
    form.update(overrides)
    return form


@pytest.fixture
def genomics(db):
    alice = PI.objects.create(email="alice.chen@example.edu")
    return Project.objects.create(code="genomics-core", pi=alice, fund_org="BIO-2025-001")


class TestRates:
    def test_a_finance_admin_adds_a_rate_and_the_edit_is_audited(self, client, finance_admin):
        client.force_login(finance_admin)
        assert client.post(reverse("admin:billing_rate_add"), rate_form()).status_code == 302
        rate = Rate.objects.get()
        assert rate.price == Decimal("2.50") and rate.effective_to == date(2025, 6, 30)
        assert AuditEvent.objects.filter(action="rate.add").exists()

    @pytest.mark.parametrize(
        "overrides",
        [
            {"effective_from": "2025-06-30", "effective_to": ""},  # open-ended, starts on the last day
            {"name": "gpu-h100-su", "effective_from": "2025-03-01", "effective_to": "2025-03-31"},  # same partition
            {"applies_to": "gpu-large", "effective_from": "2024-12-01", "effective_to": "2025-01-01"},  # same name
        ],
    )
    def test_overlapping_rates_are_refused(self, client, finance_admin, overrides):
        client.force_login(finance_admin)
        client.post(reverse("admin:billing_rate_add"), rate_form())
        response = client.post(reverse("admin:billing_rate_add"), rate_form(**overrides))
        assert response.status_code == 200
        assert "overlaps rate gpu-a100-su" in response.content.decode()
        assert Rate.objects.count() == 1

    def test_a_new_price_may_start_the_day_after_the_old_one_ends(self, client, finance_admin):
        client.force_login(finance_admin)
        client.post(reverse("admin:billing_rate_add"), rate_form())
        later = rate_form(effective_from="2025-07-01", effective_to="", price="2.75")
        assert client.post(reverse("admin:billing_rate_add"), later).status_code == 302
        assert Rate.objects.count() == 2

    def test_a_rate_csv_import_refuses_an_overlap_and_writes_nothing(self, client, finance_admin):
        client.force_login(finance_admin)
        header = "name,kind,applies_to,unit,price,multiplier,free_quantity,basis,effective_from,effective_to\n"
        content = (
            header + "cpu-su,slurm,cpu,SU,0.01,1,0,usage,2025-01-01,2025-12-31\n"
            "cpu-su-2,slurm,cpu,SU,0.02,1,0,usage,2025-06-01,\n"
        ).encode()
        upload = {"import_file": _upload("rates.csv", content), "format": "0", "resource": "0"}
        preview = client.post(reverse("admin:billing_rate_import"), upload)
        result = preview.context["result"]
        assert result.has_validation_errors()
        assert not Rate.objects.exists()


def test_blank_amounts_in_a_rate_or_subsidy_import_take_their_defaults(finance_admin):
    import tablib

    from billing.resources import RateResource, SubsidyRuleResource

    rates = tablib.Dataset(headers=["name", "kind", "applies_to", "unit", "price", "multiplier", "free_quantity",
                                    "basis", "effective_from", "effective_to"])  # fmt: skip
    rates.append(["cpu-su", "slurm", "cpu", "SU", "0.01", "", "", "usage", "2025-01-01", ""])
    result = RateResource().import_data(rates, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    rate = Rate.objects.get()
    assert (rate.multiplier, rate.free_quantity, rate.price) == (Decimal(1), Decimal(0), Decimal("0.01"))
    # A cap-only subsidy: a blank percent (exported that way, too) imports as no percent.
    rules = tablib.Dataset(headers=["code", "label", "percent", "cap", "cap_period", "fiscal_year_start_month",
                                    "priority", "effective_from", "enabled"])  # fmt: skip
    rules.append(["provost", "Provost HPC subsidy", "", "500", "month", "7", "0", "2025-01-01", "yes"])
    result = SubsidyRuleResource().import_data(rules, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors(), [r.errors for r in result.rows]
    rule = SubsidyRule.objects.get()
    assert (rule.percent, rule.cap) == (None, Decimal("500"))


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


class TestSubsidyRules:
    def test_a_subsidy_needs_a_percent_or_a_cap(self, client, finance_admin):
        client.force_login(finance_admin)
        form = {
            "code": "provost-hpc", "label": "Provost HPC subsidy", "enabled": "on", "priority": "0",
            "percent": "", "cap": "", "cap_period": "month", "fiscal_year_start_month": "7",
            "effective_from": "2025-01-01", "usage-TOTAL_FORMS": "0", "usage-INITIAL_FORMS": "0",
        }  # fmt: skip
        response = client.post(reverse("admin:billing_subsidyrule_add"), form)
        assert "Give a percent, a cap, or both." in response.content.decode()
        form["percent"] = "100"
        assert client.post(reverse("admin:billing_subsidyrule_add"), form).status_code == 302
        assert SubsidyRule.objects.get().label == "Provost HPC subsidy"

    @pytest.mark.parametrize(
        "period, start_month, window",
        [("2025-06", 7, "FY2025"), ("2025-07", 7, "FY2026"), ("2025-12", 1, "FY2025"), ("2025-03", 10, "FY2025")],
    )
    def test_the_fiscal_year_window_is_named_by_the_year_it_ends(self, period, start_month, window):
        rule = SubsidyRule(cap_period="fiscal_year", fiscal_year_start_month=start_month)
        assert rule.window(period) == window

    def test_the_subsidy_pages_open_for_every_role(self, client, finance_admin, reviewer, viewer):
        SubsidyRule.objects.create(code="x", label="X", percent=50, effective_from=date(2025, 1, 1))
        for person in (finance_admin, reviewer, viewer):
            client.force_login(person)
            for name in ("subsidyrule", "rate", "accountmapping"):
                assert client.get(reverse(f"admin:billing_{name}_changelist")).status_code == 200


class TestAccountMappings:
    def test_a_mapping_csv_import_matches_projects_by_code_and_normalises_values(self, client, finance_admin, genomics):
        client.force_login(finance_admin)
        content = (
            b"kind,value,project_code,fund_org,note,enabled\n"
            b"sub_account,/subscriptions/ABC-123,genomics-core,,Azure subscription,yes\n"
            b"slurm_account, Chen-Lab ,genomics-core,BIO-2025-002,,\n"
        )
        assert import_file(client, "accountmapping", "mappings.csv", content, "0").status_code == 302
        assert dict(AccountMapping.objects.values_list("kind", "match_value")) == {
            "sub_account": "abc-123", "slurm_account": "chen-lab",
        }  # fmt: skip
        assert AuditEvent.objects.filter(action="accountmapping.import").exists()

    def test_an_unknown_project_is_an_error_on_its_row(self, client, finance_admin, genomics):
        client.force_login(finance_admin)
        content = b"kind,value,project_code\nslurm_account,smith-lab,no-such-project\n"
        upload = {"import_file": _upload("m.csv", content), "format": "0", "resource": "0"}
        preview = client.post(reverse("admin:billing_accountmapping_import"), upload)
        assert preview.context["result"].has_validation_errors() or preview.context["result"].has_errors()
        assert not AccountMapping.objects.exists()

    def test_mappings_export_as_csv(self, client, finance_admin, genomics):
        AccountMapping.objects.create(kind="slurm_account", value="chen-lab", project=genomics)
        client.force_login(finance_admin)
        response = client.post(
            reverse("admin:billing_accountmapping_export"),
            {"format": "0", "resource": "0", "accountmappingresource_kind": "on",
             "accountmappingresource_value": "on", "accountmappingresource_project": "on"},
        )  # fmt: skip
        assert response.status_code == 200
        assert "slurm_account,chen-lab,genomics-core" in response.content.decode()


def test_rolling_back_a_batch_gives_back_the_subsidy_cap_it_used(run, focus_files):
    from decimal import Decimal

    from billing.models import ImportBatch, Source, SubsidyUsage
    from billing.services.batches import batch_rollback
    from chargeback.audit import Actor
    from tests.conftest import minimal_row

    run("ingest", str(focus_files.write("hpc-2025-01.csv", [minimal_row("5")])), "-s", "hpc", "-p", "2025-01")
    rule = SubsidyRule.objects.create(code="provost", label="Provost", percent=100, effective_from=date(2025, 1, 1))
    hpc = Source.objects.get(name="hpc")
    SubsidyUsage.objects.create(rule=rule, window="2025", period="2025-01", source=hpc, amount=Decimal("40"))
    batch = ImportBatch.objects.get(source=hpc)
    batch_rollback(batch_id=batch.pk, actor=Actor.cli(), reason="wrong sacct dump")
    assert not SubsidyUsage.objects.exists()
