"""PIs and their projects, created on first sight during import and edited in the admin."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PI(models.Model):
    email = models.EmailField(unique=True, help_text="Stored lower-case")
    name = models.CharField(max_length=200, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="pi"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        verbose_name = "PI"
        verbose_name_plural = "PIs"

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    def save(self, *args: object, **kwargs: object) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class Project(models.Model):
    code = models.CharField(max_length=200, unique=True, help_text="The project_id tag")
    pi = models.ForeignKey(PI, null=True, blank=True, on_delete=models.PROTECT, related_name="projects")
    title = models.CharField(max_length=300, blank=True)
    fund_org = models.CharField(max_length=100, blank=True, help_text="Default fund/org")
    active = models.BooleanField(default=True)
    fund_end_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code
