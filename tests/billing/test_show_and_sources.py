"""`openchargeback show` and `openchargeback sources`."""

from __future__ import annotations

import pytest

from billing.models import Source
from chargeback.models import AuditEvent
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db


def test_show_gives_a_pis_projects_with_totals(run, focus_files):
    path = focus_files.write("a.csv", [
        minimal_row("10.004", listed="12"),
        minimal_row("0.003"),
        minimal_row("7", tag_json=tags(project="atlas", fund="PHYS-2025-002")),
        minimal_row("99", tag_json=tags(pi="bob@example.edu", project="bobs")),
        minimal_row("3", tag_json=tags(project="atlas", fund="bad fund", extra="x")),
    ])  # fmt: skip
    from billing.models import FundOrgPattern

    FundOrgPattern.objects.create(pattern=r"^[A-Z]+-\d{4}-\d{3}$")
    run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    data = run("show", "Alice@Example.edu", "-p", "2025-01", "--format", "json").json()
    zero = "0.0000000000"
    assert data == {
        "pi_email": "alice@example.edu",
        "period": "2025-01",
        "projects": [
            {"project_id": "atlas", "fund_org": "PHYS-2025-002", "charges": 1, "list_cost": "7.0000000000",
             "billed_cost": "7.0000000000", "flagged_charges": 0, "flagged_cost": zero, "rejected_charges": 0,
             "rejected_cost": zero},
            {"project_id": "atlas", "fund_org": "bad fund", "charges": 0, "list_cost": zero,
             "billed_cost": zero, "flagged_charges": 1, "flagged_cost": "3.0000000000", "rejected_charges": 0,
             "rejected_cost": zero},
            {"project_id": "genomics", "fund_org": "BIO-2025-001", "charges": 2, "list_cost": "12.0030000000",
             "billed_cost": "10.0070000000", "flagged_charges": 0, "flagged_cost": zero, "rejected_charges": 0,
             "rejected_cost": zero},
        ],
        "total_list_cost": "19.0030000000",
        "total_billed_cost": "17.0070000000",
        "total_flagged_cost": "3.0000000000",
        "total_rejected_cost": zero,
    }  # fmt: skip
    text = run("show", "alice@example.edu", "-p", "2025-01").out
    assert "genomics" in text and "17.01" in text


def test_show_for_an_unknown_pi_is_an_error(run):
    result = run("show", "nobody@example.edu", "-p", "2025-01")
    assert (result.code, result.err) == (1, "no PI with email 'nobody@example.edu'")


def test_sources_add_and_list(run):
    result = run("sources", "add", "Slurm", "--display-name", "Slurm cluster", "--pattern", "slurm-*.csv",
                 "--credit-fund-org", "RC-HPC-001", "--gl-account", "54200")  # fmt: skip
    assert result.out.strip() == "added source slurm"
    source = Source.objects.get(name="slurm")
    assert (source.credit_fund_org, source.gl_account, source.file_pattern) == ("RC-HPC-001", "54200", "slurm-*.csv")
    assert AuditEvent.objects.filter(action="source.add").exists()
    names = [s["name"] for s in run("sources", "list", "--format", "json").json()]
    assert names == ["aws", "azure", "gcp", "hpc", "slurm", "storage"]
    again = run("sources", "add", "slurm")
    assert (again.code, again.err) == (1, "source 'slurm' already exists")
    bad = run("sources", "add", "no spaces!")
    assert bad.code == 1 and bad.err.startswith("name:")


def test_sources_set_changes_only_the_fields_given_and_audits_them(run):
    result = run("sources", "set", "hpc", "--credit-fund-org", "RC-HPC-OPS", "--gl-account", "54200")

    assert result.out.strip() == "source hpc: enabled, pattern hpc-* hpc_*, credit RC-HPC-OPS / GL 54200"
    hpc = Source.objects.get(name="hpc")
    assert (hpc.display_name, hpc.file_pattern, hpc.credit_fund_org, hpc.gl_account) == (
        "HPC cluster", "hpc-* hpc_*", "RC-HPC-OPS", "54200",
    )  # fmt: skip
    event = AuditEvent.objects.get(action="source.change")
    assert event.before == {"credit_fund_org": "RC-OPS", "gl_account": "54000"}  # tests/conftest.py
    assert event.after == {"credit_fund_org": "RC-HPC-OPS", "gl_account": "54200"}


def test_sources_set_renames_repatterns_and_disables(run):
    result = run("sources", "set", "HPC", "-d", "Sol cluster", "--pattern", "sol-*.csv*", "--disable",
                 "--format", "json")  # fmt: skip
    assert result.json()["enabled"] is False
    hpc = Source.objects.get(name="hpc")
    assert (hpc.display_name, hpc.file_pattern, hpc.enabled) == ("Sol cluster", "sol-*.csv*", False)
    assert run("sources", "set", "hpc", "--enable").code == 0
    assert Source.objects.get(name="hpc").enabled


def test_sources_set_refuses_an_unknown_source_or_nothing_to_change(run):
    unknown = run("sources", "set", "nope", "--gl-account", "1")
    assert (unknown.code, unknown.err) == (1, "unknown source 'nope' (known: aws, azure, gcp, hpc, storage)")
    nothing = run("sources", "set", "hpc")
    assert nothing.code == 1 and nothing.err.startswith("nothing to change")
    too_long = run("sources", "set", "hpc", "--gl-account", "9" * 51)
    assert too_long.code == 1 and too_long.err.startswith("gl_account:")
    assert not AuditEvent.objects.filter(action="source.change").exists()


def test_sources_add_takes_every_field_of_the_admin(run):
    result = run("sources", "add", "tape", "-d", "Tape archive", "--pattern", "tape-*.csv", "--credit-fund-org",
                 "RC-TAPE", "--gl-account", "54400", "--disabled")  # fmt: skip
    assert result.code == 0, result.err
    tape = Source.objects.get(name="tape")
    assert (tape.display_name, tape.file_pattern, tape.credit_fund_org, tape.gl_account, tape.enabled) == (
        "Tape archive", "tape-*.csv", "RC-TAPE", "54400", False,
    )  # fmt: skip
