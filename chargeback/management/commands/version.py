from __future__ import annotations

import platform
from typing import Any

import django
from django.db import connection

from chargeback.command import ChargebackCommand
from chargeback.system_info import product_version


class Command(ChargebackCommand):
    help = "Print the OpenChargeback version, the Python and Django versions and the database in use."

    def handle(self, *args: Any, **options: Any) -> None:
        db = connection.settings_dict
        engine = connection.vendor
        where = str(db["NAME"]) if engine == "sqlite" else f"{db.get('HOST') or 'localhost'}/{db['NAME']}"
        data = {
            "openchargeback": product_version(),
            "python": platform.python_version(),
            "django": django.get_version(),
            "database": engine,
            "database_name": where,
        }
        text = (
            f"OpenChargeback {data['openchargeback']}\n"
            f"Python {data['python']}\n"
            f"Django {data['django']}\n"
            f"Database {engine} ({where})"
        )
        self.emit(options, data, text)
