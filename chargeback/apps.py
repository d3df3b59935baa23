from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.contrib.admin.apps import SimpleAdminConfig
from django.core import checks
from django.db.backends.signals import connection_created


def _sqlite_pragmas(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        # A new database gets 16 KiB pages (an existing one keeps its size): a quarter less time
        # to store a batch of charges with their indexes than SQLite's default 4 KiB.
        cursor.execute("PRAGMA page_size=16384")
        # WAL: readers are not blocked by an import; NORMAL is durable across app crashes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-65536")


def _check_admin(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Django's admin checks, over every app's admin module (see ChargebackAdminConfig)."""
    from django.contrib import admin
    from django.contrib.admin.checks import check_admin_app

    admin.autodiscover()
    return list(check_admin_app(app_configs, **kwargs))


class ChargebackAdminConfig(SimpleAdminConfig):
    """The Django admin with OpenChargeback's site (dashboard index, finance workspace).

    The apps' admin modules (and the libraries they pull in: import-export, tables2, …) are
    imported when the URLconf is (chargeback/urls.py), not at start-up: a scripted command such
    as `openchargeback ingest` never needs them, and they were a third of its start-up time.
    The admin's system checks import them first, so `openchargeback check` still covers them.
    """

    default_site = "chargeback.admin_site.ChargebackAdminSite"

    def ready(self) -> None:
        from django.contrib.admin.checks import check_dependencies

        checks.register(check_dependencies, checks.Tags.admin)
        checks.register(_check_admin, checks.Tags.admin)


class ChargebackConfig(AppConfig):
    name = "chargeback"
    verbose_name = "OpenChargeback"

    def ready(self) -> None:
        from django.conf import settings

        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        connection_created.connect(_sqlite_pragmas, dispatch_uid="openchargeback-sqlite-pragmas")
