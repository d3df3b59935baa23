"""The `openchargeback` console script, run as a person would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def console(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("openchargeback", path=str(Path(sys.executable).parent)) or ""
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    base.update({"DEBUG": "true", "OPENCHARGEBACK_DATA_DIR": str(data_dir)}, **(env or {}))
    return subprocess.run([exe, *args], capture_output=True, text=True, env=base, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli")
    result = console("migrate", "-v", "0", data_dir=data)
    assert result.returncode == 0, result.stderr
    return data


def test_help_lists_the_openchargeback_commands_with_what_they_do(migrated):
    result = console("--help", data_dir=migrated)
    assert result.returncode == 0
    for name in ["ingest", "periods", "review", "show", "sources"]:
        assert f"  {name}" in result.stdout
    assert "Import FOCUS CSV files" in result.stdout
    # A summary is the first sentence, which "e.g." does not end.
    assert "(DATABASE_URL, e.g. the embedded SQLite) into an empty PostgreSQL database" in result.stdout
    assert "migrate" in result.stdout and "createsuperuser" in result.stdout


def test_the_demo_command_is_listed_as_load_demo_in_the_style_of_the_others(migrated):
    listed = console("--help", data_dir=migrated).stdout

    assert "  load-demo " in listed
    assert "  copy-database " in listed
    assert "load_demo" not in listed


def test_an_error_is_one_line_on_stderr_with_exit_status_1(migrated, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("BillingPeriodStart,BilledCost\n2025-01-01,abc\n")
    result = console("ingest", str(bad), "-s", "aws", "-p", "2025-01", data_dir=migrated)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: bad.csv:2: column BilledCost: 'abc' is not a number"
    assert "Traceback" not in result.stderr


def test_without_secret_key_and_debug_it_refuses_to_start(tmp_path):
    result = console("periods", "list", data_dir=tmp_path, env={"DEBUG": "false", "SECRET_KEY": ""})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("openchargeback: configuration error: SECRET_KEY must be set")


def test_a_database_url_selects_the_database(tmp_path):
    db = tmp_path / "other.sqlite3"
    result = console("migrate", "-v", "0", data_dir=tmp_path / "d", env={"DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_commands_start_without_the_admin_modules_and_check_still_covers_them(tmp_path):
    """The apps' admin modules load with the URLconf, not at start-up; `check` imports them first."""
    script = (
        "import django; django.setup()\n"
        "import sys\n"
        "from django.contrib import admin\n"
        "from billing.models import Charge\n"
        "print('admin at start-up:', 'billing.admin' in sys.modules, admin.site.is_registered(Charge))\n"
        "from django.core.management import call_command\n"
        "call_command('check')\n"
        "print('admin after check:', admin.site.is_registered(Charge))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DEBUG="true", OPENCHARGEBACK_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="chargeback.settings")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "admin at start-up: False False" in result.stdout
    assert "admin after check: True" in result.stdout


def test_a_new_sqlite_database_has_16_kib_pages_and_a_write_ahead_log(tmp_path):
    import sqlite3

    result = console("migrate", "-v", "0", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    db = sqlite3.connect(tmp_path / "openchargeback.sqlite3")
    try:
        assert db.execute("PRAGMA page_size").fetchone()[0] == 16384
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_the_generic_import_of_a_resource_runs_data_import_without_a_prompt(migrated, tmp_path):
    rates = tmp_path / "rates.csv"
    rates.write_text("name,kind,applies_to,unit,price,effective_from\ncpu-su,slurm,cpu,SU,0.01,2025-01-01\n")

    result = console("import", "billing.resources.RateResource", str(rates), data_dir=migrated)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Imported: rates.csv (rates): 1 rows, 1 created, 0 updated, 0 unchanged"
    exported = console("data", "export", "rates", data_dir=migrated)
    assert "cpu-su,slurm,cpu,SU,0.0100000000" in exported.stdout
