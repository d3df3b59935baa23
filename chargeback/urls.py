from django.contrib import admin
from django.urls import include, path

from chargeback import health
from chargeback.front_door import front_door
from statements.portal.accounts import email_addresses_page

# Every app's admin module registers its models here, not at start-up (see chargeback.apps).
admin.autodiscover()

urlpatterns = [
    path("", front_door, name="front_door"),
    # Health checks for load balancers and containers (no sign-in; they reveal nothing).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # Nobody adds or changes the addresses of their own account (statements.portal.accounts).
    path("accounts/email/", email_addresses_page, name="account_email"),
    # Sign-in, sign-out, password reset and two-factor set-up (django-allauth, /accounts/2fa/);
    # signup is closed by the adapter.
    path("accounts/", include("allauth.urls")),
    # The read-only PI portal (statements, charges, projects, delegates).
    path("portal/", include("statements.portal.urls")),
]
# Stored files (imported originals, uploads being previewed) are never served as plain media:
# they are downloaded through permission-checked views.
