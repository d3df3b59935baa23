from __future__ import annotations

from django.apps import AppConfig


class StatementsConfig(AppConfig):
    name = "statements"
    verbose_name = "Statements"

    def ready(self) -> None:
        from billing.selectors.reconciliation import register_statements_total
        from billing.services.finalize_checks import register
        from statements.selectors import statements_total
        from statements.services.generate import finalize_check

        register(finalize_check)
        register_statements_total(statements_total)
