"""A closed period with final statements, built through the real commands."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from billing.models import Source
from tests.conftest import FocusFiles, Result, minimal_row, tags

PERIOD = "2025-01"
# 17 and more significant digits: exact on both databases, rounded once per statement.
ALICE_GENOMICS = [("aws", "1234567.8912345678", "BIO-2025-001"), ("aws", "0.3333333333", "BIO-2025-001"),
                  ("hpc", "7654321.1234567891", "BIO-2025-001")]  # fmt: skip
ALICE_PROTEOMICS = [("aws", "12345678.9012345678", "CHEM-77"), ("aws", "-10.0000000005", "CHEM-77")]
BOB_ASTRO = [("hpc", "98765432.1098765432", "PHYS-9"), ("aws", "0.0049999999", "PHYS-9")]
ALL = ALICE_GENOMICS + ALICE_PROTEOMICS + BOB_ASTRO
APPROVED_TOTAL = sum((Decimal(a) for _, a, _ in ALL), Decimal(0))


def _rows(source: str) -> list[list[str]]:
    rows = []
    for who, project, lines in (
        ("alice@example.edu", "genomics", ALICE_GENOMICS),
        ("alice@example.edu", "proteomics", ALICE_PROTEOMICS),
        ("bob@example.edu", "astro", BOB_ASTRO),
    ):
        for i, (src, amount, fund) in enumerate(lines):
            if src == source:
                rows.append(minimal_row(amount, resource=f"{project}-{i}", tag_json=tags(who, project, fund)))
    return rows


@pytest.fixture
def set_sources(db: Any) -> None:
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD-AWS", gl_account="54100")
    Source.objects.filter(name="hpc").update(credit_fund_org="RC-HPC-OPS", gl_account="54200")


@pytest.fixture
def imported(run: Callable[..., Result], focus_files: FocusFiles, set_sources: None) -> None:
    for source in ("aws", "hpc"):
        result = run("ingest", str(focus_files.write(f"{source}.csv", _rows(source))), "-s", source, "-p", PERIOD)
        assert result.code == 0, result.err
    assert run("review", "approve", "-p", PERIOD).code == 0  # the credit line is flagged


@pytest.fixture
def generate(run: Callable[..., Result], django_capture_on_commit_callbacks: Any) -> Callable[[], None]:
    """Generate the statements and let the (eager) workers render them, so they are final."""

    def _generate() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            result = run("generate", "-p", PERIOD)
        assert result.code == 0, result.err

    return _generate


@pytest.fixture
def closed_period(run: Callable[..., Result], imported: None, generate: Callable[[], None]) -> str:
    assert run("periods", "close", PERIOD).code == 0
    generate()
    return PERIOD
