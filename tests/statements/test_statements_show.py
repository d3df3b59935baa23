"""`openchargeback statements show NUMBER`: one statement with its frozen lines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from statements.models import Statement
from tests.statements.conftest import ALICE

pytestmark = pytest.mark.django_db


def test_show_gives_a_statement_with_its_lines_in_json(run, closed_period):
    assert run("generate", "-p", closed_period).code == 0
    st = Statement.objects.get(pi__email=ALICE)
    data = run("statements", "show", st.number, "--format", "json").json()
    assert (data["number"], data["version"], data["pi_email"], data["project_id"]) == (st.number, 1, ALICE, "genomics")
    assert [(ln["kind"], ln["source"], ln["service"], ln["fund_org"], ln["charges"]) for ln in data["lines"]] == [
        ("usage", "aws", "Compute", "BIO-1", 3),
        ("usage", "aws", "Storage", "BIO-1", 1),
    ]
    assert set(data["lines"][0]) == {
        "kind", "source", "service", "fund_org", "charges", "list", "discount", "amount",
        "amortized", "corrects",  # the source's billing basis; the month a correction corrects
    }  # fmt: skip
    for ln in data["lines"]:
        assert Decimal(ln["list"]) - Decimal(ln["discount"]) == Decimal(ln["amount"])
    assert sum(Decimal(ln["amount"]) for ln in data["lines"]) == Decimal(data["amount_due"]) == st.amount_due
    text = run("statements", "show", st.number).out
    assert f"Statement {st.number} v1" in text and "Compute" in text and "Storage" in text


def test_show_of_an_unknown_statement_is_one_line(run, closed_period):
    result = run("statements", "show", "2025-01-999999")
    assert (result.code, result.err) == (
        1, "no statement 2025-01-999999; see 'openchargeback statements list -p YYYY-MM'"
    )  # fmt: skip
    result = run("statements", "show", "2025-01-000001", "--version", "7")
    assert result.code == 1 and "no statement 2025-01-000001 version 7" in result.err
