"""What this installation runs on, shown read-only on the settings page and by `version`."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection


def product_version() -> str:
    try:
        return version("openchargeback")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout that is not installed
        return "unknown (not installed)"


def database_label() -> str:
    """`sqlite (/path/file.sqlite3)` or `postgresql (host/name)`: never the password."""
    db = connection.settings_dict
    engine = connection.vendor
    where = str(db["NAME"]) if engine == "sqlite" else f"{db.get('HOST') or 'localhost'}/{db['NAME']}"
    return f"{engine} ({where})"


def system_info() -> list[tuple[str, str]]:
    """(label, value) rows; addresses are shown without their user name and password."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        background = "embedded: tasks run in the web process (no broker)"
    else:
        url = urlsplit(settings.CELERY_BROKER_URL)
        background = f"Celery workers, broker {url.scheme}://{url.hostname or ''}{f':{url.port}' if url.port else ''}"
    email = settings.EMAIL_BACKEND.rsplit(".", 2)[-2] if "." in settings.EMAIL_BACKEND else settings.EMAIL_BACKEND
    if email == "filebased":
        email = f"written to files in {settings.EMAIL_FILE_PATH}"
    elif email in {"mail", "smtp"}:
        email = f"SMTP {getattr(settings, 'EMAIL_HOST', '')}:{getattr(settings, 'EMAIL_PORT', '')}"
    storage = getattr(default_storage, "location", None)
    return [
        ("Version", product_version()),
        ("Database", database_label()),
        ("Background work", background),
        ("Email", email),
        ("Stored files", str(storage) if storage else type(default_storage).__name__),
    ]
