from __future__ import annotations

from django.apps import AppConfig


class StatementsConfig(AppConfig):
    name = "statements"
    verbose_name = "Statements"

    def ready(self) -> None:
        from billing.services import after_import, close_checks
        from billing.services.finalize_checks import register
        from statements.services.alerts import alerts_after_import
        from statements.services.disputes import dispute_close_check
        from statements.services.generate import finalize_check

        register(finalize_check)
        close_checks.register(dispute_close_check)  # a readiness blocker too: open disputes
        after_import.register(alerts_after_import)
