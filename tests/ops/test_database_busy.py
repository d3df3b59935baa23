"""SQLite has one writer at a time: whoever waits too long is told so plainly, never a traceback.

A second import waiting behind a long one ends with one line and exit status 1; a web request
that finds the database locked gets a 503 page with Retry-After instead of a server error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from billing.models import PI
from tests.conftest import FocusFiles, minimal_row

from .conftest import Installation

BUSY = (
    "Error: the database is busy: another import or change is writing to it (SQLite: database is locked); "
    "try again when it has finished"
)


@contextmanager
def writing(database: str, *, uri: bool = False) -> Iterator[None]:
    """Another connection holds SQLite's write lock, as a long import does for its whole run."""
    other = sqlite3.connect(database, uri=uri, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE billing_source SET enabled = enabled")
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_an_import_waiting_behind_another_writer_gives_up_with_one_line(sqlite_site: Installation, tmp_path: Path):
    sqlite_site.extra_env["OPENCHARGEBACK_SQLITE_TIMEOUT"] = "1"
    path = FocusFiles(tmp_path).write("aws-2025-01.csv", [minimal_row()])

    with writing(str(sqlite_site.data_dir / "openchargeback.sqlite3")):
        result = sqlite_site.run("ingest", "-s", "aws", "-p", "2025-01", str(path))

    assert result.returncode == 1
    assert result.stderr.strip() == BUSY
    again = sqlite_site.run("ingest", "-s", "aws", "-p", "2025-01", str(path))
    assert again.returncode == 0, again.stderr


@pytest.mark.django_db(transaction=True)
def test_a_page_that_finds_the_database_locked_is_a_503_with_retry_after(client, finance_admin):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's single writer")
    client.force_login(finance_admin)

    with writing(connection.settings_dict["NAME"], uri=True):
        response = client.post(reverse("admin:billing_pi_add"), {"email": "bob@example.edu", "name": "Bob"})

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "Busy for a moment" in response.content.decode()
    assert not PI.objects.exists()
