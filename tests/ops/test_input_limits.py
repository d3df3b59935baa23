"""Imports accept CSV or gzip'd CSV by what the file holds, up to a size limit, and say why not."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing.admin.imports import UploadForm
from billing.models import Charge, ImportBatch
from billing.services.batches import uploads_root
from tests.conftest import MINIMAL_HEADER, minimal_row

from .conftest import OPENCHARGEBACK

pytestmark = pytest.mark.django_db
IMPORT_URL = "admin:billing_importbatch_import"


def good_csv() -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(MINIMAL_HEADER)
    writer.writerow(minimal_row("12.50"))
    return buffer.getvalue().encode()


def zip_of(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("aws.csv", data)
    return buffer.getvalue()


def ingest(run, tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return run("ingest", str(path), "-s", "aws", "-p", "2025-01")


@pytest.mark.parametrize(
    "name, data",
    [
        ("aws.csv", good_csv()),
        ("aws.csv.gz", gzip.compress(good_csv())),
        ("aws.csv", gzip.compress(good_csv())),  # gzip'd but not named so: recognised by content
        ("aws-export.txt", good_csv()),  # CSV whatever the name
        ("aws.xlsx", good_csv()),
    ],
)
def test_csv_and_gzipped_csv_are_recognised_by_content_not_by_name(run, tmp_path, name, data):
    result = ingest(run, tmp_path, name, data)
    assert result.code == 0, result.err
    assert Charge.objects.count() == 1


@pytest.mark.parametrize(
    "name, data, says",
    [
        ("aws.csv", zip_of(good_csv()), "the file is a ZIP archive (an Excel .xlsx workbook?), not CSV"),
        ("aws.csv", b"%PDF-1.7\n...", "the file is a PDF document, not CSV"),
        ("aws.csv", "\ufeff".encode("utf-16-le") + good_csv().decode().encode("utf-16-le"), "the file is UTF-16 text"),
        ("aws.csv", "Coût,Montant\n1,2\n".encode("latin-1"), "the file is not UTF-8 text (invalid start byte)"),
        ("aws.csv", b'{"BilledCost": 1}', "the file looks like JSON, not CSV"),
        ("aws.csv", b"<html><body>Sign in</body></html>", "the file looks like HTML or XML, not CSV"),
        ("aws.csv", b"BilledCost\x00,x\n", "the file is binary, not CSV text"),
        ("aws.csv.gz", gzip.compress(good_csv())[:30], "not a readable gzip file"),
        ("aws.csv.gz", gzip.compress(zip_of(good_csv())), "the compressed content is a ZIP archive"),
    ],
)
def test_anything_else_is_refused_with_what_it_looks_like_and_nothing_is_written(run, tmp_path, name, data, says):
    result = ingest(run, tmp_path, name, data)
    assert result.code == 1
    assert result.err.startswith(f"{name}: ")
    assert says in result.err
    assert "save it as CSV (UTF-8)" in result.err
    assert len(result.err.splitlines()) == 1
    assert not ImportBatch.objects.exists() and not Charge.objects.exists()


def test_a_file_over_the_import_limit_is_refused_before_it_is_read(run, tmp_path, settings):
    settings.OPENCHARGEBACK_MAX_IMPORT_BYTES = 100
    result = ingest(run, tmp_path, "aws.csv", good_csv())
    assert result.code == 1
    assert result.err == (
        f"aws.csv: the file is too large: {len(good_csv())}\xa0bytes is over the limit of 100\xa0bytes "
        "(OPENCHARGEBACK_MAX_IMPORT_BYTES)"
    )
    assert not ImportBatch.objects.exists()


def test_an_upload_over_the_limit_is_sent_back_to_the_import_page_unread(client, finance_admin, settings):
    settings.OPENCHARGEBACK_MAX_UPLOAD_BYTES = 2000
    client.force_login(finance_admin)
    big = SimpleUploadedFile("aws-2025-01.csv", good_csv() + b"\n" * 5000)
    response = client.post(reverse(IMPORT_URL), {"files": [big]})
    assert response.status_code == 303
    page = client.get(response["Location"])
    assert page.status_code == 200
    message = page.context["error"]
    assert message.startswith("These files are ") and "over the upload limit of 2.0\xa0KB" in message
    assert "gzip-compressed (.csv.gz)" in message and "openchargeback ingest" in message
    assert 'role="alert"' in page.content.decode()
    root = uploads_root()
    assert not root.exists() or not any(root.iterdir())  # nothing staged
    assert not ImportBatch.objects.exists()


def test_the_upload_form_also_checks_the_total_of_the_files(settings, finance_admin):
    settings.OPENCHARGEBACK_MAX_UPLOAD_BYTES = 300
    files = [SimpleUploadedFile(f"aws-{n}.csv", good_csv()) for n in range(3)]
    form = UploadForm({"source": "", "period": ""}, {"files": files})
    assert not form.is_valid()
    assert "over the upload limit of 300\xa0bytes" in form.errors["files"][0]


def test_other_requests_over_the_limit_get_a_413(client, settings):
    settings.OPENCHARGEBACK_MAX_UPLOAD_BYTES = 100
    response = client.post("/accounts/login/", {"login": "x" * 500, "password": "y"})
    assert response.status_code == 413


# -- hostile files: a gzip bomb and endless lines ------------------------------------------------


def gzip_bomb(path, line_bytes: int, *, header: bool = True) -> None:
    """A header, then one line of `line_bytes` "A"s with no line end, compressed as it is written
    (never held whole in memory): a few kilobytes that inflate to `line_bytes`."""
    block = b"A" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as out:
        if header:
            out.write(",".join(MINIMAL_HEADER).encode() + b"\n")
        left = line_bytes
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)


def test_a_gzip_bomb_of_one_endless_line_is_refused_at_the_line_limit_naming_file_and_line(run, tmp_path, settings):
    settings.OPENCHARGEBACK_MAX_LINE_BYTES = 64 * 1024
    path = tmp_path / "aws.csv.gz"
    gzip_bomb(path, 8 * 1024 * 1024)
    assert path.stat().st_size < 64 * 1024

    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")

    assert result.code == 1
    assert result.err == (
        "aws.csv.gz:2: the line is longer than the limit of 65536 bytes (OPENCHARGEBACK_MAX_LINE_BYTES)"
    )
    assert not ImportBatch.objects.exists() and not Charge.objects.exists()


def test_an_endless_first_line_is_refused_before_the_period_is_read_from_it(run, tmp_path, settings):
    settings.OPENCHARGEBACK_MAX_LINE_BYTES = 64 * 1024
    path = tmp_path / "aws.csv.gz"
    gzip_bomb(path, 4 * 1024 * 1024, header=False)

    result = run("ingest", str(path), "-s", "aws")  # no period: it would be read from the first line

    assert result.code == 1
    assert result.err == (
        "aws.csv.gz:1: the line is longer than the limit of 65536 bytes (OPENCHARGEBACK_MAX_LINE_BYTES)"
    )


def test_a_file_that_inflates_past_the_decompressed_limit_is_refused(run, tmp_path, settings):
    settings.OPENCHARGEBACK_MAX_DECOMPRESSED_BYTES = 256 * 1024
    many = good_csv() + b"".join(good_csv().splitlines(keepends=True)[1:] * 5000)  # about 1 MB of lines
    path = tmp_path / "aws.csv.gz"
    path.write_bytes(gzip.compress(many))

    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")

    assert result.code == 1
    assert result.err.startswith("aws.csv.gz:")
    assert result.err.endswith(
        ": the content is over the limit of 262144 bytes once decompressed (OPENCHARGEBACK_MAX_DECOMPRESSED_BYTES)"
    )
    assert len(result.err.splitlines()) == 1
    assert not ImportBatch.objects.exists() and not Charge.objects.exists()


def test_a_gzip_bomb_is_read_in_constant_memory(sqlite_site, tmp_path):
    """With the default limits: a 1 MB download that inflates to one 300 MB line. The command's
    peak memory stays that of an ordinary small import."""
    small = tmp_path / "aws-2025-01.csv"
    small.write_bytes(good_csv())
    bomb = tmp_path / "aws-2025-02.csv.gz"
    gzip_bomb(bomb, 300 * 1024 * 1024)

    def peak_mb(path) -> tuple[float, subprocess.CompletedProcess[str]]:
        probe = (
            "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); print(r.returncode);"
            "print(r.stderr.strip(), file=sys.stderr)"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe, OPENCHARGEBACK, "ingest", "-s", "aws", str(path)],
            env=sqlite_site.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        peak, code = done.stdout.split()
        return float(peak), subprocess.CompletedProcess([], int(code), "", done.stderr.strip())

    baseline, ok = peak_mb(small)
    peak, refused = peak_mb(bomb)

    assert ok.returncode == 0, ok.stderr
    assert refused.returncode == 1
    assert refused.stderr == (
        "Error: aws-2025-02.csv.gz:2: the line is longer than the limit of 1048576 bytes "
        "(OPENCHARGEBACK_MAX_LINE_BYTES)"
    )
    print(f"peak RSS: the bomb {peak:.0f} MB, an ordinary small import {baseline:.0f} MB")
    assert peak < baseline + 40, f"peak {peak:.0f} MB, an ordinary import {baseline:.0f} MB"
