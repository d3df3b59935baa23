from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # Sign-in, sign-out and password reset (django-allauth); signup is closed by the adapter.
    path("accounts/", include("allauth.urls")),
]

if settings.DEBUG:  # pragma: no cover - development convenience
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
