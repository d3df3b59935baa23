"""`/healthz` says the process answers; `/readyz` says it can reach its database and broker."""

from __future__ import annotations

import pytest
import redis
from django.db import connections

BROKER = "redis://127.0.0.1:6379/2"


def test_healthz_answers_without_touching_the_database(client):
    # No database access is allowed in this test (no `db` fixture): any query would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_answers_and_tasks_run_in_process(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "not used"}}


@pytest.mark.django_db
def test_readyz_checks_a_configured_broker(client, settings, in_ci):
    try:
        redis.Redis.from_url(BROKER, socket_timeout=2).ping()
    except redis.RedisError:
        if in_ci:
            raise
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = BROKER, False
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_down_and_reveals_nothing(client, settings):
    settings.CELERY_BROKER_URL = "redis://:s3cret-password@127.0.0.1:1/0"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "unavailable"}}
    body = response.content.decode()
    for secret in ("127.0.0.1", "s3cret", "redis", "refused", "Error"):
        assert secret not in body


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_is_down(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise ConnectionError("connection to server at db:5432 failed: password authentication failed")

    monkeypatch.setattr(connections["default"], "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"
    assert b"5432" not in response.content and b"password" not in response.content


def test_the_health_checks_answer_over_plain_http_when_https_is_enforced(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/login/").status_code == 301


def test_the_health_checks_refuse_to_change_anything(client):
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200
