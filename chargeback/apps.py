from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.backends.signals import connection_created


def _sqlite_pragmas(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        # WAL: readers are not blocked by an import; NORMAL is durable across app crashes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-65536")


class ChargebackAdminConfig(AdminConfig):
    """The Django admin with OpenChargeback's site (dashboard index, finance workspace)."""

    default_site = "chargeback.admin_site.ChargebackAdminSite"


class ChargebackConfig(AppConfig):
    name = "chargeback"
    verbose_name = "OpenChargeback"

    def ready(self) -> None:
        from django.conf import settings

        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        connection_created.connect(_sqlite_pragmas, dispatch_uid="openchargeback-sqlite-pragmas")
