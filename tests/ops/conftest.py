"""Running `openchargeback` as a separate process against its own database file or server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
OPENCHARGEBACK = str(Path(sys.executable).parent / "openchargeback")
# The FOCUS generator shared by the benchmarks (../shared/focusgen.py next to the repository).
FOCUSGEN = Path(os.environ.get("OPENCHARGEBACK_FOCUSGEN", ROOT.parent / "shared" / "focusgen.py"))
SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


@dataclass
class Installation:
    """An OpenChargeback with its own data folder and database, driven through its command line."""

    data_dir: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def temp_dir(self) -> Path:
        """Its processes' temporary files (TMPDIR), where an import keeps its staging files."""
        path = self.data_dir / "tmp"
        path.mkdir(exist_ok=True)
        return path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"CELERY_BROKER_URL", "CACHE_URL", "LOG_FORMAT"}}
        env.update(
            DEBUG="true", DATABASE_URL=self.database_url, OPENCHARGEBACK_DATA_DIR=str(self.data_dir),
            OPENCHARGEBACK_ENV_FILE=str(self.data_dir / "none.env"), TMPDIR=str(self.temp_dir), **self.extra_env,
        )  # fmt: skip
        return env

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [OPENCHARGEBACK, *args]
        return subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """A command in its own process group, so it can be killed with every process it started."""
        return subprocess.Popen(
            [OPENCHARGEBACK, *args], cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database file with every migration applied (copied by each test that needs one)."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    site = Installation(folder, f"sqlite:///{folder / 'openchargeback.sqlite3'}")
    result = site.run("migrate", "--no-input", "-v", "0")
    assert result.returncode == 0, result.stderr
    return folder / "openchargeback.sqlite3"


@pytest.fixture
def sqlite_site(tmp_path: Path, migrated_sqlite: Path) -> Installation:
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(migrated_sqlite, folder / "openchargeback.sqlite3")
    return Installation(folder, f"sqlite:///{folder / 'openchargeback.sqlite3'}")


def postgres_url(name: str) -> str:
    parts = urlsplit(SERVER_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin_connection() -> psycopg.Connection:
    return psycopg.connect(postgres_url("postgres").replace("postgres://", "postgresql://", 1), autocommit=True)


@pytest.fixture
def postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the test server; dropped afterwards.

    Runs in the PostgreSQL suite only (`make pytest-postgres`): the SQLite run skips it.
    """
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL suite (make pytest-postgres)")
    base = urlsplit(SERVER_URL).path.strip("/") or "test"
    name = f"{base}_ops_{request.node.name.split('[')[0][-30:]}".lower()
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_url(name)
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def large_focus_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """About 28 MB of FOCUS lines (50,000 rows): an import that takes seconds, not milliseconds."""
    rows = 50_000
    path = tmp_path_factory.mktemp("large") / "aws-2025-01.csv"
    if FOCUSGEN.is_file():
        with path.open("wb") as out:
            subprocess.run([sys.executable, str(FOCUSGEN), str(rows)], stdout=out, check=True, timeout=600)
    else:  # a clean checkout without the shared folder: the same shape from our own builder
        import csv

        from tests.conftest import MINIMAL_HEADER, minimal_row

        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(MINIMAL_HEADER)
            for n in range(rows):
                writer.writerow(minimal_row(f"{n % 997}.{n % 89:02d}", resource=f"i-{n:07d}" + "x" * 300))
    return path, rows
