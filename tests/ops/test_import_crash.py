"""An import killed mid-file (kill -9) leaves none of its batch; run again, it leaves all of it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from .conftest import Installation

TABLES = ("billing_importbatch", "billing_importfile", "billing_charge", "billing_pi", "chargeback_auditevent")
WRITTEN_BYTES_BEFORE_KILL = 4 * 1024 * 1024


def sqlite_counts(site: Installation) -> dict[str, int]:
    with sqlite3.connect(site.data_dir / "openchargeback.sqlite3") as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def postgres_counts(site: Installation) -> dict[str, int]:
    with psycopg.connect(site.database_url.replace("postgres://", "postgresql://", 1)) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def sqlite_bytes_written(site: Installation) -> int:
    """Uncommitted pages go to the write-ahead log, invisible to readers but measurable."""
    wal = site.data_dir / "openchargeback.sqlite3-wal"
    return wal.stat().st_size if wal.exists() else 0


def postgres_bytes_written(site: Installation) -> int:
    """Uncommitted rows already take room in the table's files."""
    with psycopg.connect(site.database_url.replace("postgres://", "postgresql://", 1)) as db:
        return db.execute("SELECT pg_relation_size('billing_charge')").fetchone()[0]


def kill_mid_import(site: Installation, path: Path, written: Callable[[Installation], int]) -> None:
    start = written(site)
    process = site.start("ingest", "-s", "aws", "-p", "2025-01", str(path))
    deadline = time.monotonic() + 300
    try:
        while written(site) - start < WRITTEN_BYTES_BEFORE_KILL:
            if process.poll() is not None:
                pytest.fail(f"the import ended before it could be killed: {process.stderr.read().decode()[-500:]}")
            assert time.monotonic() < deadline, "the import wrote nothing for five minutes"
            time.sleep(0.05)
        assert process.poll() is None, "the import must still be running when it is killed"
    finally:
        # kill -9 of the import and of its parsing worker, the whole process group.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def crash_and_rerun(site: Installation, large_focus_file: tuple[Path, int], counts, written) -> None:
    path, rows = large_focus_file
    before = counts(site)
    kill_mid_import(site, path, written)
    assert counts(site) == before  # none of the batch: no charges, no batch, no audit event

    result = site.run("ingest", "-s", "aws", "-p", "2025-01", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # "applied", not "already imported": the killed run's batch never existed.
    assert report["status"] == "applied" and report["rows"] == rows
    after = counts(site)
    assert after["billing_charge"] == before["billing_charge"] + rows  # the whole batch
    assert after["billing_importbatch"] == before["billing_importbatch"] + 1


def test_an_import_killed_mid_file_leaves_nothing_in_sqlite_and_a_rerun_imports_it_all(sqlite_site, large_focus_file):
    crash_and_rerun(sqlite_site, large_focus_file, sqlite_counts, sqlite_bytes_written)


@pytest.mark.postgres
def test_an_import_killed_mid_file_leaves_nothing_in_postgresql_and_a_rerun_imports_it_all(
    tmp_path, postgres_database, large_focus_file
):
    site = Installation(tmp_path, postgres_database)
    migrated = site.run("migrate", "--no-input", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    crash_and_rerun(site, large_focus_file, postgres_counts, postgres_bytes_written)
