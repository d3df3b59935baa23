"""`openchargeback check --deploy` is clean with the documented production environment."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import yaml
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[2]
OPENCHARGEBACK = str(Path(sys.executable).parent / "openchargeback")


def interpolate(value: str, env: dict[str, str]) -> str:
    """docker compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}`, nested once."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        current = env.get(name, "")
        if op == ":-":
            return current or interpolate(rest, env)
        if op == ":?":
            assert current, f"docker compose would stop: {rest}"
        return current

    pattern = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(:[-?])((?:[^{}]|\$\{[^}]*\})*))?\}")
    return pattern.sub(one, value)


def production_environment(tmp_path: Path, **override: str) -> dict[str, str]:
    """What the web container gets: .env.example's values run through docker-compose.yml."""
    dotenv = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
    dotenv["SECRET_KEY"] = secrets.token_urlsafe(50)  # as .env.example tells to generate one
    dotenv.update(override)
    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["environment"]
    # Only what a container has besides its compose environment (not this test run's variables).
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}}
    env.update({name: interpolate(str(value), dotenv) for name, value in web.items()})
    # Not Docker: the data and static folders of the container become temporary ones.
    env.update(
        OPENCHARGEBACK_DATA_DIR=str(tmp_path / "data"), OPENCHARGEBACK_STATIC_ROOT=str(tmp_path / "static"),
        OPENCHARGEBACK_ENV_FILE=str(tmp_path / "none.env"),
    )  # fmt: skip
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [OPENCHARGEBACK, "check", "--deploy", "--fail-level", "WARNING"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    env = production_environment(tmp_path)
    assert env["DEBUG"] == "false" and env["DATABASE_URL"].startswith("postgres://")
    result = check_deploy(env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_the_placeholder_secret_key_of_the_example_is_refused(tmp_path):
    env = production_environment(tmp_path, SECRET_KEY="replace-with-a-long-random-string")
    result = check_deploy(env)
    assert result.returncode != 0
    assert "security.W009" in result.stderr


def test_turning_https_enforcement_off_is_reported(tmp_path):
    env = production_environment(tmp_path, SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0")
    result = check_deploy(env)
    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W004" in result.stderr
