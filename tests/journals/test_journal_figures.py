"""A split-funded project's journal, line by line, in the three built-in formats, against figures worked by hand.

PI alice has two statements for January 2025:

* genomics, paid 60 % NIH-R01 / 40 % NSF-CAREER up to 15 January and 100 % NSF-CAREER from the 16th:

  ===  ======  ===========  ===================================  =======  ==========================
  pos  source  service      fund/org of the line                 amount   shares (largest remainder)
  ===  ======  ===========  ===================================  =======  ==========================
  1    aws     Amazon EC2   NIH-R01 60% / NSF-CAREER 40%         10.01    6.006 / 4.004 -> 6.01 / 4.00
  2    aws     Amazon EC2   NSF-CAREER                           30.00    (one fund)
  3    hpc     Slurm        NIH-R01 60% / NSF-CAREER 40%          0.03    0.018 / 0.012 -> 0.02 / 0.01
  ===  ======  ===========  ===================================  =======  ==========================

  (10.00 on the 10th and 0.01 on the 15th make the first line; 30.00 on the 20th the second.)
  Amount due 40.04.

* no project, fund/org DEPT-ACE: two lines, aws Amazon EC2 5.55 and hpc Slurm 0.44; amount due 5.99.

Statements due 40.04 + 5.99 = 46.03. Credits: aws 6.01 + 4.00 + 30.00 + 5.55 = 45.56 to RC-CLOUD,
hpc 0.02 + 0.01 + 0.44 = 0.47 to RC-HPC; 45.56 + 0.47 = 46.03.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from billing.models import BillingPeriod
from statements.models import Statement
from tests.conftest import FocusFiles, Result, minimal_row, tags
from tests.funding.conftest import charge, lab_set_up, write

PERIOD = "2025-01"
D = Decimal


@pytest.fixture
def two_statements(
    run: Callable[..., Result],
    focus_files: FocusFiles,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
    db: Any,
) -> dict[str, str]:
    """The period closed with its statements final; the statement number of each project ("" for none)."""
    lab_set_up(run, tmp_path)
    funding = ("project_code,fund_org,percent,effective_from,effective_to\n"
               "genomics,NIH-R01,60,2025-01-01,2025-01-15\ngenomics,NSF-CAREER,40,2025-01-01,2025-01-15\n"
               "genomics,NSF-CAREER,100,2025-01-16,\n")  # fmt: skip
    result = run("data", "import", "funding", write(tmp_path, "funding.csv", funding))
    assert result.code == 0, result.err
    dept = tags("alice@example.edu", None, "DEPT-ACE")
    for source, rows in (
        ("aws", [charge("10.00", "2025-01-10", "i-1"), charge("30.00", "2025-01-20", "i-2"),
                 charge("0.01", "2025-01-15", "i-3"), minimal_row("5.55", resource="i-9", tag_json=dept)]),
        ("hpc", [charge("0.03", "2025-01-06", "job-1", service="Slurm"),
                 minimal_row("0.44", resource="job-9", service="Slurm", tag_json=dept)]),
    ):  # fmt: skip
        result = run("ingest", str(focus_files.write(f"{source}.csv", rows)), "-s", source, "-p", PERIOD)
        assert result.code == 0, result.err
    assert run("review", "approve", "-p", PERIOD).code == 0
    assert run("periods", "close", PERIOD).code == 0
    with django_capture_on_commit_callbacks(execute=True):
        result = run("generate", "-p", PERIOD)
    assert result.code == 0, result.err
    numbers = {(s.project.code if s.project else ""): s.number for s in Statement.objects.filter(period__period=PERIOD)}
    assert sorted(numbers) == ["", "genomics"]
    return numbers


def export(run: Callable[..., Result], fmt: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    result = run("export-journal", "-p", PERIOD, "-f", fmt, "--format", "json")
    assert result.code == 0, result.err
    report = result.json()
    with default_storage.open(report["file"], "rb") as fh:
        return report, list(csv.DictReader(io.StringIO(fh.read().decode())))


def test_the_statement_lines_and_their_shares_are_those_worked_out(two_statements):
    genomics = Statement.objects.get(number=two_statements["genomics"])
    lines = [(ln.position, ln.source, ln.service_name, ln.fund_org, ln.amount) for ln in genomics.lines.all()]
    assert sorted(lines) == [
        (1, "aws", "Amazon EC2", "NIH-R01 60% / NSF-CAREER 40%", D("10.01")),
        (2, "aws", "Amazon EC2", "NSF-CAREER", D("30.00")),
        (3, "hpc", "Slurm", "NIH-R01 60% / NSF-CAREER 40%", D("0.03")),
    ]
    assert genomics.amount_due == D("40.04")
    other = Statement.objects.get(number=two_statements[""])
    assert [(ln.position, ln.source, ln.fund_org, ln.amount) for ln in other.lines.order_by("position")] == [
        (1, "aws", "DEPT-ACE", D("5.55")),
        (2, "hpc", "DEPT-ACE", D("0.44")),
    ]
    assert other.amount_due == D("5.99")


def test_the_gl_journal_debits_each_fund_its_share(run, two_statements):
    """Per fund/org and source: NIH-R01 aws 6.01, hpc 0.02; NSF-CAREER aws 4.00 + 30.00 = 34.00, hpc 0.01;
    DEPT-ACE aws 5.55, hpc 0.44. In fund/org, source order, debits first."""
    report, rows = export(run, "gl")

    lines = [(r["orgn"], r["fund"], r["account"], r["debit"], r["credit"]) for r in rows]
    assert lines == [
        ("DEPT", "ACE", "54100", "5.55", ""),
        ("DEPT", "ACE", "54200", "0.44", ""),
        ("NIH", "R01", "54100", "6.01", ""),
        ("NIH", "R01", "54200", "0.02", ""),
        ("NSF", "CAREER", "54100", "34.00", ""),
        ("NSF", "CAREER", "54200", "0.01", ""),
        ("RC", "CLOUD", "54100", "", "45.56"),
        ("RC", "HPC", "54200", "", "0.47"),
    ]
    assert (report["debit_total"], report["credit_total"], report["statements_due"]) == ("46.03",) * 3
    assert (report["statements"], report["debit_lines"], report["credit_lines"]) == (2, 6, 2)


def test_the_summary_journal_has_a_line_per_pi_project_fund_and_account(run, two_statements):
    """The same six debits (the statement without a project has an empty project), sorted by fund/org,
    source and account; the credits last."""
    _, rows = export(run, "summary")

    lines = [(r["entry"], r["pi_email"], r["project_id"], r["source"], r["fund_org"], r["debit"], r["credit"])
             for r in rows]  # fmt: skip
    alice = "alice@example.edu"
    assert lines == [
        ("debit", alice, "", "aws", "DEPT-ACE", "5.55", ""),
        ("debit", alice, "", "hpc", "DEPT-ACE", "0.44", ""),
        ("debit", alice, "genomics", "aws", "NIH-R01", "6.01", ""),
        ("debit", alice, "genomics", "hpc", "NIH-R01", "0.02", ""),
        ("debit", alice, "genomics", "aws", "NSF-CAREER", "34.00", ""),
        ("debit", alice, "genomics", "hpc", "NSF-CAREER", "0.01", ""),
        ("credit", "", "", "aws", "RC-CLOUD", "", "45.56"),
        ("credit", "", "", "hpc", "RC-HPC", "", "0.47"),
    ]


def test_the_detail_journal_keeps_each_statement_line_apart_in_statement_and_position_order(run, two_statements):
    """Line 1's NSF-CAREER share (4.00) and line 2 (30.00) stay two lines; each line's shares follow it,
    statement by statement, then the credits."""
    _, rows = export(run, "detail")

    genomics, other = two_statements["genomics"], two_statements[""]
    lines = [(r["statement"], r["source"], r["service"], r["fund_org"], r["debit"], r["credit"]) for r in rows]
    debits = {
        genomics: [
            (genomics, "aws", "Amazon EC2", "NIH-R01", "6.01", ""),
            (genomics, "aws", "Amazon EC2", "NSF-CAREER", "4.00", ""),
            (genomics, "aws", "Amazon EC2", "NSF-CAREER", "30.00", ""),
            (genomics, "hpc", "Slurm", "NIH-R01", "0.02", ""),
            (genomics, "hpc", "Slurm", "NSF-CAREER", "0.01", ""),
        ],
        other: [(other, "aws", "Amazon EC2", "DEPT-ACE", "5.55", ""), (other, "hpc", "Slurm", "DEPT-ACE", "0.44", "")],
    }
    in_number_order = [line for number in sorted(debits) for line in debits[number]]
    credits = [("", "aws", "", "RC-CLOUD", "", "45.56"), ("", "hpc", "", "RC-HPC", "", "0.47")]
    assert lines == in_number_order + credits
    assert sum(D(r["debit"]) for r in rows if r["debit"]) == D("46.03")


def test_the_preview_counts_the_lines_and_the_statements(finance_admin, two_statements):
    """GL: 6 debits + 2 credits = 8 lines, from the 2 statements; 46.03 on each side."""
    client = Client()
    client.force_login(finance_admin)
    url = f"/admin/journals/journalexport/period/{BillingPeriod.objects.get(period=PERIOD).pk}/"

    html = client.post(url, {"journal_format": "gl", "preview": "1"}).content.decode()

    assert "8 lines from 2 statements" in html
    assert "Debits <strong>46.03 USD</strong> · credits <strong>46.03 USD</strong>" in html
