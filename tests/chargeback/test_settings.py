"""The environment drives the settings; bad values are refused, not guessed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; from django.conf import settings; django.setup(); "
    "print(json.dumps({'eager': settings.CELERY_TASK_ALWAYS_EAGER, 'broker': settings.CELERY_BROKER_URL, "
    "'email': settings.EMAIL_BACKEND, 'db': settings.DATABASES['default']['ENGINE'], "
    "'name': str(settings.DATABASES['default']['NAME']), 'media': str(settings.MEDIA_ROOT)}))"
)


def probe(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_HOST"}}
    base.update({"DJANGO_SETTINGS_MODULE": "chargeback.settings", "OPENCHARGEBACK_DATA_DIR": str(tmp_path)})
    base.update({"OPENCHARGEBACK_ENV_FILE": str(tmp_path / "none.env")}, **env)
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=base, cwd=ROOT)


def test_the_defaults_are_an_embedded_sqlite_eager_celery_and_file_email(tmp_path):
    import json

    result = probe(tmp_path, DEBUG="true")
    data = json.loads(result.stdout)
    assert data["eager"] is True and data["broker"] == "memory://localhost//"  # in-process
    assert data["email"] == "django.core.mail.backends.filebased.EmailBackend"
    assert data["db"] == "django.db.backends.sqlite3"
    assert data["name"] == str(tmp_path / "openchargeback.sqlite3")
    assert data["media"] == str(tmp_path / "media")


def test_the_embedded_broker_connects_without_a_warning(tmp_path):
    # `make demo` queues its emails through this in-process broker; it must print nothing.
    connect = (
        "import django, logging; logging.basicConfig(); django.setup(); from chargeback.celery import app\n"
        "with app.producer_or_acquire(): print('connected')"
    )
    base = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    base.update({"DJANGO_SETTINGS_MODULE": "chargeback.settings", "OPENCHARGEBACK_DATA_DIR": str(tmp_path)})
    base.update({"OPENCHARGEBACK_ENV_FILE": str(tmp_path / "none.env"), "DEBUG": "true"})
    result = subprocess.run([sys.executable, "-c", connect], capture_output=True, text=True, env=base, cwd=ROOT)
    assert result.stdout.strip() == "connected"
    assert "hostname" not in result.stderr.lower() and "warning" not in result.stderr.lower()


def test_production_values_select_redis_postgres_and_smtp(tmp_path):
    import json

    result = probe(
        tmp_path,
        SECRET_KEY="x" * 50,
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        DATABASE_URL="postgres://u@db:5432/billing",
        EMAIL_HOST="smtp.example.edu",
    )
    data = json.loads(result.stdout)
    assert data["eager"] is False and data["broker"] == "redis://127.0.0.1:6379/0"
    assert data["email"] == "chargeback.mail.SMTPBackend"
    assert data["db"] == "django.db.backends.postgresql" and data["name"] == "billing"


def test_an_env_file_is_read(tmp_path):
    import json

    env_file = tmp_path / "custom.env"
    env_file.write_text("DEBUG=true\nCELERY_BROKER_URL=redis://example:6379/1\n")
    result = probe(tmp_path, OPENCHARGEBACK_ENV_FILE=str(env_file))
    assert json.loads(result.stdout)["broker"] == "redis://example:6379/1"


def test_a_value_that_is_not_a_boolean_is_refused(tmp_path):
    result = probe(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


TEMPLATE_PROBE = (
    "import django, json; from django.conf import settings; django.setup(); "
    "from django.template.loader import get_template; "
    "print(json.dumps({'dir': settings.OPENCHARGEBACK_TEMPLATE_DIR, "
    "'statement': get_template('statements/statement_pdf.html').origin.name, "
    "'email': get_template('statements/email.html').origin.name}))"
)


def test_an_installation_template_dir_is_searched_before_the_projects_templates(tmp_path):
    import json

    folder = tmp_path / "letterhead"
    (folder / "statements").mkdir(parents=True)
    (folder / "statements" / "statement_pdf.html").write_text("ours", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "OPENCHARGEBACK_TEMPLATE_DIR"}
    env.update(DJANGO_SETTINGS_MODULE="chargeback.settings", DEBUG="true", OPENCHARGEBACK_DATA_DIR=str(tmp_path),
               OPENCHARGEBACK_ENV_FILE=str(tmp_path / "none.env"), OPENCHARGEBACK_TEMPLATE_DIR=str(folder))  # fmt: skip
    result = subprocess.run([sys.executable, "-c", TEMPLATE_PROBE], capture_output=True, text=True, env=env, cwd=ROOT)

    data = json.loads(result.stdout)
    assert data["dir"] == str(folder)
    assert data["statement"] == str(folder / "statements" / "statement_pdf.html")
    assert data["email"] == str(ROOT / "templates" / "statements" / "email.html")  # the others are the project's


def test_a_template_dir_that_is_not_a_folder_is_refused(tmp_path):
    result = probe(tmp_path, DEBUG="true", OPENCHARGEBACK_TEMPLATE_DIR=str(tmp_path / "missing"))

    assert result.returncode != 0
    assert f"OPENCHARGEBACK_TEMPLATE_DIR='{tmp_path / 'missing'}' is not a directory" in result.stderr
