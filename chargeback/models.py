"""Cross-cutting models: the audit trail and the organization's settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Append-only record of every state change: who, what, on which object, before and after."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=200, help_text="User email, or cli:<os user> for the command line")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    period = models.CharField(max_length=7, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("audit events are append-only")


class Organization(models.Model):
    """The one organization this installation bills for: branding and billing defaults."""

    name = models.CharField(max_length=200, default="Research Computing")
    expected_currency = models.CharField(
        max_length=3, default="USD", help_text="ISO 4217 code; charges in another currency are flagged"
    )
    address = models.TextField(blank=True, help_text="Postal address, shown under the name at the top of statements")
    contact_name = models.CharField(
        max_length=200, blank=True, help_text="Who answers questions about statements, e.g. Research Computing Billing"
    )
    contact_email = models.EmailField(
        blank=True, help_text="Shown on statements for questions; replies to statement emails go here"
    )
    contact_phone = models.CharField(max_length=50, blank=True)
    website = models.URLField(blank=True)
    logo = models.FileField(upload_to="branding/", blank=True, help_text="PNG or JPEG shown at the top of statements")
    payment_instructions = models.TextField(
        blank=True, help_text="How the amount due is paid, e.g. the journal transfer that will be made"
    )
    footer_text = models.TextField(
        blank=True, help_text="Printed at the foot of every statement page; a line or two (longer text is cut)"
    )
    statement_email_subject = models.CharField(
        max_length=200,
        blank=True,
        default="{organization} statement for {period}: {amount_due}",
        help_text="Variables: {organization} {period} {pi_name} {pi_email} {amount_due} {projects}",
    )
    pis_set_budgets = models.BooleanField(
        default=False, help_text="PIs may set the budgets and alert thresholds of their own projects on the portal"
    )
    statement_email_intro = models.TextField(
        blank=True,
        default="Please find attached your research computing statements for {period}.",
        help_text="First paragraph of the statement email; same variables as the subject",
    )

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current(cls) -> Organization:
        org = cls.objects.order_by("pk").first()
        return org if org is not None else cls.objects.create()
