"""Large imports are parsed in a worker process; the result is the same as parsing in-process."""

from __future__ import annotations

import pytest

from billing.models import PI, Charge, ImportBatch, Project
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db

FIELDS = ["line_number", "fingerprint", "pi__email", "project__code", "fund_org", "billed_cost", "list_cost",
          "charge_period_start", "tags", "review_state", "flag_reasons"]  # fmt: skip


def rows() -> list[list[str]]:
    out = []
    for i in range(1200):
        pi = None if i % 97 == 0 else f"pi{i % 13}@example.edu"
        out.append(minimal_row(f"{i}.0123456789", resource=f"r{i}", tag_json=tags(pi=pi, project=f"p{i % 17}")))
    out.append(minimal_row("-5", period="2024-12"))
    return out


def imported(run, path, settings, min_bytes: int) -> tuple[list[tuple], dict]:
    settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = min_bytes
    settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS = 100
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json")
    assert result.code == 0, result.err
    data = sorted(Charge.objects.values_list(*FIELDS))
    owners = dict(Project.objects.values_list("code", "pi__email"))
    report = result.json()
    Charge.objects.all().delete()
    ImportBatch.objects.all().delete()
    Project.objects.all().delete()
    PI.objects.all().delete()
    return data, {
        "report": {k: report[k] for k in ("rows", "billed_total", "flag_counts", "new_pis")},
        "owners": owners,
    }


def test_the_worker_and_in_process_parsing_give_identical_charges(run, focus_files, settings):
    path = focus_files.write("big.csv", rows())
    in_worker = imported(run, path, settings, min_bytes=0)
    in_process = imported(run, path, settings, min_bytes=-1)
    assert in_worker == in_process
    assert len(in_worker[0]) == 1201
    assert in_worker[1]["report"]["new_pis"] == 14


def test_a_bad_line_found_by_the_worker_is_reported_and_nothing_is_written(run, focus_files, settings):
    settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = 0
    settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS = 100
    bad = rows()
    bad[700][6] = "12.5.1"
    path = focus_files.write("bad.csv", bad)
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    assert result.code == 1
    assert result.err == "bad.csv:702: column BilledCost: '12.5.1' is not a number"
    assert not Charge.objects.exists() and not ImportBatch.objects.exists() and not PI.objects.exists()
