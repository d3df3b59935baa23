"""Moving an installation from SQLite to PostgreSQL: `openchargeback copy-database URL`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT, Installation

pytestmark = pytest.mark.postgres

# Counted and totalled independently of the command: every table's rows, and exact money sums.
PROBE = """
import django, json
django.setup()
from django.apps import apps
from django.db.models import Count
from billing.models import Charge
from chargeback.money import MoneySum
counts = {m._meta.db_table: m._base_manager.count() for m in apps.get_models(include_auto_created=True)
          if m._meta.managed and not m._meta.proxy}
totals = Charge.objects.aggregate(billed=MoneySum("billed_cost"), listed=MoneySum("list_cost"),
                                  effective=MoneySum("effective_cost"))
per_pi = {str(r["pi__email"]): str(r["billed"]) for r in
          Charge.objects.order_by().values("pi__email").annotate(billed=MoneySum("billed_cost"))}
print(json.dumps({"counts": counts, "totals": {k: str(v) for k, v in totals.items()}, "per_pi": per_pi}))
"""


def figures(site: Installation) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=site.env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_sqlite_installation_moves_to_postgresql_with_every_row_and_exact_totals(
    sqlite_site, postgres_database, focus_files
):
    from tests.conftest import minimal_row, tags

    assert sqlite_site.run("load_demo").returncode == 0
    # Amounts with all ten decimals and a PI with non-Latin letters in the name.
    rows = [
        minimal_row("0.0000000001", resource="tiny"),
        minimal_row("123456789.1234567891", resource="huge", tag_json=tags(pi="zoë@example.edu")),
        minimal_row("-5.5", resource="credit"),
    ]
    path = focus_files.write("hpc-2025-03.csv", rows)
    assert sqlite_site.run("ingest", "-s", "hpc", str(path)).returncode == 0
    before = figures(sqlite_site)
    assert before["counts"]["billing_charge"] > 100

    result = sqlite_site.run("copy-database", postgres_database, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"] == sum(before["counts"].values())

    moved = Installation(sqlite_site.data_dir, postgres_database)
    after = figures(moved)
    assert after == before
    assert after["totals"]["billed"] == before["totals"]["billed"]  # to the last of ten decimals
    # The moved installation works: same periods, and new rows get fresh ids.
    periods = [site.run("periods", "list", "--format", "json").stdout for site in (sqlite_site, moved)]
    assert periods[0] == periods[1]
    later = focus_files.write("hpc-2025-04.csv", [minimal_row("7.00", period="2025-04")])
    assert moved.run("ingest", "-s", "hpc", str(later)).returncode == 0
    assert figures(moved)["counts"]["billing_charge"] == before["counts"]["billing_charge"] + 1


def test_copying_into_a_database_that_already_has_data_is_refused(sqlite_site, postgres_database):
    assert sqlite_site.run("load_demo").returncode == 0
    assert sqlite_site.run("copy-database", postgres_database).returncode == 0
    again = sqlite_site.run("copy-database", postgres_database)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "Error: the target database already holds data (auth_user); give an empty database"
    ]


def test_a_target_that_is_not_postgresql_is_refused_in_one_line(sqlite_site):
    result = sqlite_site.run("copy-database", "sqlite:///elsewhere.sqlite3")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: the target must be a PostgreSQL database (postgres://user:password@host:5432/name)"
    )


def test_a_value_postgresql_refuses_mid_copy_is_named_in_one_line_and_the_target_is_left_empty(
    sqlite_site, postgres_database
):
    import sqlite3

    import psycopg

    assert sqlite_site.run("load_demo").returncode == 0
    # SQLite keeps a display name longer than its 200 characters; PostgreSQL refuses it. The
    # tables before billing_source in the copy's order (auth_…, billing_account…) are copied by then.
    with sqlite3.connect(sqlite_site.data_dir / "openchargeback.sqlite3") as db:
        (hpc,) = db.execute("SELECT id FROM billing_source WHERE name = 'hpc'").fetchone()
        db.execute("UPDATE billing_source SET display_name = ? WHERE id = ?", ("H" * 250, hpc))
    result = sqlite_site.run("copy-database", postgres_database)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: billing_source row id {hpc}: PostgreSQL refused a value "
        "(value too long for type character varying(200)); nothing was kept"
    ]
    with psycopg.connect(postgres_database.replace("postgres://", "postgresql://", 1)) as target:
        tables = target.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    assert tables == []
