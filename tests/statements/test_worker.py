"""A real Celery worker over Redis renders and emails a period, and survives being killed.

These run in the PostgreSQL suite (`make test` runs the whole suite again on PostgreSQL): the
test, the `openchargeback` command and the worker are separate processes sharing the test
database, the Redis broker and the data folder. On SQLite (an in-memory test database no other
process can open) they are skipped. Without Redis they are skipped, except under CI=true.
"""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from statements.models import Delivery, Statement
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1")


@pytest.fixture
def services(in_ci: bool, tmp_path: Path) -> dict[str, str]:
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL suite: other processes cannot open the in-memory SQLite test database")
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.flushdb()
    except redis.RedisError as exc:
        if in_ci:
            pytest.fail(f"Redis is not reachable at {REDIS_URL} under CI: {exc}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "OPENCHARGEBACK_DATA_DIR": str(tmp_path),  # the test's media and mail folders (tests/conftest.py)
    }


@pytest.fixture
def worker(services: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chargeback", "worker", "--pool=prefork", "--concurrency=1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
            cwd=settings.BASE_DIR, env=services, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def command(services: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "chargeback.cli", *args], cwd=settings.BASE_DIR, env=services,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120, poll: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def closed_period(run: Any, focus_files: Any, pis: int) -> None:
    rows = [
        minimal_row(f"{10 + i}.{i:02d}", resource=f"r{i}-{k}", tag_json=tags(f"pi{i:02d}@example.edu", f"proj-{i:02d}"))
        for i in range(pis) for k in range(3)
    ]  # fmt: skip
    assert run("ingest", str(focus_files.write("aws-2025-01.csv", rows)), "-s", "aws", "-p", "2025-01").code == 0
    assert run("periods", "close", "2025-01").code == 0


def mailed(tmp_path: Path) -> list[str]:
    """Recipients of every email the worker wrote. Django's file backend appends the messages of
    one second and one backend address to the same file, separated by a line of 79 dashes."""
    folder = tmp_path / "mail"
    if not folder.exists():
        return []
    recipients = []
    for f in folder.iterdir():
        for part in f.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if part.strip():
                recipients.append(email.message_from_bytes(part)["To"])
    return sorted(recipients)


def all_sent() -> bool:
    return Delivery.objects.exclude(status="sent").count() == 0 and Delivery.objects.exists()


def test_a_worker_over_redis_renders_and_emails_a_period(services, worker, run, focus_files, seeded, tmp_path):
    closed_period(run, focus_files, pis=4)
    worker()
    command(services, "generate", "-p", "2025-01", "--send")
    wait_for(all_sent, "every delivery to be sent")
    assert mailed(tmp_path) == [f"pi{i:02d}@example.edu" for i in range(4)]
    statements = Statement.objects.all()
    assert statements.count() == 4 and {s.status for s in statements} == {"sent"}
    assert all(s.pdf_sha256 and s.pdf.read()[:5] == b"%PDF-" for s in statements)
    command(services, "send", "-p", "2025-01")  # again: nothing to send
    time.sleep(2)
    assert len(mailed(tmp_path)) == 4


def test_killing_the_worker_mid_generation_loses_and_repeats_nothing(
    services, worker, run, focus_files, seeded, tmp_path
):
    # Enough statements that the worker (some 30 PDFs a second) is surely still rendering when
    # the first few are done and it is killed.
    pis = 60
    closed_period(run, focus_files, pis=pis)
    first = worker()
    command(services, "generate", "-p", "2025-01", "--send")
    wait_for(
        lambda: Statement.objects.filter(status="final").count() >= 3, "a few statements to be rendered", poll=0.02
    )
    os.killpg(first.pid, signal.SIGKILL)  # no warm shutdown: its task in hand is lost with it
    first.wait(timeout=20)
    assert Statement.objects.filter(status="draft").exists()  # the kill came mid-generation
    worker()
    wait_for(all_sent, "every delivery to be sent after the restart", timeout=180)
    assert mailed(tmp_path) == [f"pi{i:02d}@example.edu" for i in range(pis)]  # each PI exactly once
    statements = list(Statement.objects.all())
    assert len(statements) == pis and all(s.version == 1 and s.status == "sent" for s in statements)
    stored = {f.name for f in (tmp_path / "media" / "statements" / "2025-01").iterdir()}
    assert {Path(str(s.pdf.name)).name for s in statements} <= stored  # every statement's PDF is on disk
