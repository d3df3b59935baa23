from __future__ import annotations

from django.apps import AppConfig


class StatementsConfig(AppConfig):
    name = "statements"
    verbose_name = "Statements"

    def ready(self) -> None:
        from billing import cockpit
        from billing.selectors.readiness import register as register_readiness
        from billing.selectors.reconciliation import register_statements_total
        from billing.services import after_import
        from billing.services.finalize_checks import register
        from statements.cockpit import statements_section
        from statements.selectors import open_dispute_problems, statements_total
        from statements.services.alerts import alerts_after_import
        from statements.services.generate import finalize_check

        register(finalize_check)
        register_statements_total(statements_total)
        register_readiness(open_dispute_problems)  # an open dispute holds its month open
        after_import.register(alerts_after_import)
        cockpit.register(statements_section)
