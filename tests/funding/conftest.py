"""A lab whose genomics project is paid by two grants, set up through `data import`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from billing.models import Source
from tests.conftest import FocusFiles, Result, minimal_row, tags

PERIOD = "2025-01"
FUNDS = "fund_org,title,sponsor,federal,start,end\n" \
        "NIH-R01,Genome assembly,NIH,yes,2024-01-01,2025-12-31\n" \
        "NSF-CAREER,Protein folding,NSF,yes,2024-07-01,2026-06-30\n" \
        "DEPT-ACE,Department start-up,,no,2024-01-01,2027-12-31\n"  # fmt: skip


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def charge(amount: str, day: str, resource: str, service: str = "Amazon EC2", fund: str = "NIH-R01") -> list[str]:
    """A minimal FOCUS row of genomics charged on `day` (its ChargePeriodStart)."""
    row = minimal_row(amount, resource=resource, service=service, tag_json=tags("alice@example.edu", "genomics", fund))
    row[2] = day
    return row


def lab_set_up(run: Callable[..., Result], tmp_path: Path) -> None:
    """The sources' credit side and GL accounts, PI alice, project genomics (default fund/org
    NIH-R01) and the funds, through `data import`."""
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD", gl_account="54100")
    Source.objects.filter(name="hpc").update(credit_fund_org="RC-HPC", gl_account="54200")
    for kind, text in (
        ("pis", "email,name\nalice@example.edu,Alice Ng\n"),
        ("projects", "code,pi_email,title,fund_org\ngenomics,alice@example.edu,Genomics,NIH-R01\n"),
        ("funds", FUNDS),
    ):
        result = run("data", "import", kind, write(tmp_path, f"{kind}.csv", text))
        assert result.code == 0, result.err


@pytest.fixture
def lab(run: Callable[..., Result], tmp_path: Path, db: Any) -> Callable[[str], None]:
    """PI alice, project genomics (default fund/org NIH-R01), the funds; returns a split importer."""
    lab_set_up(run, tmp_path)

    def split(rows: str) -> None:
        text = "project_code,fund_org,percent,effective_from,effective_to\n" + rows
        result = run("data", "import", "funding", write(tmp_path, "funding.csv", text))
        assert result.code == 0, result.err

    return split


@pytest.fixture
def bill(
    run: Callable[..., Result], focus_files: FocusFiles, django_capture_on_commit_callbacks: Any
) -> Callable[..., None]:
    """Import rows per source, close the month and generate its statements."""

    def _bill(**rows_by_source: list[list[str]]) -> None:
        for source, rows in rows_by_source.items():
            result = run("ingest", str(focus_files.write(f"{source}.csv", rows)), "-s", source, "-p", PERIOD)
            assert result.code == 0, result.err
        assert run("periods", "close", PERIOD).code == 0
        with django_capture_on_commit_callbacks(execute=True):
            result = run("generate", "-p", PERIOD)
        assert result.code == 0, result.err

    return _bill
