"""Exporting a period's journal: balanced to the cent, refused with every problem named, kept as records."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.core.files.storage import default_storage

from billing.models import BillingPeriod, Charge, Source
from chargeback.models import AuditEvent
from journals.models import JournalExport
from journals.selectors import period_reconciliation
from statements.models import Statement

from .conftest import APPROVED_TOTAL, PERIOD


def read_csv(name: str) -> list[dict[str, str]]:
    with default_storage.open(name, "rb") as fh:
        return list(csv.DictReader(io.StringIO(fh.read().decode())))


def current_due() -> Decimal:
    statements = Statement.objects.filter(period__period=PERIOD).exclude(status="superseded")
    return sum((s.amount_due for s in statements), Decimal(0))


def test_debits_equal_credits_equal_the_statements_due_to_the_cent(run, closed_period):
    report = run("export-journal", "-p", PERIOD, "--format", "json").json()

    due = current_due()
    assert Decimal(report["debit_total"]) == Decimal(report["credit_total"]) == due
    assert Decimal(report["statements_due"]) == due
    rows = read_csv(report["file"])
    assert len(rows) == report["lines"] == report["debit_lines"] + report["credit_lines"]
    debits = sum(Decimal(r["debit"]) for r in rows if r["debit"])
    credits = sum(Decimal(r["credit"]) for r in rows if r["credit"])
    assert debits == credits == due


def test_the_reconciliation_invariant_holds_within_half_a_cent_per_statement(run, closed_period):
    run("export-journal", "-p", PERIOD)

    rec = period_reconciliation(BillingPeriod.objects.get(period=PERIOD))

    assert rec.approved_billed == APPROVED_TOTAL  # exact, 17+ significant digits
    assert rec.imported_billed == APPROVED_TOTAL
    assert rec.statements == 3
    assert rec.statements_due == rec.journal_debits == rec.journal_credits == current_due()
    assert abs(rec.statements_due - rec.approved_billed) <= Decimal("0.005") * rec.statements
    assert rec.statements_due != rec.approved_billed  # rounding happened, within the tolerance
    assert rec.balanced
    assert all(f.ok for f in rec.figures())


def test_the_reconciliation_shows_the_journal_missing_until_exported(closed_period):
    rec = period_reconciliation(BillingPeriod.objects.get(period=PERIOD))

    assert rec.export is None and rec.journal_debits is None
    assert not rec.balanced
    assert [f.label for f in rec.figures() if not f.ok] == ["Journal debits", "Journal credits"]


def test_excluded_and_rejected_charges_are_reported_apart(run, imported, generate):
    charge = Charge.objects.get(resource_id="astro-0")
    run("review", "reject", "--id", str(charge.pk), "--note", "not ours")
    run("periods", "close", PERIOD)
    generate()
    run("export-journal", "-p", PERIOD)

    rec = period_reconciliation(BillingPeriod.objects.get(period=PERIOD))

    assert rec.rejected_charges == 1
    assert rec.rejected_billed == Decimal("98765432.1098765432")
    assert rec.approved_billed == rec.imported_billed - rec.rejected_billed
    assert rec.balanced


def test_the_json_report_carries_totals_lines_and_the_file_path(run, closed_period, tmp_path):
    result = run("export-journal", "-p", PERIOD, "-f", "summary", "-o", str(tmp_path), "--format", "json")

    assert result.code == 0, result.err
    report = result.json()
    assert report["number"] == f"{PERIOD}-J001"
    assert report["format"] == "summary"
    assert {"debit_total", "credit_total", "lines", "file", "path", "sha256"} <= report.keys()
    written = tmp_path / f"{PERIOD}-J001-summary.csv"
    assert report["output"] == str(written)
    assert written.read_bytes() == default_storage.open(report["file"], "rb").read()


def test_the_text_summary_says_what_balances(run, closed_period):
    result = run("export-journal", "-p", PERIOD)

    assert result.out.startswith(f"Exported journal {PERIOD}-J001 for {PERIOD} (format gl)")
    due = f"{current_due():,.2f} USD"
    assert f"Debits {due} = credits {due} = statements due {due}" in result.out


def test_an_open_period_is_refused(run, imported):
    result = run("export-journal", "-p", PERIOD)

    assert result.code == 1
    assert "period 2025-01 is open" in result.err and "close it and generate the statements first" in result.err
    assert not JournalExport.objects.exists()


def test_a_closed_period_without_statements_is_refused(run, imported):
    run("periods", "close", PERIOD)

    result = run("export-journal", "-p", PERIOD)

    assert result.code == 1
    assert "has no statements; generate them first" in result.err


def test_draft_statements_still_rendering_are_refused(run, imported):
    run("periods", "close", PERIOD)
    run("generate", "-p", PERIOD)  # the render tasks run after commit; in this test they never do

    result = run("export-journal", "-p", PERIOD)

    assert result.code == 1
    assert "3 draft statements whose PDF is still being rendered" in result.err


def test_statements_generated_before_the_period_was_reopened_are_refused(run, closed_period, generate):
    run("periods", "reopen", PERIOD, "--reason", "wrong project")
    run("review", "reject", "--id", str(Charge.objects.get(resource_id="astro-0").pk))
    run("periods", "close", PERIOD)

    result = run("export-journal", "-p", PERIOD)

    assert result.code == 1
    assert "was reopened on" in result.err and "after its statements were generated" in result.err
    assert "openchargeback generate -p 2025-01" in result.err

    generate()
    assert run("export-journal", "-p", PERIOD).code == 0


def test_a_period_reopened_and_closed_unchanged_exports_once_generated_again(run, closed_period, generate):
    run("periods", "reopen", PERIOD, "--reason", "a second look")
    run("periods", "close", PERIOD)
    assert run("export-journal", "-p", PERIOD).code == 1  # not yet confirmed by a generation
    generate()  # every statement unchanged: no new version, but the generation is recorded
    assert run("export-journal", "-p", PERIOD).code == 0


def test_one_pis_statements_generated_again_do_not_make_the_period_current(
    run, closed_period, generate, django_capture_on_commit_callbacks
):
    run("periods", "reopen", PERIOD, "--reason", "charges of both PIs were not ours")
    for resource in ("astro-0", "genomics-0"):  # one of bob's, one of alice's
        run("review", "reject", "--id", str(Charge.objects.get(resource_id=resource).pk))
    run("periods", "close", PERIOD)
    with django_capture_on_commit_callbacks(execute=True):  # alice's new versions rendered
        assert run("generate", "-p", PERIOD, "--pi", "alice@example.edu").code == 0  # bob's is stale

    result = run("export-journal", "-p", PERIOD)

    assert result.code == 1 and "after its statements were generated" in result.err
    generate()
    assert run("export-journal", "-p", PERIOD).code == 0


def test_a_source_without_a_credit_fund_org_is_refused_and_nothing_is_written(run, closed_period):
    Source.objects.filter(name="hpc").update(credit_fund_org="")

    result = run("export-journal", "-p", PERIOD)

    assert result.code == 1
    assert "source hpc has no credit fund/org" in result.err
    assert "\n" not in result.err
    assert not JournalExport.objects.exists()
    assert not AuditEvent.objects.filter(action="journal.export").exists()


def test_an_unknown_format_names_the_choices(run, closed_period):
    result = run("export-journal", "-p", PERIOD, "-f", "sap")

    assert result.code == 1
    assert "no journal format 'sap'; choose from banner, detail, generic-gl-csv, gl, summary" in result.err


def test_re_exporting_keeps_the_earlier_files(run, closed_period):
    first = run("export-journal", "-p", PERIOD, "--format", "json").json()
    second = run("export-journal", "-p", PERIOD, "--format", "json").json()

    assert (first["number"], second["number"]) == (f"{PERIOD}-J001", f"{PERIOD}-J002")
    assert first["file"] != second["file"]
    assert default_storage.exists(first["file"]) and default_storage.exists(second["file"])
    assert JournalExport.objects.count() == 2
    assert AuditEvent.objects.filter(action="journal.export").count() == 2


def test_finalizing_needs_a_journal_export_of_the_current_statements(run, closed_period):
    refused = run("periods", "finalize", PERIOD)

    assert refused.code == 1
    assert "has statements but no journal export of its current statements" in refused.err

    run("export-journal", "-p", PERIOD)
    assert run("periods", "finalize", PERIOD).code == 0


def test_a_journal_of_statements_since_regenerated_does_not_allow_finalizing(run, closed_period, generate):
    run("export-journal", "-p", PERIOD)
    run("periods", "reopen", PERIOD, "--reason", "one charge was not ours")
    run("review", "reject", "--id", str(Charge.objects.get(resource_id="astro-1").pk))
    run("periods", "close", PERIOD)
    generate()

    result = run("periods", "finalize", PERIOD)

    assert result.code == 1 and "no journal export of its current statements" in result.err


def test_a_finalized_period_can_be_re_exported_with_the_same_numbers(run, closed_period):
    before = run("export-journal", "-p", PERIOD, "--format", "json").json()
    run("periods", "finalize", PERIOD)

    after = run("export-journal", "-p", PERIOD, "--format", "json").json()

    assert after["number"] == f"{PERIOD}-J002"
    for key in ("debit_total", "credit_total", "statements_due", "lines", "debit_lines", "credit_lines"):
        assert after[key] == before[key]
    strip = [{k: v for k, v in r.items() if k != "reference_id"} for r in read_csv(before["file"])]
    assert strip == [{k: v for k, v in r.items() if k != "reference_id"} for r in read_csv(after["file"])]


def test_the_reconciliation_highlights_statements_that_no_longer_match_the_charges(run, closed_period):
    run("export-journal", "-p", PERIOD)
    run("periods", "reopen", PERIOD, "--reason", "a charge was not ours")
    run("review", "reject", "--id", str(Charge.objects.get(resource_id="genomics-2").pk))
    run("periods", "close", PERIOD)

    rec = period_reconciliation(BillingPeriod.objects.get(period=PERIOD))

    assert rec.approved_billed == APPROVED_TOTAL - Decimal("7654321.1234567891")
    assert not rec.statements_ok and not rec.balanced
    assert [f.label for f in rec.figures() if not f.ok] == ["Statements due"]


def test_the_journal_totals_match_figures_worked_out_by_hand(run, closed_period):
    """Each statement is rounded once and spread over its lines by largest remainder (see conftest):

    Alice genomics: aws 1234567.8912345678 + 0.3333333333 = 1234568.2245679011, hpc 7654321.1234567891;
      due 8888889.3480246902 -> 8888889.35; cut 1234568.22 + 7654321.12, the cent to aws (0.0045679011
      against 0.0034567891): aws 1234568.23, hpc 7654321.12.
    Alice proteomics: usage 12345678.9012345678, credit -10.0000000005; due 12345668.9012345673 ->
      12345668.90; cut 12345678.90 + (-10.01), the cent to the credit (remainder 0.0099999995): -10.00.
    Bob astro: hpc 98765432.1098765432, aws 0.0049999999; due 98765432.1148765431 -> 98765432.11;
      cut 98765432.10 + 0.00, the cent to hpc (0.0098765432 against 0.0049999999).

    Debits: 8888889.35 + 12345668.90 + 98765432.11 = 119999990.36. Credits: aws 1234568.23 +
    12345678.90 - 10.00 + 0.00 = 13580237.13; hpc 7654321.12 + 98765432.11 = 106419753.23.
    """
    report = run("export-journal", "-p", PERIOD, "--format", "json").json()
    assert Decimal(report["debit_total"]) == Decimal(report["credit_total"]) == Decimal("119999990.36")
    rows = [(r["orgn"], r["fund"], r["account"], r["debit"], r["credit"]) for r in read_csv(report["file"])]
    assert rows == [
        ("BIO", "2025-001", "54100", "1234568.23", ""), ("BIO", "2025-001", "54200", "7654321.12", ""),
        ("CHEM", "77", "54100", "12345668.90", ""), ("PHYS", "9", "54200", "98765432.11", ""),
        ("RC", "CLOUD-AWS", "54100", "", "13580237.13"), ("RC", "HPC-OPS", "54200", "", "106419753.23"),
    ]  # fmt: skip
