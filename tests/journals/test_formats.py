"""Journal formats: fund/org parsing, account checks, CSV quoting and formula escaping, templates."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from billing.models import Source
from journals.models import JournalExport, JournalFormat
from journals.services.output import csv_cell, escape_formula
from statements.models import Statement, StatementLine

from .conftest import PERIOD


def export(run, fmt: str = "gl") -> tuple[dict, str]:
    result = run("export-journal", "-p", PERIOD, "-f", fmt, "--format", "json")
    assert result.code == 0, result.err
    report = result.json()
    return report, default_storage.open(report["file"], "rb").read().decode()


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_fund_org_is_split_by_the_named_groups_of_the_format(run, closed_period):
    JournalFormat.objects.create(
        name="gl", kind="gl", fund_org_regex=r"^(?P<orgn>[A-Z]+)-(?P<fund>\w+)(?:-(?P<program>\d+))?$",
        program="P00", activity="A1", location="L9",
    )  # fmt: skip
    Source.objects.filter(name="aws").update(credit_fund_org="RC-100-777")
    Source.objects.filter(name="hpc").update(credit_fund_org="RC-200")

    _, text = export(run)

    parsed = {(r["orgn"], r["fund"], r["program"], r["activity"], r["location"]) for r in rows(text)}
    assert parsed == {
        ("BIO", "2025", "001", "A1", "L9"),  # the fund/org's own program
        ("CHEM", "77", "P00", "A1", "L9"),  # the format's default program
        ("PHYS", "9", "P00", "A1", "L9"),
        ("RC", "100", "777", "A1", "L9"),
        ("RC", "200", "P00", "A1", "L9"),
    }


def test_fund_orgs_that_do_not_parse_are_all_listed_and_nothing_is_exported(run, closed_period):
    JournalFormat.objects.create(name="strict", kind="gl", fund_org_regex=r"^(?P<orgn>[A-Z]+)-(?P<fund>\d{4})$")

    result = run("export-journal", "-p", PERIOD, "-f", "strict")

    assert result.code == 1
    assert "5 problems to fix" in result.err
    assert "fund/org 'BIO-2025-001' (statements 2025-01-000001)" in result.err
    assert "fund/org 'CHEM-77'" in result.err and "fund/org 'PHYS-9'" in result.err
    assert "source aws's credit fund/org 'RC-CLOUD-AWS' does not match" in result.err
    assert "source hpc's credit fund/org 'RC-HPC-OPS' does not match" in result.err
    assert not JournalExport.objects.exists()


def test_good_fund_orgs_give_fund_and_orgn_columns(run, closed_period):
    _, text = export(run)

    pairs = {(r["orgn"], r["fund"]) for r in rows(text)}
    assert pairs == {("BIO", "2025-001"), ("CHEM", "77"), ("PHYS", "9"), ("RC", "CLOUD-AWS"), ("RC", "HPC-OPS")}


def test_accounts_failing_the_account_pattern_are_listed_with_every_other_problem(run, closed_period):
    JournalFormat.objects.create(name="gl", kind="gl", account_code_regex=r"^54[0-9]00$")
    Source.objects.filter(name="hpc").update(gl_account="9999", credit_fund_org="")

    result = run("export-journal", "-p", PERIOD)

    assert result.code == 1
    assert "2 problems to fix" in result.err
    assert "source hpc has no credit fund/org" in result.err
    assert "account '9999'" in result.err and "does not match the format's account pattern" in result.err


def test_a_line_account_code_overrides_the_source_account(run, closed_period):
    line = StatementLine.objects.filter(fund_org="CHEM-77", kind="usage").get()
    StatementLine.objects.filter(pk=line.pk).update(account_code="61000")

    _, text = export(run)

    chem = [r for r in rows(text) if r["orgn"] == "CHEM"]
    assert {r["account"] for r in chem} == {"61000", "54100"}  # the credit line stays on its own account
    credits = [r for r in rows(text) if r["credit"]]
    assert ("CLOUD-AWS", "61000") in {(r["fund"], r["account"]) for r in credits}


def test_a_missing_account_is_refused_unless_the_format_has_a_default(run, closed_period):
    Source.objects.filter(name="hpc").update(gl_account="")

    refused = run("export-journal", "-p", PERIOD)
    assert refused.code == 1 and "no GL account for source hpc" in refused.err

    JournalFormat.objects.create(name="gl", kind="gl", default_account="50000")
    _, text = export(run)
    assert "50000" in {r["account"] for r in rows(text)}


def test_text_cells_starting_with_formula_characters_are_escaped_and_negative_amounts_stay_numbers(run, closed_period):
    Source.objects.filter(name="aws").update(credit_fund_org="=HYPERLINK-x")
    JournalFormat.objects.create(
        name="detail", kind="detail", fund_org_regex=r"^(?P<orgn>[^-]+)-(?P<fund>.+)$",
        debit_description="@{source} {fund_org}", credit_description="+{source}", max_description_length=0,
    )  # fmt: skip

    _, text = export(run, "detail")

    lines = rows(text)
    credit = next(r for r in lines if r["entry"] == "credit" and r["source"] == "aws")
    assert credit["fund_org"] == "'=HYPERLINK-x" and credit["orgn"] == "'=HYPERLINK"
    assert credit["description"] == "'+aws"
    assert all(r["description"].startswith("'@") for r in lines if r["entry"] == "debit")
    negative = [r for r in lines if r["debit"].startswith("-")]
    assert [r["debit"] for r in negative] == ["-10.00"]  # the credit line of a statement: a number


def test_escape_formula_and_csv_cell():
    assert [escape_formula(x) for x in ["=1+2", "+1", "-1", "@SUM", "\tx", "plain", ""]] == [
        "'=1+2", "'+1", "'-1", "'@SUM", "'\tx", "plain", "",
    ]  # fmt: skip
    assert csv_cell('a,b "c"') == '"a,b ""c"""'
    assert csv_cell("=a,b") == '"\'=a,b"'


def test_commas_and_quotes_are_quoted_in_built_in_formats(run, closed_period):
    Source.objects.filter(name="aws").update(credit_fund_org='RC-CLOUD, "AWS"')

    _, text = export(run)

    assert '"CLOUD, ""AWS"""' in text
    assert {r["fund"] for r in rows(text)} >= {'CLOUD, "AWS"'}


def test_the_file_ends_each_line_with_a_newline_header_first(run, closed_period):
    _, text = export(run)

    assert text.startswith("fund,orgn,account,program,activity,location,debit,credit,description,reference_id\n")
    assert text.endswith("\n") and "\r" not in text


def test_detail_has_one_debit_per_statement_line(run, closed_period):
    report, text = export(run, "detail")

    lines = rows(text)
    nonzero = len([ln for ln in StatementLine.objects.filter(statement__status="final") if ln.amount])
    assert len([r for r in lines if r["entry"] == "debit"]) == nonzero
    assert {r["statement"] for r in lines if r["entry"] == "debit"} == set(
        Statement.objects.exclude(status="superseded").values_list("number", flat=True)
    )
    assert sum(Decimal(r["debit"]) for r in lines if r["debit"]) == Decimal(report["statements_due"])


def test_summary_has_one_debit_per_pi_project_and_fund(run, closed_period):
    _, text = export(run, "summary")

    debits = [(r["pi_email"], r["project_id"], r["fund_org"], r["account"]) for r in rows(text) if r["debit"]]
    assert len(debits) == len(set(debits))
    assert ("alice@example.edu", "genomics", "BIO-2025-001", "54100") in debits


def test_grouping_by_project_splits_a_fund_shared_by_two_projects(run, closed_period):
    StatementLine.objects.filter(fund_org="CHEM-77").update(fund_org="BIO-2025-001")
    JournalFormat.objects.create(name="by-project", kind="template", group_by="project",
                                 row_template="{{ fund_org }},{{ project_id }},{{ debit }}")  # fmt: skip

    _, text = export(run, "by-project")

    assert "BIO-2025-001,genomics," in text and "BIO-2025-001,proteomics," in text


def test_a_template_format_writes_its_header_and_rows(run, closed_period):
    JournalFormat.objects.create(
        name="mine", kind="template", header_template="# {{ period }} {{ line_count }} lines {{ debit_total }}",
        row_template="{{ line_number }};{{ side }};{{ fund_org }};{{ amount }};{{ description }}",
        debit_description="{pi_email} {project_id}", number_format="comma", max_description_length=12,
    )  # fmt: skip

    report, text = export(run, "mine")

    first, *body = text.splitlines()
    assert first == f"# 2025-01 {report['lines']} lines {report['debit_total'].replace('.', ',')}"
    assert body[0].startswith("1;debit;BIO-2025-001;")
    assert ";bob@example." in text  # cut to 12 characters
    assert len(body) == report["lines"]


def test_template_values_are_quoted_and_escaped_for_csv(run, closed_period):
    Source.objects.filter(name="aws").update(credit_fund_org='-RC-"CLOUD",AWS')
    JournalFormat.objects.create(
        name="mine", kind="template", row_template="{{ fund_org }},{{ orgn }},{{ credit }}",
        fund_org_regex=r"^(?P<orgn>-?[^-]+)-(?P<fund>.+)$",
    )  # fmt: skip

    _, text = export(run, "mine")

    assert '"\'-RC-""CLOUD"",AWS",\'-RC,' in text


def test_the_shipped_examples_export(run, closed_period):
    report, text = export(run, "banner")
    header, first, *_ = text.splitlines()
    assert header.startswith("SEQ,DOC_REF,TRANS_DATE,RUCL,FUND,ORGN,ACCT")
    assert first.startswith(f"1,{report['number']},31-Jan-2025,JE16,2025-001,BIO,54100,")
    assert ",D," in first and ",C," in text.splitlines()[-1]

    report, text = export(run, "generic-gl-csv")
    assert text.startswith("date,fund,orgn,account,debit,credit,description,reference_id\n2025-01-31,")


def test_a_format_checks_its_regex_groups_descriptions_and_templates(db):
    bad = JournalFormat(
        name="bad", kind="template", fund_org_regex=r"^(?P<fund>.+)$", debit_description="{source} {amount}",
        row_template="{% if %}",
    )  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        bad.full_clean()

    errors = exc.value.message_dict
    assert "needs the named groups" in errors["fund_org_regex"][0]
    assert "unknown variable(s) {amount}" in errors["debit_description"][0]
    assert "template error" in errors["row_template"][0]


def test_a_carriage_return_or_line_feed_in_a_text_cell_is_quoted_so_a_line_stays_one_record(run, closed_period):
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD \r=2+3")
    Source.objects.filter(name="hpc").update(credit_fund_org="RC-HPC \n=4+5")
    JournalFormat.objects.create(
        name="detail", kind="detail", max_description_length=0, fund_org_regex=r"(?s)^(?P<orgn>[^-]+)-(?P<fund>.+)$"
    )

    report, text = export(run, "detail")

    assert '"RC-CLOUD \r=2+3"' in text and '"RC-HPC \n=4+5"' in text
    lines = rows(text)
    assert len(lines) == report["lines"]
    credits = {r["source"]: r["fund_org"] for r in lines if r["entry"] == "credit"}
    assert credits == {"aws": "RC-CLOUD \r=2+3", "hpc": "RC-HPC \n=4+5"}
