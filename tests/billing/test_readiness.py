"""`periods check`: what blocks a month is named before anything goes out, and every step refuses it."""

from __future__ import annotations

import pytest

from billing.models import BillingPeriod, Charge, Source
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db

PERIOD = "2025-01"


@pytest.fixture
def fresh_month(run, focus_files):
    """A fresh install's month: no credit side on the sources, a flagged charge, a fund/org the journal refuses."""
    Source.objects.update(credit_fund_org="", gl_account="")
    rows = [
        minimal_row("100", resource="vm"),
        minimal_row("20", resource="orphan", tag_json=tags(pi=None)),
        minimal_row("5", resource="odd", tag_json=tags(fund="NOHYPHEN")),
    ]
    assert run("ingest", str(focus_files.write("aws-2025-01.csv", rows))).code == 0


def test_check_names_every_blocker_and_warning_and_exits_1(run, fresh_month):
    result = run("periods", "check", PERIOD, "--format", "json")
    assert (result.code, result.err) == (1, "period 2025-01 is not ready: 3 blockers")
    data = result.json()
    assert data["ready"] is False
    assert [(b["code"], b["count"]) for b in data["blockers"]] == [
        ("flagged", 1), ("source_credit", 2), ("journal_fund_org", 1),
    ]  # fmt: skip
    assert "source aws has 2 charges to bill but no credit fund/org or GL account" in data["blockers"][1]["message"]
    assert "journal format gl will refuse ('NOHYPHEN'" in data["blockers"][2]["message"]
    # Four enabled sources sent nothing; the one import has rows without an InvoiceId (provisional).
    assert [(w["code"], w["count"]) for w in data["warnings"]] == [("missing_import", 4), ("provisional_data", 1)]
    assert "azure, gcp, hpc, storage" in data["warnings"][0]["message"]
    text = run("periods", "check", PERIOD).out
    assert "period 2025-01: not ready" in text and "  blocker: 1 flagged charge not yet decided" in text


def test_close_refuses_with_every_blocker_then_closes_once_they_are_fixed(run, fresh_month):
    refused = run("periods", "close", PERIOD)
    assert refused.code == 1
    assert refused.err.startswith("period 2025-01 cannot be closed yet: 1 flagged charge not yet decided")
    assert "source aws has 2 charges to bill" in refused.err and "'NOHYPHEN'" in refused.err
    assert BillingPeriod.objects.get().status == "open"
    for resource in ("orphan", "odd"):
        assert run("review", "reject", "--id", str(Charge.objects.get(resource_id=resource).pk)).code == 0
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD", gl_account="54100")
    checked = run("periods", "check", PERIOD, "--format", "json")
    assert checked.code == 0 and checked.json()["ready"] is True and checked.json()["blockers"] == []
    assert run("periods", "close", PERIOD).code == 0


def test_generate_send_export_and_finalize_refuse_a_blocker_that_appears_after_closing(
    run, fresh_month, django_capture_on_commit_callbacks
):
    for resource in ("orphan", "odd"):
        run("review", "reject", "--id", str(Charge.objects.get(resource_id=resource).pk))
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD", gl_account="54100")
    assert run("periods", "close", PERIOD).code == 0
    Source.objects.filter(name="aws").update(gl_account="")  # someone blanks it on the source
    generate = run("generate", "-p", PERIOD)
    assert generate.code == 1
    assert generate.err.startswith(
        "period 2025-01 cannot have its statements generated yet: source aws has 1 charge to bill but no GL account"
    )
    Source.objects.filter(name="aws").update(gl_account="54100")
    with django_capture_on_commit_callbacks(execute=True):
        assert run("generate", "-p", PERIOD).code == 0
    Source.objects.filter(name="aws").update(gl_account="")
    send = run("send", "-p", PERIOD)
    assert send.code == 1 and "cannot have its statements sent yet: source aws has 1 charge" in send.err
    export = run("export-journal", "-p", PERIOD)
    assert export.code == 1 and "no GL account for source aws" in export.err  # the journal's own, precise words
    finalize = run("periods", "finalize", PERIOD)
    assert finalize.code == 1 and "cannot be finalized yet: source aws has 1 charge" in finalize.err
