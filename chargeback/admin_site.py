"""The admin site: the finance workspace. Its index page is the billing dashboard; its menu (the
index and the side menu) follows the month (chargeback.navigation); it adds the settings page and
the finance pages of a project and of a PI.

Signing in goes through django-allauth (email sign-in, rate-limited failures): the admin's own
login form is never shown, so it cannot be used to get around those limits. The admin's "Log out"
button still uses the admin's view, which then goes to allauth's page (LOGOUT_REDIRECT_URL).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache


class ChargebackAdminSite(admin.AdminSite):
    site_header = "OpenChargeback"
    site_title = "OpenChargeback"
    index_title = "Billing"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        """The menu in the order of the month (chargeback.navigation); one app's page stays Django's."""
        if app_label is not None:
            return super().get_app_list(request, app_label)
        from billing.admin.settings_page import may_open_settings
        from billing.selectors.figures import open_flagged_count
        from chargeback.navigation import Link, arrange

        user = request.user
        links = [Link("overview", "Dashboard", reverse("admin:index", current_app=self.name), "dashboard", exact=True)]
        if user.has_perm("billing.import_charges"):
            links.append(Link("import", "Import files", reverse("admin:billing_importbatch_import"), "import-files"))
        if may_open_settings(request):
            links.append(Link("rules", "Settings", reverse("admin:ocb_settings"), "settings"))
        badges = {"billing.charge": open_flagged_count()} if user.has_perm("billing.view_charge") else {}
        return arrange(self._build_app_dict(request).values(), links=links, badges=badges, path=request.path)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        from billing.admin.settings_page import settings_view
        from statements.finance import pi_finance_view, project_finance_view

        own = [
            path("settings/", self.admin_view(settings_view), name="ocb_settings"),
            path("finance/projects/<int:pk>/", self.admin_view(project_finance_view), name="ocb_project_finance"),
            path("finance/pis/<int:pk>/", self.admin_view(pi_finance_view), name="ocb_pi_finance"),
        ]
        return own + super().get_urls()

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        from chargeback.dashboard import dashboard_context

        context = {**dashboard_context(request), **(extra_context or {})}
        return super().index(request, extra_context=context)

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Send visitors to allauth's sign-in page, keeping where they were going.

        A POST is redirected too (its credentials dropped), never checked here. Someone signed in
        without admin access gets a page that says so instead of a sign-in page that would send
        them straight back (allauth redirects a signed-in visitor to `next`, which is here).
        """
        next_url = self._next_url(request)
        if request.user.is_authenticated:
            if self.has_permission(request):
                return HttpResponseRedirect(next_url)
            context = {
                **self.each_context(request),
                "title": "Not authorized",
                "subtitle": None,
                "username": request.user.get_username(),
                "next": next_url,
                **(extra_context or {}),
            }
            request.current_app = self.name
            return TemplateResponse(request, self.login_template or "admin/login.html", context, status=403)
        query = QueryDict(mutable=True)
        query[REDIRECT_FIELD_NAME] = next_url
        return HttpResponseRedirect(f"{reverse('account_login')}?{query.urlencode(safe='/')}")

    def _next_url(self, request: HttpRequest) -> str:
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        safe = url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return next_url if next_url and safe else reverse("admin:index", current_app=self.name)
