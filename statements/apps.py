from __future__ import annotations

from django.apps import AppConfig


class StatementsConfig(AppConfig):
    name = "statements"
    verbose_name = "Statements"

    def ready(self) -> None:
        from billing.services.finalize_checks import register
        from statements.services.generate import finalize_check

        register(finalize_check)
