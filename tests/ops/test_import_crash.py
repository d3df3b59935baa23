"""An import killed mid-file (kill -9) leaves none of its batch; run again, it leaves all of it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest

from .conftest import Installation

TABLES = ("billing_importbatch", "billing_importfile", "billing_charge", "billing_pi", "chargeback_auditevent")


def sqlite_counts(site: Installation) -> dict[str, int]:
    with sqlite3.connect(site.data_dir / "openchargeback.sqlite3") as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def postgres_counts(site: Installation) -> dict[str, int]:
    with psycopg.connect(site.database_url.replace("postgres://", "postgresql://", 1)) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def mid_import(site: Installation) -> bool:
    """The parsing worker has finished two staging files and writes a third: this process has
    written rows into its open transaction, and the commit is still far off."""
    return any(site.temp_dir.glob("ocb-import-*/worker-003.*"))


def kill_mid_import(site: Installation, path: Path) -> None:
    process = site.start("ingest", "-s", "aws", "-p", "2025-01", str(path))
    deadline = time.monotonic() + 300
    try:
        while not mid_import(site):
            if process.poll() is not None:
                pytest.fail(f"the import ended before it could be killed: {process.stderr.read().decode()[-500:]}")
            assert time.monotonic() < deadline, "the import did not get half way in five minutes"
            time.sleep(0.01)
        assert process.poll() is None, "the import must still be running when it is killed"
    finally:
        # kill -9 of the import and of its parsing worker, the whole process group.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def crash_and_rerun(site: Installation, large_focus_file: tuple[Path, int], counts) -> None:
    path, rows = large_focus_file
    before = counts(site)
    kill_mid_import(site, path)
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
    crash_and_rerun(sqlite_site, large_focus_file, sqlite_counts)


@pytest.mark.postgres
def test_an_import_killed_mid_file_leaves_nothing_in_postgresql_and_a_rerun_imports_it_all(
    tmp_path, postgres_database, large_focus_file
):
    site = Installation(tmp_path, postgres_database)
    migrated = site.run("migrate", "--no-input", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    crash_and_rerun(site, large_focus_file, postgres_counts)
