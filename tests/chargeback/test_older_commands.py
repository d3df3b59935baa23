"""The older, YAML-configured tool's command lines: `-c config.yaml`, `serve`, `version`.

Run as a cron job would: subprocesses of the installed `openchargeback` script, configured only
by a copy of the older tool's example config.yaml (its database path and mail folder pointing
into a temporary folder, email written to files with `dev_mode`).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.billing.test_import_config import OLD_CONFIG
from tests.conftest import MINIMAL_HEADER, minimal_row, tags

ROOT = Path(__file__).resolve().parents[2]
EXE = shutil.which("openchargeback", path=str(Path(sys.executable).parent)) or "openchargeback"
# The cron lines, as written; only the folder of the input file is the test's own.
CRON_LINES = """\
openchargeback ingest /data/aws_${PERIOD}.csv -s aws -p $PERIOD -c $CONFIG
openchargeback generate -p $PERIOD -c $CONFIG --send
openchargeback export-journal -p $PERIOD -f gl -c $CONFIG
"""


@dataclass
class Site:
    folder: Path
    config: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([EXE, *args], capture_output=True, text=True, env=self.env, cwd=self.folder, timeout=300)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    config = yaml.safe_load(OLD_CONFIG)
    config["dev_mode"] = True
    config["database"]["path"] = "billing.db"  # relative: next to the config file
    config["output"] = {"pdf_dir": "out/pdfs", "journal_dir": "out/journals", "email_dir": str(tmp_path / "mail")}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (tmp_path / "data").mkdir()
    with (tmp_path / "data" / "aws_2025-01.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(MINIMAL_HEADER)
        writer.writerow(minimal_row("100.00", tag_json=tags(pi="alice@example.edu", fund="123456-0001")))
        bob = tags(pi="bob@example.edu", project="climate", fund="654321-0002")
        writer.writerow(minimal_row("50.255", resource="i-2", tag_json=bob))
    settings_names = ("DATABASE_URL", "DEBUG", "OPENCHARGEBACK_DATA_DIR", "SECRET_KEY", "OPENCHARGEBACK_ENV_FILE")
    env = {k: v for k, v in os.environ.items() if k not in settings_names and not k.startswith("EMAIL_")}
    env.update(WEB_SECRET_KEY="a-long-random-secret-for-this-test-only-0123456789", PERIOD="2025-01", CONFIG=str(path))
    env["PATH"] = f"{Path(EXE).parent}{os.pathsep}{env.get('PATH', '')}"
    return Site(tmp_path, path, env)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def test_the_older_tools_cron_lines_run_unchanged(site: Site) -> None:
    ok(site.run("migrate", "-v", "0", "-c", str(site.config)))
    ok(site.run("import-config", str(site.config), "-c", str(site.config)))
    # The example's AWS credit fund/org does not match its own journal pattern; the operator fixes it.
    ok(site.run("sources", "set", "aws", "--credit-fund-org", "100000-0001", "-c", str(site.config)))
    lines = CRON_LINES.replace("/data/", f"{site.folder}/data/")

    result = subprocess.run(
        ["bash", "-euc", lines], capture_output=True, text=True, env=site.env, cwd=site.folder, timeout=300
    )

    assert result.returncode == 0, result.stderr
    assert "Imported batch 1: source aws, period 2025-01" in result.stdout
    # The older tool had no close step: with its config, generate closes the month first.
    assert "Closed period 2025-01 first" in result.stdout
    assert "Generated statements for 2025-01: 2 for 2 PIs" in result.stdout
    assert "Debits 150.26 USD = credits 150.26 USD = statements due 150.26 USD" in result.stdout
    assert (site.folder / "billing.db").exists()
    statements = json.loads(ok(site.run("statements", "list", "-p", "2025-01", "--format", "json",
                                        "-c", str(site.config))).stdout)  # fmt: skip
    assert sorted(s["amount_due"] for s in statements) == ["100.00", "50.26"]
    mails = sorted((site.folder / "mail").iterdir())
    assert len(mails) == 2
    assert {"alice@example.edu", "bob@example.edu"} == {
        next(line[4:] for line in m.read_text().splitlines() if line.startswith("To: ")) for m in mails
    }
    journals = list((site.folder / "out" / "media" / "journals" / "2025-01").glob("*-gl.csv"))
    assert len(journals) == 1
    # What the file could not map is named once per run, on stderr.
    assert result.stderr.count("config.yaml: not used here") == 3  # one per line of the cron script
    assert "currency" in result.stderr and "web.users" in result.stderr


def test_a_yaml_against_a_database_without_its_rules_says_to_run_import_config(site: Site) -> None:
    ok(site.run("migrate", "-v", "0", "-c", str(site.config)))

    first = ok(site.run("periods", "list", "-c", str(site.config)))
    assert f"run 'openchargeback import-config {site.config}' (or add --import-rules)" in first.stderr

    imported = ok(site.run("--config", str(site.config), "sources", "list", "--import-rules"))
    assert imported.stdout.startswith(f"Imported: {site.config}")
    assert "azure-local" in imported.stdout  # then the command itself: the sources, with the imported one
    again = ok(site.run("periods", "list", "-c", str(site.config)))
    assert "import-config" not in again.stderr


def test_the_environment_wins_over_the_config_file(site: Site, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    site.env["DATABASE_URL"] = f"sqlite:///{other}"
    ok(site.run("migrate", "-v", "0", "-c", str(site.config)))
    assert other.exists() and not (site.folder / "billing.db").exists()


def test_a_dotenv_file_configures_any_command(tmp_path: Path, site: Site) -> None:
    env_file = tmp_path / "site.env"
    env_file.write_text(f"DEBUG=true\nDATABASE_URL=sqlite:///{tmp_path / 'from-env.sqlite3'}\n")
    ok(site.run("migrate", "-v", "0", "--config", str(env_file)))
    version = ok(site.run("version", "-c", str(env_file)))
    assert f"Database sqlite ({tmp_path / 'from-env.sqlite3'})" in version.stdout
    assert version.stdout.startswith("OpenChargeback 0.1.0\nPython 3.11")
    assert "\nDjango 5.2" in version.stdout


def test_a_missing_config_file_is_a_configuration_error(site: Site) -> None:
    result = site.run("periods", "list", "-c", "nowhere.yaml")
    assert result.returncode == 2
    assert result.stderr.strip() == "openchargeback: configuration error: nowhere.yaml: no such file"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("debug", [False, True], ids=["gunicorn", "development server"])
def test_serve_answers_on_its_port_and_stops_cleanly(site: Site, debug: bool) -> None:
    ok(site.run("migrate", "-v", "0", "-c", str(site.config)))
    port = free_port()
    site.env.update(OPENCHARGEBACK_SERVE_PORT=str(port), DEBUG=str(debug).lower())
    server = subprocess.Popen(  # the line, verbatim
        ["bash", "-c", "exec openchargeback serve -c $CONFIG"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=site.env, cwd=site.folder,
    )  # fmt: skip
    try:
        body = b""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:  # noqa: S310
                    body = response.read()
                    break
            except OSError:
                time.sleep(0.5)
        assert b"ok" in body, server.stderr.read() if server.poll() is not None else "no answer"
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert f"OpenChargeback at http://127.0.0.1:{port}/admin/" in out
    assert "createsuperuser" in out
