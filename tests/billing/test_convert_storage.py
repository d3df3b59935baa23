"""`openchargeback convert storage` and `ingest --from storage`: worked examples checked by hand.

fixtures/samples/storage-usage-2025-01.csv, January 2025 (1 TB = 1000 GB). Rates per TB-month:
standard 10.00 with 5 TB free per project, billed on usage; scratch 2.00, billed on quota;
archive 1.50, billed on usage.

  genomics-core  standard 42 TB used:   list 420.00, free 50.00, billed 370.00
  climate-model  standard 3.5 TB used:  list  35.00, free 35.00, billed   0.00 (under the allowance)
  /scratch/chen-lab scratch quota 20 TB: list  40.00,             billed  40.00 (mapped to genomics-core)
  /archive/diaz-lab archive 250 TB used: list 375.00,             billed 375.00 (mapped to climate-model)
  /projects/orphan-lab standard 8 TB:   list  80.00, free 50.00, billed  30.00 (no mapping: flagged)

  list 950.00, billed 815.00.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.converters.focus import conformance_problems
from billing.models import PI, AccountMapping, Charge, Project, Rate, SubsidyRule

pytestmark = pytest.mark.django_db

REPORT = Path(__file__).resolve().parents[2] / "fixtures" / "samples" / "storage-usage-2025-01.csv"


@pytest.fixture
def storage(db):
    start = date(2024, 7, 1)
    for name, tier, price, free, basis in (
        ("storage-tb-month", "standard", "10.00", "5", "usage"), ("scratch-tb-month", "scratch", "2.00", "0", "quota"),
        ("archive-tb-month", "archive", "1.50", "0", "usage"),
    ):  # fmt: skip
        Rate.objects.create(name=name, kind="storage", applies_to=tier, unit="TB-month", price=Decimal(price),
                            free_quantity=Decimal(free), basis=basis, effective_from=start)  # fmt: skip
    alice = PI.objects.create(email="alice.chen@example.edu")
    bob = PI.objects.create(email="bob.diaz@example.edu")
    genomics = Project.objects.create(code="genomics-core", pi=alice, fund_org="BIO-2025-001")
    climate = Project.objects.create(code="climate-model", pi=bob, fund_org="GEO-2025-014")
    AccountMapping.objects.create(kind="storage_path", value="/scratch/chen-lab", project=genomics)
    AccountMapping.objects.create(kind="storage_path", value="/archive/diaz-lab", project=climate)
    return {"alice": alice}


def lines(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {r["SubAccountId"]: r for r in csv.DictReader(fh)}


def test_the_january_report_adds_up_to_the_cent(run, storage, tmp_path):
    out = tmp_path / "storage-2025-01.csv"
    result = run("convert", "storage", str(REPORT), "-p", "2025-01", "-o", str(out), "--format", "json")
    assert result.code == 0, result.err
    report = result.json()
    assert Decimal(report["list_total"]) == Decimal("950.00")
    assert Decimal(report["billed_total"]) == Decimal("815.00")
    assert report["unmapped"] == ["/projects/orphan-lab"]
    rows = lines(out)
    genomics = rows["genomics-core"]
    assert (genomics["PricingQuantity"], genomics["ListCost"], genomics["BilledCost"]) == ("42.0", "420.0", "370.0")
    assert (genomics["x_FreeAllowanceTB"], genomics["x_FreeAllowanceAmount"]) == ("5", "50")
    scratch = rows["/scratch/chen-lab"]
    assert (scratch["x_BilledOn"], scratch["PricingQuantity"], scratch["BilledCost"]) == ("quota", "20.0", "40.0")
    assert rows["/archive/diaz-lab"]["BilledCost"] == "375.0"
    assert rows["/projects/orphan-lab"]["BilledCost"] == "30.0"


def test_a_project_under_its_free_allowance_pays_nothing_but_sees_its_list_price(run, storage, tmp_path):
    out = tmp_path / "s.csv"
    run("convert", "storage", str(REPORT), "-p", "2025-01", "-o", str(out))
    climate = lines(out)["climate-model"]
    assert (climate["PricingQuantity"], climate["ListCost"], climate["BilledCost"]) == ("3.5", "35.0", "0.0")
    assert climate["x_FreeAllowanceTB"] == "3.5"
    assert "first 3.5 TB free" in climate["ChargeDescription"]


def test_a_pi_subsidy_with_a_monthly_cap_applies_after_the_allowance(run, storage, tmp_path):
    SubsidyRule.objects.create(code="dean-storage", label="Dean's storage support", pi=storage["alice"],
                               percent=Decimal(10), cap=Decimal(20), effective_from=date(2025, 1, 1))  # fmt: skip
    out = tmp_path / "s.csv"
    report = run("convert", "storage", str(REPORT), "-p", "2025-01", "-o", str(out), "--format", "json").json()
    rows = lines(out)
    # Lines are subsidised in order of their path or project: /scratch/chen-lab first, 10 % of 40.00
    # is 4.00; then genomics-core, 10 % of 370.00 is 37.00 but only 16.00 of the cap is left.
    assert rows["/scratch/chen-lab"]["BilledCost"] == "36.0"
    assert rows["genomics-core"]["BilledCost"] == "354.0"
    assert rows["genomics-core"]["x_SubsidyLabel"] == "Dean's storage support"
    assert Decimal(report["subsidy_total"]) == Decimal("20.00")


def test_the_output_conforms_to_focus_1_2(run, storage, tmp_path):
    out = tmp_path / "s.csv"
    assert run("convert", "storage", str(REPORT), "-p", "2025-01", "-o", str(out)).code == 0
    assert conformance_problems(out) == []


def test_ingest_from_storage_attributes_by_project_and_by_path_and_flags_the_rest(run, storage):
    result = run("ingest", "--from", "storage", str(REPORT), "-p", "2025-01", "--format", "json")
    assert result.code == 0, result.err
    assert Decimal(result.json()["import"]["billed_total"]) == Decimal("815.00")
    charges = {c.sub_account_id: c for c in Charge.objects.select_related("project", "pi")}
    climate = charges["climate-model"]
    assert (climate.project.code, climate.pi.email, climate.review_state) == (
        "climate-model",
        "bob.diaz@example.edu",
        "ok",
    )
    assert (climate.list_cost, climate.billed_cost) == (Decimal("35"), Decimal("0"))
    scratch = charges["/scratch/chen-lab"]
    assert scratch.project.code == "genomics-core" and scratch.attribution_rule == "storage_path:/scratch/chen-lab"
    orphan = charges["/projects/orphan-lab"]
    assert orphan.project is None and "missing_project" in orphan.flag_reason_list


def test_a_tier_without_a_rate_and_a_bad_size_are_one_line_errors(run, storage, focus_files):
    tier = focus_files.raw("a.csv", "path,tier,used_gb\n/x,standard,10\n/y,ssd,10\n/z,ssd,5\n")
    size = focus_files.raw("b.csv", "path,used_tb\n/x,lots\n")
    assert run("convert", "storage", str(tier), "-p", "2025-01", "--dry-run").err == (
        "a.csv:3: column tier: no rate for storage tier 'ssd' on 2025-01-01; add one under Rates in the admin"
    )
    assert (
        "b.csv:2: column used_tb: 'lots' is not a size"
        in run("convert", "storage", str(size), "-p", "2025-01", "--dry-run").err
    )


def test_a_row_without_a_used_size_is_named_not_billed_as_nothing(run, storage, focus_files):
    neither = focus_files.raw(
        "c.csv", "path,project,tier,used_gb,quota_gb\n/p,genomics-core,standard,10,\n/q,,standard,,\n"
    )
    result = run("convert", "storage", str(neither), "-p", "2025-01", "--dry-run")
    assert result.code == 1 and result.err == "c.csv:3: column used: neither a used size nor a quota"
    # A quota alone is not enough when the tier bills on usage.
    quota_only = focus_files.raw("d.csv", "path,project,tier,used_gb,quota_gb\n/p,genomics-core,standard,,500\n")
    result = run("convert", "storage", str(quota_only), "-p", "2025-01", "--dry-run")
    assert result.code == 1 and result.err == "d.csv:2: column used: no used size, and tier 'standard' bills on usage"


def test_a_subsidy_is_rounded_half_up_at_the_tenth_decimal(run, storage, focus_files, tmp_path):
    """1234.56789013 GB is 1.23456789013 TB; at 10.00 per TB (no free allowance) the list cost is
    12.3456789013. Half of it is 6.17283945065, exactly between two tenth-decimal steps: half-up
    gives a subsidy of 6.1728394507 (half-even would give ...506) and leaves 12.3456789013 -
    6.1728394507 = 6.1728394506 billed."""
    Rate.objects.create(name="nearline-tb-month", kind="storage", applies_to="nearline", unit="TB-month",
                        price=Decimal("10.00"), free_quantity=Decimal(0), basis="usage",
                        effective_from=date(2024, 7, 1))  # fmt: skip
    SubsidyRule.objects.create(code="half-nearline", label="Nearline at half price", partition="nearline",
                               percent=Decimal(50), effective_from=date(2025, 1, 1))  # fmt: skip
    report_csv = focus_files.raw(
        "usage.csv", "path,project,tier,used_gb\n/nl/genomics,genomics-core,nearline,1234.56789013\n"
    )
    out = tmp_path / "s.csv"
    assert run("convert", "storage", str(report_csv), "-p", "2025-01", "-o", str(out)).code == 0
    row = lines(out)["genomics-core"]
    assert (row["ListCost"], row["x_SubsidyAmount"], row["BilledCost"]) == (
        "12.3456789013", "6.1728394507", "6.1728394506",
    )  # fmt: skip
