"""The dashboard shown on the admin index page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    return {}
