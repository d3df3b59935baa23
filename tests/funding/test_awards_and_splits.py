"""Funds' award periods flag charges outside them; a split must add up to 100 on every day."""

from __future__ import annotations

from billing.models import Charge, ProjectFunding
from statements.models import Statement

from .conftest import PERIOD, charge, write


def test_a_fund_ending_on_the_15th_flags_the_later_charges(lab, run, focus_files, tmp_path):
    run("data", "import", "funds", write(tmp_path, "end.csv", "fund_org,end\nNIH-R01,2025-01-15\n"))
    rows = [charge("10.00", "2025-01-15", "i-15"), charge("20.00", "2025-01-16", "i-16"),
            charge("30.00", "2025-01-28", "i-28")]  # fmt: skip
    result = run("ingest", str(focus_files.write("aws.csv", rows)), "-s", "aws", "-p", PERIOD, "--format", "json")

    assert result.code == 0, result.err
    states = {c.resource_id: (c.review_state, c.flag_reason_list) for c in Charge.objects.all()}
    assert states == {
        "i-15": ("ok", []),
        "i-16": ("flagged", ["outside_award:NIH-R01 ended 2025-01-15"]),
        "i-28": ("flagged", ["outside_award:NIH-R01 ended 2025-01-15"]),
    }
    assert result.json()["flagged_rows"] == 2
    [period] = run("periods", "list", "--format", "json").json()
    assert period["flagged_charges"] == 2
    check = run("periods", "check", PERIOD, "--format", "json")
    assert check.code == 1
    blockers = {b["code"]: b["count"] for b in check.json()["blockers"]}
    assert blockers["flagged"] == 2 and blockers["outside_award"] == 2


def test_an_approved_outside_award_charge_is_billed_and_a_rejected_one_is_not(
    lab, run, focus_files, tmp_path, django_capture_on_commit_callbacks
):
    run("data", "import", "funds", write(tmp_path, "end.csv", "fund_org,end\nNIH-R01,2025-01-15\n"))
    rows = [charge("10.00", "2025-01-10", "i-10"), charge("20.00", "2025-01-20", "i-20"),
            charge("5.00", "2025-01-21", "i-21")]  # fmt: skip
    assert run("ingest", str(focus_files.write("aws.csv", rows)), "-s", "aws", "-p", PERIOD).code == 0
    approve, reject = (Charge.objects.get(resource_id=r).pk for r in ("i-20", "i-21"))
    assert run("review", "approve", "--id", str(approve), "--note", "no-cost extension").code == 0
    assert run("review", "reject", "--id", str(reject)).code == 0
    assert run("periods", "close", PERIOD).code == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert run("generate", "-p", PERIOD).code == 0

    assert Statement.objects.get().amount_due == 30
    assert Charge.objects.get(pk=approve).flag_reason_list == ["outside_award:NIH-R01 ended 2025-01-15"]


def test_a_split_that_does_not_add_up_to_100_is_refused_with_the_dates(lab, run, tmp_path):
    text = ("project_code,fund_org,percent,effective_from,effective_to\n"
            "genomics,NIH-R01,60,2025-01-01,\n"
            "genomics,NSF-CAREER,40,2025-01-01,2025-03-31\n"
            "genomics,DEPT-ACE,30,2025-04-01,2025-04-30\n")  # fmt: skip
    result = run("data", "import", "funding", write(tmp_path, "funding.csv", text))

    assert result.code == 1
    assert result.err == (
        "funding.csv: project genomics: the funding does not add up to 100% on every day: "
        "2025-04-01..2025-04-30 adds up to 90%; from 2025-05-01 on adds up to 60%"
    )
    assert not ProjectFunding.objects.exists()


def test_a_fund_code_must_match_the_fund_org_patterns(lab, run, tmp_path):
    assert (
        run("data", "import", "fund-org-patterns", write(tmp_path, "p.csv", "pattern\n^[A-Z]+-[A-Z0-9]+$\n")).code == 0
    )
    result = run("data", "import", "funds", write(tmp_path, "funds.csv", "fund_org,title\nbad fund,Typo\n"))

    assert result.code == 1
    assert "column fund_org" in result.err and "matches no enabled fund/org pattern" in result.err
