"""Request context for the logs, the Content-Security-Policy header, the upload size limit and a
friendly 503 while SQLite is busy with another writer."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse

from .busy import RETRY_AFTER_SECONDS, database_busy
from .logging import request_id_var, request_var

# A request id given by the reverse proxy is kept only if it cannot smuggle anything into a log.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


class RequestContextMiddleware:
    """Gives every request an id (`X-Request-ID`, kept from the proxy when sane) for its log lines."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        id_token = request_id_var.set(request_id)
        request_token = request_var.set(request)
        try:
            response = self.get_response(request)
        finally:
            request_var.reset(request_token)
            request_id_var.reset(id_token)
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    """Sets `Content-Security-Policy` (settings.CONTENT_SECURITY_POLICY) unless a view set its own.

    Django 5.2 has no CSP support of its own. Our pages load scripts only from our static files,
    so the policy allows no inline script.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = "; ".join(
            f"{directive} {' '.join(sources)}".strip()
            for directive, sources in settings.CONTENT_SECURITY_POLICY.items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


class UploadLimitMiddleware:
    """Refuses a request body over OPENCHARGEBACK_MAX_UPLOAD_BYTES before anything reads it.

    An upload to the import page is sent back to that page, which says why; any other request
    gets a plain 413. (The reverse proxy should have the same limit: `client_max_body_size`.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= settings.OPENCHARGEBACK_MAX_UPLOAD_BYTES:
            return self.get_response(request)
        import_url = reverse("admin:billing_importbatch_import")
        if request.path == import_url:
            return HttpResponseRedirect(f"{import_url}?too_large={length}", status=303)
        return HttpResponse(
            f"The request is {length} bytes, over the limit of {settings.OPENCHARGEBACK_MAX_UPLOAD_BYTES}.",
            status=413,
            content_type="text/plain; charset=utf-8",
        )


class DatabaseBusyMiddleware:
    """A request that found the database locked by another writer (a long SQLite import) gets a
    503 page that says so, with Retry-After, instead of a server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_busy(exception):
            return None
        response = HttpResponse(
            render_to_string("database_busy.html", {"retry_after": RETRY_AFTER_SECONDS}), status=503
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
