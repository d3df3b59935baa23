"""`openchargeback ingest`: the import contract of design.md §6, through the command."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from billing.models import PI, BillingPeriod, Charge, ImportBatch, ImportFile, Project
from chargeback.models import AuditEvent
from tests.billing.ingest_helpers import FULL_HEADER, full_row, nothing_written
from tests.conftest import MINIMAL_HEADER, minimal_row, tags

pytestmark = pytest.mark.django_db


class TestAMinimalFile:
    def test_it_imports_every_line_with_exact_totals(self, run, focus_files):
        path = focus_files.write(
            "hpc-2025-01.csv", [minimal_row("10.0000000001"), minimal_row("0.1"), minimal_row("0.2")]
        )
        result = run("ingest", str(path), "-s", "hpc", "--format", "json")
        assert result.code == 0, result.err
        report = result.json()
        assert report["status"] == "applied"
        assert report["rows"] == 3
        assert report["billed_total"] == "10.3000000001"
        assert report["periods_seen"] == {"2025-01": 3}
        assert report["focus_version"] == "minimal"
        assert Charge.objects.count() == 3
        charge = Charge.objects.order_by("line_number").first()
        assert charge.billed_cost == Decimal("10.0000000001")
        assert charge.pi.email == "alice@example.edu"
        assert charge.project.code == "genomics"
        assert charge.fund_org == "BIO-2025-001"
        assert charge.line_number == 2
        assert charge.review_state == "ok"
        assert charge.charge_period_start.isoformat() == "2025-01-01T00:00:00+00:00"

    def test_the_period_comes_from_the_file_name_or_else_the_first_row(self, run, focus_files):
        named = focus_files.write("hpc_202502.csv", [minimal_row(period="2025-02")])
        unnamed = focus_files.write("export.csv", [minimal_row(period="2025-03")])
        assert run("ingest", str(named), "-s", "hpc", "--format", "json").json()["period"] == "2025-02"
        assert run("ingest", str(unnamed), "-s", "hpc", "--format", "json").json()["period"] == "2025-03"

    def test_the_text_report_names_rows_totals_flags_and_the_batch(self, run, focus_files):
        path = focus_files.write("a.csv", [minimal_row("5"), minimal_row("7", tag_json=tags(pi=None))])
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        batch = ImportBatch.objects.get()
        assert f"Imported batch {batch.pk}" in result.out
        assert "rows          2" in result.out
        assert "billed total  12.00 USD" in result.out
        assert "flagged       1 rows, 7.00 USD" in result.out
        assert "missing_pi (1)" in result.out


class TestFormats:
    def test_full_focus_columns_extensions_and_other_focus_columns_are_all_kept(self, run, focus_files):
        path = focus_files.write("aws.csv", [full_row("3.5")], FULL_HEADER)
        assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
        charge = Charge.objects.get()
        assert charge.billing_currency == "USD"
        assert charge.pricing_quantity == Decimal("24")
        assert charge.pricing_unit == "Hours"
        assert charge.invoice_id == "INV-1"
        assert charge.region_id == "us-east-1"
        assert charge.extensions == {"x_ServiceCode": "AmazonEC2"}
        assert charge.focus_extra == {}  # CommitmentDiscountId was NULL
        assert charge.tags["pi_email"] == "alice@example.edu"
        assert ImportBatch.objects.get().focus_version == "1.2"

    def test_column_names_match_case_insensitively(self, run, focus_files):
        header = [h.lower() for h in MINIMAL_HEADER]
        path = focus_files.write("lower.csv", [minimal_row("2")], header)
        assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
        assert Charge.objects.get().billed_cost == Decimal("2")

    @pytest.mark.parametrize(
        "value, expected",
        [
            ("2025-01-03", "2025-01-03T00:00:00+00:00"),
            ("2025-01-03 04:05:06", "2025-01-03T04:05:06+00:00"),
            ("2025-01-03T04:05:06Z", "2025-01-03T04:05:06+00:00"),
            ("2025-01-03T04:05:06-05:00", "2025-01-03T09:05:06+00:00"),
        ],
    )
    def test_dates_are_read_in_every_documented_shape(self, run, focus_files, value, expected):
        row = minimal_row()
        row[2] = value
        path = focus_files.write("d.csv", [row])
        assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
        assert Charge.objects.get().charge_period_start.isoformat() == expected

    def test_null_and_empty_cells_are_null(self, run, focus_files):
        row = minimal_row("4")
        row[4] = "NULL"  # ListCost
        row[5] = ""  # ContractedCost
        path = focus_files.write("n.csv", [row])
        assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
        charge = Charge.objects.get()
        assert charge.list_cost is None
        assert charge.contracted_cost is None

    def test_a_bom_crlf_and_gzip_are_fine(self, run, focus_files):
        path = focus_files.write("x.csv.gz", [minimal_row("1"), minimal_row("2")], newline="\r\n", bom=True, gz=True)
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json")
        assert result.code == 0, result.err
        assert result.json()["billed_total"] == "3.0000000000"

    def test_blank_lines_are_not_data_lines(self, run, focus_files):
        path = focus_files.write("b.csv", [minimal_row("1"), [], minimal_row("2")])
        assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
        assert Charge.objects.count() == 2


class TestNothingIsLost:
    def test_identical_lines_in_one_file_are_all_kept(self, run, focus_files):
        path = focus_files.write("dup.csv", [minimal_row("1"), minimal_row("1"), minimal_row("1")])
        run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        charges = list(Charge.objects.order_by("line_number"))
        assert [c.line_number for c in charges] == [2, 3, 4]
        assert len({c.fingerprint for c in charges}) == 1

    def test_lines_without_pi_project_or_fund_are_stored_and_flagged(self, run, focus_files):
        path = focus_files.write("f.csv", [
            minimal_row("1", tag_json=tags(pi=None)),
            minimal_row("2", tag_json=tags(project=None, fund=None)),
            minimal_row("3", tag_json=""),
        ])  # fmt: skip
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json")
        report = result.json()
        assert report["rows"] == 3 and report["flagged_rows"] == 3
        assert report["flagged_cost"] == "6.0000000000"
        reasons = [c.flag_reason_list for c in Charge.objects.order_by("line_number")]
        assert reasons[0] == ["missing_pi"]
        assert reasons[1] == ["missing_project", "missing_fund_org"]
        assert reasons[2] == ["missing_pi", "missing_project", "missing_fund_org"]
        assert set(Charge.objects.values_list("review_state", flat=True)) == {"flagged"}


class TestIdempotenceAndReplacement:
    def test_the_same_file_again_is_a_no_op_that_says_so(self, run, focus_files):
        path = focus_files.write("a.csv", [minimal_row("1")])
        run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        batch = ImportBatch.objects.get()
        events = AuditEvent.objects.count()
        again = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert again.code == 0
        assert again.out.strip() == f"already imported as batch {batch.pk}; nothing changed"
        assert Charge.objects.count() == 1 and ImportBatch.objects.count() == 1
        assert AuditEvent.objects.count() == events

    def test_a_new_file_replaces_the_batch_and_keeps_decisions_on_identical_rows(self, run, focus_files):
        gpu = minimal_row("50", resource="gpu-1", tag_json=tags(pi=None))
        first = focus_files.write("v1.csv", [minimal_row("1"), gpu])
        run("ingest", str(first), "-s", "aws", "-p", "2025-01")
        flagged = Charge.objects.get(review_state="flagged")
        assert run("review", "approve", "--id", str(flagged.pk), "--note", "known").code == 0

        second = focus_files.write("v2.csv", [minimal_row("1"), gpu, minimal_row("9", resource="new")])
        first_batch = ImportBatch.objects.get()
        # The dry run says which batch would go, what it bills and which decisions carry over.
        preview = run("ingest", str(second), "-s", "aws", "-p", "2025-01", "--dry-run", "--format", "json").json()
        assert (preview["replaced_batch_id"], preview["carried_decisions"]) == (first_batch.pk, 1)
        assert preview["replaces"]["rows"] == 2 and preview["replaces"]["decided_charges"] == 1
        assert Decimal(preview["replaces"]["billed_cost"]) == Decimal("51")
        text = run("ingest", str(second), "-s", "aws", "-p", "2025-01", "--dry-run").out
        assert f"replaces      batch {first_batch.pk} (2 rows, billed 51.00 USD, 1 reviewed charges)" in text
        assert "1 review decisions will carry over (confirm with --replace)" in text
        # Without --replace the import is refused with one line naming the batch; nothing changes.
        refused = run("ingest", str(second), "-s", "aws", "-p", "2025-01")
        assert (refused.code, refused.err) == (1, (
            f"source aws already has batch {first_batch.pk} for 2025-01 (2 rows, billed 51.00, 1 reviewed charges); "
            "give --replace to replace it"
        ))  # fmt: skip
        assert list(ImportBatch.objects.values_list("status", flat=True)) == ["applied"]
        result = run("ingest", str(second), "-s", "aws", "-p", "2025-01", "--replace", "--format", "json").json()
        old, new = ImportBatch.objects.order_by("id")
        assert old.status == "superseded" and new.status == "applied"
        assert new.supersedes == old
        assert result["replaced_batch_id"] == old.pk
        assert result["carried_decisions"] == 1
        assert not Charge.objects.filter(batch=old, active=True).exists()
        carried = Charge.objects.get(batch=new, resource_id="gpu-1")
        assert carried.review_state == "approved"
        assert carried.decisions.get().decision == "carried_over"
        assert Charge.objects.filter(active=True).count() == 3
        assert result["flagged_rows"] == 0
        again = run("ingest", str(second), "-s", "aws", "-p", "2025-01")  # an identical file: still a no-op
        assert again.out.strip() == f"already imported as batch {new.pk}; nothing changed"

    def test_several_files_on_one_command_line_form_one_batch(self, run, focus_files):
        a = focus_files.write("part-1.csv", [minimal_row("1")])
        b = focus_files.write("part-2.csv.gz", [minimal_row("2"), minimal_row("3")], gz=True)
        result = run("ingest", str(a), str(b), "-s", "aws", "-p", "2025-01", "--format", "json").json()
        batch = ImportBatch.objects.get()
        assert result["rows"] == 3
        assert list(batch.files.values_list("name", "rows")) == [("part-1.csv", 1), ("part-2.csv.gz", 2)]
        assert sorted(Charge.objects.values_list("file_index", "line_number")) == [(0, 2), (1, 2), (1, 3)]

    def test_the_original_files_are_stored_with_their_sha256(self, run, focus_files):
        import hashlib

        path = focus_files.write("keep.csv", [minimal_row("1")])
        run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        stored = ImportFile.objects.get()
        assert stored.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert stored.stored.read() == path.read_bytes()


class TestLockedPeriods:
    @pytest.mark.parametrize("final_status", ["closed", "finalized"])
    def test_a_closed_or_finalized_period_refuses_imports(self, run, focus_files, final_status):
        run("periods", "open", "2025-01")
        run("periods", "close", "2025-01")
        if final_status == "finalized":
            assert run("periods", "finalize", "2025-01").code == 0
        path = focus_files.write("late.csv", [minimal_row("1")])
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert result.err == f"period 2025-01 is {final_status}; imports are refused"
        assert not Charge.objects.exists()
        dry = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--dry-run")
        assert dry.code == 1


class TestDryRun:
    def test_a_dry_run_reports_without_writing(self, run, focus_files):
        path = focus_files.write(
            "d.csv", [minimal_row("1"), minimal_row("2", tag_json=tags(pi="new@example.edu", project="p2"))]
        )
        report = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--dry-run", "--format", "json").json()
        assert report["status"] == "dry_run"
        assert report["rows"] == 2 and report["billed_total"] == "3.0000000000"
        assert report["new_pis"] == 2 and report["new_projects"] == 2
        assert nothing_written()
        assert not PI.objects.exists() and not Project.objects.exists() and not BillingPeriod.objects.exists()


class TestAttribution:
    def test_emails_are_normalised_and_pis_and_projects_created_on_first_sight(self, run, focus_files):
        path = focus_files.write("a.csv", [
            minimal_row("1", tag_json=tags(pi="  Alice@Example.EDU ")),
            minimal_row("2", tag_json=tags(pi="alice@example.edu")),
        ])  # fmt: skip
        run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert list(PI.objects.values_list("email", flat=True)) == ["alice@example.edu"]
        project = Project.objects.get()
        assert project.pi.email == "alice@example.edu" and project.fund_org == "BIO-2025-001"

    def test_tag_keys_follow_the_configurable_mapping(self, run, focus_files):
        from billing.models import TagMapping

        TagMapping.objects.create(field="pi_email", tag_key="Owner", priority=0)
        TagMapping.objects.filter(field="reference_1").update(tag_key="grant_number")
        row = minimal_row(
            "1",
            tag_json=json.dumps(
                {"owner": "bob@example.edu", "project_id": "p", "fund_org": "F-1", "grant_number": "NSF-1"}
            ),
        )
        path = focus_files.write("m.csv", [row])
        run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        charge = Charge.objects.get()
        assert charge.pi.email == "bob@example.edu"
        assert charge.reference_1 == "NSF-1"

    def test_a_missing_fund_tag_takes_the_projects_default(self, run, focus_files):
        path = focus_files.write("a.csv", [minimal_row("1"), minimal_row("2", tag_json=tags(fund=None))])
        run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert set(Charge.objects.values_list("fund_org", "review_state")) == {("BIO-2025-001", "ok")}


class TestGuards:
    def test_the_source_is_detected_from_the_file_name_when_not_given(self, run, focus_files):
        path = focus_files.write("hpc-usage-2025-01.csv", [minimal_row("1")])
        result = run("ingest", str(path), "--format", "json")
        assert result.code == 0, result.err
        assert (result.json()["source"], result.json()["period"]) == ("hpc", "2025-01")
        unknown = focus_files.write("export-2025-01.csv", [minimal_row("1")])
        result = run("ingest", str(unknown))
        assert (result.code, result.err) == (
            1,
            "cannot tell the source from the file name 'export-2025-01.csv'; give --source",
        )

    def test_files_imported_for_one_source_are_refused_for_another(self, run, focus_files):
        path = focus_files.write("a.csv", [minimal_row("1")])
        run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        batch = ImportBatch.objects.get()
        result = run("ingest", str(path), "-s", "gcp", "-p", "2025-01")
        assert result.code == 1
        assert result.err.startswith(f"these files were already imported as batch {batch.pk} for source aws")
        assert Charge.objects.count() == 1

    def test_a_file_given_twice_is_refused(self, run, focus_files):
        path = focus_files.write("a.csv", [minimal_row("1")])
        result = run("ingest", str(path), str(path), "-s", "aws", "-p", "2025-01")
        assert (result.code, result.err) == (1, "a.csv is given twice")
        assert nothing_written()

    def test_an_absurdly_large_amount_is_a_line_error_not_a_crash(self, run, focus_files):
        path = focus_files.write("a.csv", [minimal_row("1"), minimal_row("1e19")])
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert (
            result.err == "a.csv:3: column ListCost: '1e19' is too large (at most 18 digits before the decimal point)"
        )
        assert nothing_written()

    def test_replacing_recounts_the_flagged_figures_after_carrying_decisions(self, run, focus_files):
        orphan = minimal_row("45", resource="orphan", tag_json=tags(pi=None))
        run("ingest", str(focus_files.write("v1.csv", [minimal_row("1"), orphan])), "-s", "aws", "-p", "2025-01")
        run("review", "approve", "-p", "2025-01")
        v2 = focus_files.write("v2.csv", [minimal_row("2"), orphan])
        report = run("ingest", str(v2), "-s", "aws", "-p", "2025-01", "--replace", "--format", "json").json()
        assert (report["flagged_rows"], report["flagged_cost"], report["flag_counts"]) == (0, "0", {})
        batch = ImportBatch.objects.get(status="applied")
        assert (batch.flagged_rows, batch.flagged_cost, batch.flag_counts) == (0, Decimal(0), {})


class TestAmountSpellings:
    @pytest.mark.parametrize(
        "text, expected",
        [
            ("-0.5", "-0.5"), ("5.", "5"), (".25", "0.25"), ("1e-7", "0.0000001"), ("+3", "3"),
            (" 7.5 ", "7.5"), ("123456789.0123456789", "123456789.0123456789"), ("-000.0100", "-0.01"),
        ],
    )  # fmt: skip
    def test_every_decimal_spelling_is_stored_exactly(self, run, focus_files, text, expected):
        path = focus_files.write("a.csv", [minimal_row(text)])
        assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0, text
        assert Charge.objects.get().billed_cost == Decimal(expected)

    def test_more_than_ten_decimals_are_rounded_half_up_with_a_warning(self, run, focus_files):
        path = focus_files.write("a.csv", [minimal_row("0.00000000005"), minimal_row("-0.00000000005")])
        report = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json").json()
        assert sorted(Charge.objects.values_list("billed_cost", flat=True)) == [Decimal("-1E-10"), Decimal("1E-10")]
        assert "8 amounts had more than 10 decimal places and were rounded half-up" in report["warnings"]

    def test_only_values_that_changed_count_as_rounded(self, run, focus_files):
        header = [*MINIMAL_HEADER, "ConsumedQuantity"]
        rows = [
            [*minimal_row("1.000000000000"), "2.500000000000"],  # trailing zeros only: nothing rounded
            [*minimal_row("2.000000000000000"), "0.123456789049"],  # the quantity changes
            [*minimal_row("3"), "7.0000000000000000"],
        ]
        path = focus_files.write("a.csv", rows, header)
        report = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json").json()
        assert "1 quantities had more than 10 decimal places and were rounded half-up" in report["warnings"]
        assert not any("amounts had" in w for w in report["warnings"])
        quantities = list(Charge.objects.order_by("line_number").values_list("consumed_quantity", flat=True))
        assert quantities == [Decimal("2.5"), Decimal("0.1234567890"), Decimal("7")]

    @pytest.mark.parametrize("text", ["1.2.3", "١٢", "1,5", "0x10", "--1", "1.²", "1_000"])
    def test_anything_else_is_not_a_number(self, run, focus_files, text):
        row = minimal_row("1")
        row[6] = text
        path = focus_files.write("a.csv", [row])
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 1, text
        assert result.err == f"a.csv:2: column BilledCost: {text!r} is not a number"


def test_an_unreadable_file_is_a_one_line_error(run, focus_files, monkeypatch):
    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("billing.services.ingest.file_sha256", refuse)
    path = focus_files.write("locked.csv", [minimal_row("1")])
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    assert (result.code, result.err) == (1, "locked.csv: cannot read the file (Permission denied)")
    assert nothing_written()
