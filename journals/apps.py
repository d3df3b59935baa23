from __future__ import annotations

from django.apps import AppConfig


class JournalsConfig(AppConfig):
    name = "journals"
    verbose_name = "Journals"

    def ready(self) -> None:
        from billing import cockpit
        from billing.selectors.readiness import register as register_readiness
        from billing.services.finalize_checks import register
        from journals.cockpit import journal_section
        from journals.services.export import finalize_check, readiness_check

        register(finalize_check)
        register_readiness(readiness_check)
        cockpit.register(journal_section)
