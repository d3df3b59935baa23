from __future__ import annotations

from django.apps import AppConfig


class StatementsConfig(AppConfig):
    name = "statements"
    verbose_name = "Statements"

    def ready(self) -> None:
        from billing import cockpit
        from billing.services.finalize_checks import register
        from statements.cockpit import statements_section
        from statements.services.generate import finalize_check

        register(finalize_check)
        cockpit.register(statements_section)
