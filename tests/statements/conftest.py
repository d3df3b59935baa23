"""A closed period with two PIs, exact 10-decimal amounts, and a credit the reviewer rejected (a period
closes only once every flagged charge is decided)."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest

from billing.models import Charge
from tests.conftest import MINIMAL_HEADER, give_sources_a_credit_side, minimal_row, tags

ALICE = "alice@example.edu"
BOB = "bob@example.edu"

# (billed, list, resource, service, tags): Alice's genomics has usage lines with
# 17-significant-digit amounts; Bob's climate has usage and a refund, which is flagged for review.
ROWS = [
    ("1234567.8912345678", "2000000.0000000001", "vm-1", "Compute", tags(ALICE, "genomics", "BIO-1")),
    ("0.0049999999", "0.0049999999", "vm-2", "Compute", tags(ALICE, "genomics", "BIO-1")),
    ("10.0050000001", "12.5", "bucket", "Storage", tags(ALICE, "genomics", "BIO-1")),
    ("99.995", "100", "job-1", "HPC", tags(BOB, "climate", "GEO-7")),
    ("-25.10", "-25.10", "refund", "HPC", tags(BOB, "climate", "GEO-7")),
    ("55.55", "55.55", "vm-9", "Compute", tags(ALICE, "genomics", None)),  # the project's fund/org applies
]


def write_rows(focus_files: Any, rows: list[tuple[str, str, str, str, str]], name: str = "aws-2025-01.csv") -> Any:
    return focus_files.write(
        name, [minimal_row(b, listed=lst, resource=r, service=s, tag_json=t) for b, lst, r, s, t in rows]
    )


def approve_refund_and_close(run: Any, period: str = "2025-01") -> None:
    if run("periods", "list", "--format", "json").json()[0]["status"] == "closed":
        assert run("periods", "reopen", period, "--reason", "refund confirmed by the provider").code == 0
    refund = Charge.objects.get(resource_id="refund")
    assert run("review", "approve", "--id", str(refund.pk), "--note", "provider refund").code == 0
    assert run("periods", "close", period).code == 0


@pytest.fixture
def seeded(db: Any) -> None:
    """The sources, rules and roles the data migrations seed (a transactional test empties them)."""
    from billing.models import Source
    from tests.browser.conftest import reseed

    if not Source.objects.exists():
        reseed()
    give_sources_a_credit_side()


@pytest.fixture
def closed_period(run: Any, focus_files: Any, seeded: None) -> str:
    result = run("ingest", str(write_rows(focus_files, ROWS)), "-s", "aws", "-p", "2025-01")
    assert result.code == 0, result.err
    refund = Charge.objects.get(resource_id="refund")
    assert run("review", "reject", "--id", str(refund.pk), "--note", "not confirmed by the provider yet").code == 0
    closed = run("periods", "close", "2025-01")
    assert closed.code == 0, closed.err
    return "2025-01"


def exact_billed(pi: str, project: str) -> Decimal:
    return sum(
        (c.billed_cost for c in Charge.objects.filter(pi__email=pi, project__code=project, review_state="ok")),
        Decimal(0),
    )


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


__all__ = [
    "ALICE",
    "BOB",
    "MINIMAL_HEADER",
    "ROWS",
    "exact_billed",
    "pdf_text",
    "write_rows",
    "approve_refund_and_close",
]
