from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.services.finalize_checks import register
        from billing.services.invoices import invoices_finalize_check

        register(invoices_finalize_check)
