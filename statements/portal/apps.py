from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The portal's views, tables and admin; its one model (PortalDelegate) lives in statements."""

    name = "statements.portal"
    label = "portal"
    verbose_name = "PI portal"

    def ready(self) -> None:
        # The sign-in signal handlers that link an account to its PI record.
        import statements.portal.accounts  # noqa: F401
