"""`openchargeback ingest` refuses bad input with one line naming file, line and column, and
changes nothing (design.md §6, "atomic per invocation")."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import PI, BillingPeriod, Charge, Project
from tests.billing.ingest_helpers import nothing_written
from tests.conftest import MINIMAL_HEADER, minimal_row, tags

pytestmark = pytest.mark.django_db


class TestBadInputChangesNothing:
    @pytest.mark.parametrize(
        "column, value, message",
        [
            ("BilledCost", "12,50", "b.csv:3: column BilledCost: '12,50' is not a number"),
            ("ListCost", "NaN", "b.csv:3: column ListCost: 'NaN' is not a finite number"),
            (
                "ChargePeriodStart",
                "yesterday",
                "b.csv:3: column ChargePeriodStart: 'yesterday' is not a date",
            ),
            ("Tags", "{not json", "b.csv:3: column Tags: Tags are not valid JSON"),
            ("Tags", '["a"]', "b.csv:3: column Tags: Tags must be a JSON object"),
            ("BilledCost", "", "b.csv:3: column BilledCost: empty; every line needs a billed cost"),
        ],
    )
    def test_a_bad_cell_names_file_line_and_column(self, run, focus_files, column, value, message):
        bad = minimal_row("2")
        bad[MINIMAL_HEADER.index(column)] = value
        path = focus_files.write("b.csv", [minimal_row("1"), bad, minimal_row("3")])
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert result.err.startswith(message)
        assert nothing_written()

    def test_a_missing_mandatory_column_is_refused(self, run, focus_files):
        header = [h for h in MINIMAL_HEADER if h != "BilledCost"]
        path = focus_files.write("m.csv", [minimal_row()[:6] + minimal_row()[7:]], header)
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert result.err == "m.csv:1: missing mandatory column BilledCost"
        assert nothing_written()

    def test_a_row_with_the_wrong_number_of_cells_is_refused(self, run, focus_files):
        path = focus_files.write("w.csv", [minimal_row(), minimal_row()[:-1]])
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.err == "w.csv:3: expected 12 cells like the header, found 11"
        assert nothing_written()

    def test_an_empty_file_a_missing_file_and_a_binary_file_are_refused(self, run, focus_files):
        empty = focus_files.raw("empty.csv", "")
        assert (
            run("ingest", str(empty), "-s", "aws", "-p", "2025-01").err
            == "empty.csv: the file is empty (no header row)"
        )
        assert (
            run("ingest", str(focus_files.root / "nope.csv"), "-s", "aws", "-p", "2025-01").err
            == "nope.csv: no such file"
        )
        binary = focus_files.root / "bin.csv"
        binary.write_bytes(b"BilledCost,BillingPeriodStart\n\xff\xfe\x00,2025-01-01\n")
        result = run("ingest", str(binary), "-s", "aws", "-p", "2025-01")
        assert result.code == 1 and "not UTF-8 text" in result.err
        assert nothing_written()

    def test_a_bad_second_file_leaves_the_first_unimported(self, run, focus_files):
        good = focus_files.write("part1.csv", [minimal_row("1")])
        bad = focus_files.write("part2.csv", [minimal_row("x")])
        result = run("ingest", str(good), str(bad), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert result.err == "part2.csv:2: column ListCost: 'x' is not a number"
        assert nothing_written()
        assert not BillingPeriod.objects.exists()

    def test_an_unknown_source_is_refused_with_the_known_ones(self, run, focus_files):
        path = focus_files.write("a.csv", [minimal_row()])
        result = run("ingest", str(path), "-s", "awz", "-p", "2025-01")
        assert result.code == 1
        assert "unknown source 'awz' (known: aws, azure, gcp, hpc, storage)" in result.err
        assert nothing_written()

    def test_an_amount_beyond_the_embedded_range_is_refused_on_sqlite(self, run, focus_files):
        from django.db import connection

        if connection.vendor != "sqlite":
            pytest.skip("PostgreSQL stores numeric(38,10): no such limit")
        path = focus_files.write("big.csv", [minimal_row("1"), minimal_row("1000000000000")])
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert result.err.startswith("big.csv:3: ")
        assert "exceeds the embedded database's range" in result.err
        assert nothing_written()

    def test_a_value_too_long_for_its_column_is_named_not_a_database_error(self, run, focus_files):
        header = [*MINIMAL_HEADER, "BillingCurrency"]
        path = focus_files.write("long.csv", [[*minimal_row("1"), "USD"], [*minimal_row("2"), "DOLLARS"]], header)
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert result.err == "long.csv:3: column BillingCurrency: 7 characters, more than the 3 it holds"
        assert nothing_written()
        # A column the header names in lower case is named as the file names it.
        header = [*MINIMAL_HEADER[:-4], "resourceid", *MINIMAL_HEADER[-3:]]
        row = minimal_row("1", resource="r" * 1001)
        result = run("ingest", str(focus_files.write("id.csv", [row], header)), "-s", "aws", "-p", "2025-01")
        assert result.err == "id.csv:2: column resourceid: 1001 characters, more than the 1000 it holds"
        assert nothing_written()

    def test_a_tag_value_too_long_for_its_field_is_named(self, run, focus_files):
        row = minimal_row("1", tag_json=tags(fund="F" * 101))
        result = run("ingest", str(focus_files.write("tag.csv", [row])), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert result.err == "tag.csv:2: column Tags: the fund_org value has 101 characters, more than the 100 it holds"
        assert nothing_written()
        ok = minimal_row("1", tag_json=tags(fund="F" * 100))
        assert run("ingest", str(focus_files.write("tag.csv", [ok])), "-s", "aws", "-p", "2025-01").code == 0

    @pytest.mark.parametrize(
        ("tag_json", "problem"),
        [
            ('{"x": NaN}', "Tags are not valid JSON (NaN is not a number JSON allows)"),
            ('{"x": -Infinity}', "Tags are not valid JSON (-Infinity is not a number JSON allows)"),
            ('{"x": ["a\\u0000b"]}', "Tags contain a NUL character (\\u0000), which cannot be stored"),
            ('{"\\udc00": 1}', "Tags contain half of a surrogate pair (\\ud800-\\udfff), which cannot be stored"),
        ],
    )
    def test_tags_no_database_can_store_are_named_on_both_databases(self, run, focus_files, tag_json, problem):
        path = focus_files.write("tags.csv", [minimal_row("1"), minimal_row("2", tag_json=tag_json)])
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert result.err == f"tags.csv:3: column Tags: {problem}"
        assert nothing_written()

    def test_escapes_that_stand_for_storable_text_import(self, run, focus_files):
        # An emoji as a surrogate pair, and a backslash followed by "u0000" (text, not a NUL).
        tag_json = '{"pi_email": "a@b.edu", "project_id": "p\\ud83d\\ude00", "note": "\\\\u0000"}'
        path = focus_files.write("ok.csv", [minimal_row("1", tag_json=tag_json)])
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 0, result.err
        assert Charge.objects.get().project.code == "p\U0001f600"

    def test_a_quantity_beyond_what_the_databases_hold_is_named(self, run, focus_files):
        header = [*MINIMAL_HEADER, "ConsumedQuantity"]
        big = "9" * 28
        rows = [[*minimal_row("1"), big + ".5"], [*minimal_row("1"), "1e28"]]
        result = run("ingest", str(focus_files.write("qty.csv", rows, header)), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert (
            result.err
            == "qty.csv:3: column ConsumedQuantity: '1e28' is too large (at most 28 digits before the decimal point)"
        )
        assert nothing_written()
        rows = [[*minimal_row("1"), big + ".5"], [*minimal_row("2"), "0.123456789049"], [*minimal_row("3"), "2e-11"]]
        path = focus_files.write("qty.csv", rows, header)
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json")
        assert result.code == 0, result.err
        quantities = list(Charge.objects.order_by("line_number").values_list("consumed_quantity", flat=True))
        assert quantities == [Decimal(big + ".5"), Decimal("0.1234567890"), Decimal("0.0000000000")]
        assert "2 quantities had more than 10 decimal places and were rounded half-up" in result.json()["warnings"]

    def test_a_nul_character_in_a_cell_past_the_sniffed_start_is_named(self, run, focus_files):
        # The first 64 KiB are checked as a whole (binary files are refused outright); later lines cell by cell.
        rows = [minimal_row("1", resource=f"i-{n}") for n in range(1500)] + [minimal_row("1", resource="i-\x001")]
        path = focus_files.write("nul.csv", rows)
        assert path.stat().st_size > 64 * 1024
        result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
        assert result.code == 1
        assert result.err == "nul.csv:1502: column ResourceId: contains a NUL character, which cannot be stored"
        assert nothing_written()

    def test_the_length_limits_are_those_of_the_charge_and_master_data_columns(self):
        from billing.ingest.rows import STRING_FIELDS, STRING_LIMITS, TAG_LIMITS, UNBOUNDED
        from billing.ingest.rules import TAG_FIELDS

        columns = {f.name: f.max_length or UNBOUNDED for f in Charge._meta.get_fields() if hasattr(f, "max_length")}
        assert dict(zip(STRING_FIELDS, STRING_LIMITS, strict=True)) == {f: columns[f] for f in STRING_FIELDS}
        tag_columns = {
            "pi_email": PI._meta.get_field("email"), "project_id": Project._meta.get_field("code"),
            **{f: Charge._meta.get_field(f) for f in TAG_FIELDS[2:]},
        }  # fmt: skip
        assert tuple(tag_columns[f].max_length for f in TAG_FIELDS) == TAG_LIMITS
