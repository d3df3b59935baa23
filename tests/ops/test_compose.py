"""docker-compose.yml, the Dockerfile and .env.example agree (no Docker engine needed to check)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "redis", "web", "worker", "beat"}
VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def documented() -> dict[str, str]:
    """Variables of .env.example (set or shown commented) with the comment just above each."""
    names: dict[str, str] = {}
    comment: list[str] = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.setdefault(match.group(1), " ".join(comment))
        elif line.startswith("#") and not line.startswith("# ---"):
            comment.append(line.lstrip("# "))
        elif not line.strip():
            comment = []
    return names


def settings_reads() -> set[str]:
    text = (ROOT / "chargeback" / "settings.py").read_text()
    return set(re.findall(r"""(?:env_(?:str|bool|int|list)|os\.environ\.get)\(\s*["']([A-Z][A-Z0-9_]*)["']""", text))


def test_the_stack_has_postgres_redis_web_worker_and_beat_each_with_a_health_check():
    services = compose()["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", name
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "celery@$$HOSTNAME" in " ".join(services["worker"]["healthcheck"]["test"])
    assert "celerybeat@$$HOSTNAME" in " ".join(services["beat"]["healthcheck"]["test"])


def test_data_lives_in_named_volumes():
    data = compose()
    assert set(data["volumes"]) == {"pgdata", "redisdata", "appdata"}
    mounts = {name: service.get("volumes", []) for name, service in data["services"].items()}
    assert mounts["postgres"] == ["pgdata:/var/lib/postgresql/data"]
    assert mounts["redis"] == ["redisdata:/data"]
    for app in ("web", "worker", "beat"):
        assert mounts[app] == ["appdata:/data"], app


def test_the_app_services_share_one_image_and_start_after_the_database_and_broker_are_healthy():
    services = compose()["services"]
    images = {services[name]["image"] for name in ("web", "worker", "beat")}
    assert images == {"openchargeback:latest"}
    for name in ("web", "worker", "beat"):
        assert services[name]["environment"]["DEBUG"] == "false"
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["web"]["condition"] == "service_healthy"  # migrations applied
    assert "127.0.0.1:8000:8000" in services["web"]["ports"]  # only the local TLS proxy reaches it


def test_every_variable_docker_compose_uses_is_documented_in_env_example():
    used = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    app_env = set(compose()["services"]["web"]["environment"])
    docs = documented()
    assert used - set(docs) == set()
    assert app_env - set(docs) == set()


# Settings the app containers must not get from .env, each with the reason.
NOT_PASSED_TO_THE_APP = {
    "OPENCHARGEBACK_ENV_FILE",  # the image has no .env; docker compose reads it on the host
    "OPENCHARGEBACK_STATIC_ROOT",  # set by the Dockerfile: the files collected into the image
}


def test_every_setting_read_from_the_environment_reaches_the_app_containers():
    """Compose passes only the variables it lists, so one missing here is silently ignored in .env."""
    reads = settings_reads()
    assert reads >= NOT_PASSED_TO_THE_APP  # no stale exception
    web = set(compose()["services"]["web"]["environment"])
    missing = sorted(reads - NOT_PASSED_TO_THE_APP - web)
    assert missing == [], f"not in x-openchargeback-env of docker-compose.yml: {missing}"
    assert NOT_PASSED_TO_THE_APP & web == set()


def test_every_setting_read_from_the_environment_is_documented_with_its_meaning():
    docs = documented()
    reads = settings_reads()
    assert {"SECRET_KEY", "DATABASE_URL", "LOG_FORMAT", "SECURE_HSTS_SECONDS"} <= reads  # the scan works
    missing = reads - set(docs)
    assert missing == set(), f"not in .env.example: {sorted(missing)}"
    unexplained = sorted(name for name in reads if len(docs[name]) < 15)
    assert unexplained == [], f"no comment explaining: {unexplained}"


def test_the_operations_guide_mentions_every_setting():
    guide = "\n".join(p.read_text() for p in (ROOT / "docs" / "operations").glob("*.md"))
    missing = sorted(name for name in settings_reads() if f"`{name}`" not in guide)
    assert missing == []


def test_the_operations_guide_explains_every_setting():
    guide = (ROOT / "docs" / "operations" / "install.md").read_text()
    missing = sorted(name for name in settings_reads() if f"| `{name}` |" not in guide)
    assert missing == [], f"not in the table of docs/operations/install.md: {missing}"


def test_the_operations_guides_are_linked_from_their_index():
    folder = ROOT / "docs" / "operations"
    index = (folder / "index.md").read_text()
    pages = sorted(p.name for p in folder.glob("*.md") if p.name != "index.md")
    assert pages == [
        "backup-restore.md", "email.md", "install.md", "observability.md", "scaling.md",
        "sqlite-to-postgresql.md", "upgrade.md",
    ]  # fmt: skip
    assert [p for p in pages if f"({p})" not in index] == []


def test_the_dockerfile_builds_a_slim_python_311_image_run_by_an_unprivileged_user_with_gunicorn():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert "collectstatic" in text
    assert re.search(r'^CMD \["gunicorn", "chargeback\.wsgi:application"', text, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", "tests", "var", "*.sqlite3"} <= set(ignored)


def test_the_dockerfile_collectstatic_step_works_with_the_production_storage(tmp_path):
    """The RUN line of the Dockerfile, run here with its own environment (minus Docker)."""
    text = (ROOT / "Dockerfile").read_text()
    step = re.search(
        r"RUN (SECRET_KEY=\S+) \\\n\s+OPENCHARGEBACK_DATA_DIR=\S+ \\\n\s+(openchargeback collectstatic[^\\\n]*)", text
    )
    assert step, "the collectstatic step of the Dockerfile changed shape"
    key = step.group(1).split("=", 1)[1]
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL"}}
    env.update(
        SECRET_KEY=key, OPENCHARGEBACK_DATA_DIR=str(tmp_path / "data"),
        OPENCHARGEBACK_STATIC_ROOT=str(tmp_path / "static"), OPENCHARGEBACK_ENV_FILE=str(tmp_path / "none.env"),
    )  # fmt: skip
    command = [str(Path(sys.executable).parent / "openchargeback"), *step.group(2).split()[1:]]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "staticfiles.json").is_file()
    assert list((tmp_path / "static" / "chargeback").glob("import.*.js"))
