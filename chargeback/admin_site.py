"""The admin site: the finance workspace. Its index page is the billing dashboard."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse


class ChargebackAdminSite(admin.AdminSite):
    site_header = "OpenChargeback"
    site_title = "OpenChargeback"
    index_title = "Billing"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        from chargeback.dashboard import dashboard_context

        context = {**dashboard_context(request), **(extra_context or {})}
        return super().index(request, extra_context=context)
