"""Whatever bytes `openchargeback ingest` is given, it ends in a report or one clear error line,
and a failed import leaves the database exactly as it was (property-based, with hypothesis)."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from billing.models import PI, BillingPeriod, Charge, ImportBatch, ImportFile, Project
from chargeback.models import AuditEvent
from tests.conftest import MINIMAL_HEADER, minimal_row, tags

pytestmark = pytest.mark.django_db
MODELS = (Charge, ImportBatch, ImportFile, PI, Project, BillingPeriod, AuditEvent)
FUZZ = settings(
    max_examples=60, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip

odd_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(list(',"\r\n\t\ufeff\x00\u2028é漢😀')),
    max_size=40,
)
amount = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=10, min_value=-(10**9), max_value=10**9).map(str),
    st.sampled_from(["", "1e5", "1,000.00", "$5", "NaN", "inf", "-0", "0x10", "9" * 40, "1." + "1" * 30, " 7 "]),
    odd_text,
)
huge_field = st.integers(min_value=10_000, max_value=300_000).map(lambda n: "x" * n)


@st.composite
def focus_rows(draw: st.DrawFn) -> list[list[str]]:
    """Mostly-valid FOCUS rows with some cells replaced by odd values, and rows of the wrong width."""
    rows = []
    for n in range(draw(st.integers(min_value=0, max_value=8))):
        row = minimal_row("1.00", resource=f"r{n}", tag_json=tags())
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            index = draw(st.integers(min_value=0, max_value=len(row) - 1))
            row[index] = draw(st.one_of(amount, odd_text, huge_field, st.just(tags(pi="not-an-email"))))
        if draw(st.integers(0, 9)) == 0:
            row = row[: draw(st.integers(0, len(row)))] + draw(st.lists(odd_text, max_size=3))
        rows.append(row)
    return rows


@st.composite
def header(draw: st.DrawFn) -> list[str]:
    names = list(MINIMAL_HEADER)
    if draw(st.booleans()):
        return names
    choice = draw(st.integers(0, 3))
    if choice == 0:
        del names[draw(st.integers(0, len(names) - 1))]
    elif choice == 1:
        names.append(draw(st.sampled_from(names)))  # a duplicated column
    elif choice == 2:
        names.append(draw(odd_text))
    else:
        names = draw(st.permutations(names))
    return names


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


@st.composite
def focus_file_bytes(draw: st.DrawFn) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])))
    writer.writerow(draw(header()))
    writer.writerows(draw(focus_rows()))
    text = buffer.getvalue()
    data = encode(text, draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-32"])))
    if draw(st.booleans()):  # damage: cut, flip or insert bytes
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            action = draw(st.integers(0, 2))
            if action == 0:
                data = data[:at]
            elif action == 1 and data:
                data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
            else:
                data = data[:at] + draw(st.binary(max_size=16)) + data[at:]
    if draw(st.integers(0, 3)) == 0:
        data = gzip.compress(data)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]  # a truncated download
    return data


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in MODELS}


def check_ingest(run, folder: Path, data: bytes, *args: str) -> None:
    path = folder / "aws-2025-01.csv"
    path.write_bytes(data)
    before = counts()
    result = run("ingest", str(path), *args, "--format", "json")  # any other exception fails the test
    event("imported" if result.code == 0 else "refused")
    if result.code == 0:
        report = result.json()
        if report["status"] == "applied":  # the whole batch, every line
            batch = ImportBatch.objects.get(pk=report["batch_id"])
            assert Charge.objects.filter(batch=batch).count() == report["rows"] == batch.row_count
    else:
        assert result.code == 1
        assert result.err.strip() and "\n" not in result.err.strip() and "Traceback" not in result.err
        assert counts() == before  # nothing written, not even the period or a new PI


@FUZZ
@given(data=focus_file_bytes())
def test_malformed_rows_odd_encodings_and_huge_fields_never_crash_nor_half_import(run, tmp_path, data):
    check_ingest(run, tmp_path, data, "-s", "aws", "-p", "2025-01")


@FUZZ
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_never_crash_nor_write_anything_half(run, tmp_path, data):
    check_ingest(run, tmp_path, data, "-s", "aws")  # the period detected from the name


def test_a_field_over_the_reader_limit_is_one_clear_error(run, tmp_path, settings):
    """With the line limit lifted, the csv reader's own field limit still ends in one line."""
    settings.OPENCHARGEBACK_MAX_LINE_BYTES = -1
    row = minimal_row("1.00")
    row[9] = "x" * (17 * 1024 * 1024)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([MINIMAL_HEADER, row])
    path = tmp_path / "aws-2025-01.csv"
    path.write_text(buffer.getvalue())
    result = run("ingest", str(path), "-s", "aws")
    assert result.code == 1 and "malformed CSV (field larger than field limit" in result.err
    assert not ImportBatch.objects.exists()
