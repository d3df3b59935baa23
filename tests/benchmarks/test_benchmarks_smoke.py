"""Every benchmark, run as a new user runs it, measures every case it reports.

Each benchmark runs at a tiny size in its own process, from a shell with no DEBUG and no
DATABASE_URL, with a fresh temporary folder (TMPDIR) that it must leave empty. A case that could
not be measured is a failed test, so a benchmark that silently stops measuring is caught here, not
by whoever runs it at full size next. Missed budgets are not checked: at this size and on a shared
machine they mean nothing.

The benchmarks make their own databases, so these run once, in the SQLite suite. The PostgreSQL
cases need the server of TEST_DATABASE_URL (where each makes a scratch database named after that
one): without it they are skipped with the reason, except under CI=true, where that is a failure.
The FOCUS generator (../shared/focusgen.py, or OPENCHARGEBACK_FOCUSGEN) is needed the same way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
FOCUSGEN = Path(os.environ.get("OPENCHARGEBACK_FOCUSGEN", ROOT.parent / "shared" / "focusgen.py"))
SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
ROWS = "2000"

# pages.py: every page it times, in the order it prints them. At 2,000 rows the charge list has
# fewer than 50 pages, so its last page stands in for page 50.
ADMIN_PAGES = [
    "dashboard", "review queue (flagged)", "all charges, page 1", "all charges, last page", "charges of one PI",
    "charges of one project", "search by resource", "charge detail", "import batches", "audit log",
]  # fmt: skip
PORTAL_PAGES = [
    "portal home", "portal projects", "portal project detail", "portal statements", "portal statements of a period",
    "portal statement detail", "portal statement PDF", "portal charges, page 1", "portal charges, page 20",
    "portal charges by service", "portal charges by resource", "portal charge detail", "portal charges CSV (all)",
    "portal delegates", "delegate home", "delegate charges", "delegate statements",
]  # fmt: skip
PAGE_LINE = re.compile(r"^(?P<name>\S.*?)\s+(?P<best>\d+)\s+(?P<median>\d+)\s+(?:PASS|FAIL)$")


@pytest.fixture(autouse=True)
def _once_in_the_sqlite_suite() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the benchmarks make their own databases: they run once, in the SQLite suite")


@pytest.fixture
def focusgen(in_ci: bool) -> Path:
    if not FOCUSGEN.is_file():
        reason = f"the FOCUS generator is not at {FOCUSGEN} (set OPENCHARGEBACK_FOCUSGEN)"
        if in_ci:
            pytest.fail(f"{reason}, under CI")
        pytest.skip(reason)
    return FOCUSGEN


def server(name: str) -> str:
    """A database's URL on the test server."""
    return urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))


def scratch_name(benchmark: str) -> str:
    base = urlsplit(SERVER_URL).path.strip("/") or "test"
    return f"{base}_bench_{benchmark}"


@pytest.fixture
def postgres(in_ci: bool) -> str:
    """The test server's maintenance database, which the benchmarks make their scratch databases from."""
    url = server("postgres")
    try:
        psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {url}: {str(exc).strip().splitlines()[0]}"
        if in_ci:
            pytest.fail(f"{reason}, under CI")
        pytest.skip(reason)
    return url


@pytest.fixture
def empty_postgres_database(postgres: str) -> Iterator[str]:
    """A database for pages.py, which flushes the one it is given; dropped afterwards."""
    name = scratch_name("pages")
    admin = postgres.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield server(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Run:
    returncode: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Any]:
    """Run benchmarks/NAME as a new user would; afterwards its temporary folder must be empty."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL"}}
    env["TMPDIR"] = str(temp)

    def run(name: str, *args: str) -> Run:
        command = [sys.executable, str(ROOT / "benchmarks" / name), *args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        return Run(done.returncode, done.stdout, done.stderr)

    yield run
    assert sorted(p.name for p in temp.iterdir()) == [], "the benchmark left files in its temporary folder"


def measured_pages(run: Run) -> dict[str, int]:
    """pages.py's output: each page with a figure, and its median in ms."""
    assert "NOT MEASURED" not in run.out + run.err, run.out + run.err
    assert run.returncode == 0, run.out + run.err
    return {m["name"]: int(m["median"]) for line in run.out.splitlines() if (m := PAGE_LINE.match(line))}


def test_pages_times_every_admin_and_portal_page_over_https(bench, focusgen):
    run = bench("pages.py", "--rows", ROWS, "--repeat", "1", "--focusgen", str(focusgen))

    assert list(measured_pages(run)) == ADMIN_PAGES + PORTAL_PAGES
    assert re.search(r"^dashboard with an empty cache \(first view after new data\): \d+ ms$", run.out, re.M)


def test_pages_times_every_page_on_postgresql(bench, focusgen, empty_postgres_database):
    run = bench(
        "pages.py", "--rows", ROWS, "--repeat", "1", "--focusgen", str(focusgen),
        "--postgres-url", empty_postgres_database, "--only", "portal",
    )  # fmt: skip

    assert list(measured_pages(run)) == PORTAL_PAGES
    assert "imported 2,000 rows in" in run.out and "(postgresql)" in run.out


def ingest_results(run: Run) -> list[dict[str, Any]]:
    assert run.returncode == 0, run.out + run.err
    doc = run.json()
    assert doc["not_measured"] == []
    return doc["results"]


def test_ingest_measures_an_sqlite_import_against_the_bare_loop(bench, focusgen):
    run = bench("ingest.py", "--rows", ROWS, "--db", "sqlite", "--format", "json", "--focusgen", str(focusgen))

    [result] = ingest_results(run)
    assert (result["database"], result["rows"]) == ("sqlite", 2000)
    for figure in ("seconds", "rows_per_s", "peak_rss_mb", "bare_seconds", "ratio", "startup_seconds",
                   "engine_seconds", "store_seconds"):  # fmt: skip
        assert result[figure] > 0, figure


def test_ingest_measures_a_postgresql_import(bench, focusgen, postgres):
    run = bench(
        "ingest.py", "--rows", ROWS, "--db", "postgresql", "--format", "json", "--focusgen", str(focusgen),
        "--postgres-url", postgres, "--bench-db-name", scratch_name("ingest"),
    )  # fmt: skip

    [result] = ingest_results(run)
    assert (result["database"], result["rows"]) == ("postgresql", 2000)
    assert result["seconds"] > 0 and result["engine_seconds"] > 0 and result["peak_rss_mb"] > 0


def test_ingest_says_a_postgresql_it_cannot_reach_was_not_measured_and_fails(bench, focusgen):
    run = bench(
        "ingest.py", "--rows", ROWS, "--db", "postgresql", "--focusgen", str(focusgen),
        "--postgres-url", "postgres://postgres@127.0.0.1:9/postgres",
    )  # fmt: skip

    assert run.returncode == 1
    assert re.search(r"^NOT MEASURED  postgresql, 2,000 rows: server unreachable at .*:9/postgres", run.out, re.M)


def journal_results(run: Run) -> dict[str, Any]:
    assert run.returncode == 0, run.out + run.err
    doc = run.json()
    assert doc["not_measured"] == {}
    assert sorted(doc["exports"]) == ["detail", "gl", "summary"]
    assert all(export["seconds"] > 0 and export["lines"] > 0 for export in doc["exports"].values())
    assert doc["reconciliation"]["balanced"] is True
    assert doc["budget"]["met"] is not None
    return doc


def test_journal_times_every_format_and_the_reconciliation(bench, focusgen):
    doc = journal_results(bench("journal.py", "--rows", ROWS, "--format", "json", "--focusgen", str(focusgen)))

    assert (doc["database"], doc["charges"]) == ("sqlite", 2000)


def test_journal_times_every_format_on_postgresql(bench, focusgen, postgres):
    run = bench(
        "journal.py", "--rows", ROWS, "--db", "postgres", "--format", "json", "--focusgen", str(focusgen),
        "--postgres-url", postgres, "--bench-db-name", scratch_name("journal"),
    )  # fmt: skip

    doc = journal_results(run)
    assert (doc["database"], doc["charges"]) == ("postgres", 2000)


def test_statement_pdfs_times_one_worker_and_the_whole_period(bench, focusgen):
    run = bench("statement_pdfs.py", "--statements", "10", "--sample", "3", "--focusgen", str(focusgen))

    assert run.returncode == 0, run.out + run.err
    assert "NOT MEASURED" not in run.out + run.err
    assert re.search(r"^one worker: \d+\.\d\d PDFs/s \(pages per statement \d+-\d+\)", run.out, re.M), run.out
    period = re.search(r"^2 workers: (\d+) PDFs in [\d.]+ s .* the whole period of (\d+) would take \d+ s", run.out,
                       re.M)  # fmt: skip
    assert period, run.out
    assert int(period[1]) == int(period[2]) - 3  # every statement the single worker did not render
