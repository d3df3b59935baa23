from __future__ import annotations

from django.apps import AppConfig


class JournalsConfig(AppConfig):
    name = "journals"
    verbose_name = "Journals"

    def ready(self) -> None:
        from billing.services.finalize_checks import register
        from journals.services import finalize_check

        register(finalize_check)
