"""`/healthz` (the process answers) and `/readyz` (it can reach its database and broker).

Both answer anyone (load balancers and container health checks do not sign in), so they say
only "ok" or "unavailable" per check: never a host name, a version or an error text. What went
wrong is logged on the server.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger("openchargeback.health")
BROKER_TIMEOUT_SECONDS = 3


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: answers without touching the database or the broker."""
    return JsonResponse({"status": "ok"})


def database_ok() -> bool:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        log.exception("readiness: the database is unreachable")
        return False
    return True


def broker_ok() -> bool:
    """The Celery broker accepts a connection (True when tasks run in-process: there is none)."""
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception:
        log.exception("readiness: the Celery broker is unreachable")
        return False
    return True


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database and the broker answer, 503 otherwise."""
    checks = {
        "database": "ok" if database_ok() else "unavailable",
        "broker": "not used" if settings.CELERY_TASK_ALWAYS_EAGER else ("ok" if broker_ok() else "unavailable"),
    }
    ready = "unavailable" not in checks.values()
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
