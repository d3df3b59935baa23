from __future__ import annotations

from django.apps import AppConfig


class JournalsConfig(AppConfig):
    name = "journals"
    verbose_name = "Journals"

    def ready(self) -> None:
        from billing import cockpit
        from billing.services.finalize_checks import register
        from journals.cockpit import journal_section
        from journals.services import finalize_check

        register(finalize_check)
        cockpit.register(journal_section)
