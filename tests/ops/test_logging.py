"""Log lines name their request, person, period and task; every audit event is also logged."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.urls import reverse

from billing.models import BillingPeriod
from chargeback.celery import app as celery_app
from chargeback.logging import ContextFilter, JsonFormatter, PlainFormatter

from .conftest import ROOT


class Lines:
    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    def json(self) -> list[dict]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]


@pytest.fixture
def json_log() -> Iterator[Lines]:
    """What the console would show with LOG_FORMAT=json and LOG_LEVEL=INFO."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("openchargeback")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield Lines(buffer)
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.mark.django_db
def test_an_audit_event_from_the_admin_is_one_json_line_with_request_id_actor_and_period(
    client, finance_admin, run, json_log, django_capture_on_commit_callbacks
):
    run("periods", "open", "2025-01")
    period = BillingPeriod.objects.get(period="2025-01")
    client.force_login(finance_admin)
    url = reverse("admin:billing_billingperiod_move", args=[period.pk, "closed"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"reason": "all in"}, HTTP_X_REQUEST_ID="req-from-proxy-0001")
    assert response.status_code == 302
    assert response["X-Request-ID"] == "req-from-proxy-0001"
    [line] = [e for e in json_log.json() if e["logger"] == "openchargeback.audit"]
    assert line["level"] == "INFO"
    assert line["audit_action"] == "period.closed"
    assert line["request_id"] == "req-from-proxy-0001"
    assert line["actor"] == "finance@example.edu"
    assert line["period"] == "2025-01"
    assert line["object_type"] == "billing.billingperiod" and line["object_id"] == str(period.pk)


@pytest.mark.django_db
def test_every_event_of_a_bulk_decision_is_logged_once_committed(
    finance_admin, run, focus_files, json_log, django_capture_on_commit_callbacks
):
    from tests.conftest import minimal_row, tags

    rows = [minimal_row("1", resource=f"i-{n}", tag_json=tags(pi=None)) for n in range(3)]
    run("ingest", str(focus_files.write("aws-2025-01.csv", rows)), "-s", "aws")
    with django_capture_on_commit_callbacks(execute=True):
        result = run("review", "approve", "-p", "2025-01", "--note", "ok")
    assert result.code == 0, result.err
    approvals = [e for e in json_log.json() if e.get("audit_action") == "charge.approve"]
    assert len(approvals) == 3
    assert {e["period"] for e in approvals} == {"2025-01"}
    assert all(e["actor"].startswith("cli:") for e in approvals)


@pytest.mark.django_db
def test_an_audit_event_rolled_back_with_its_transaction_is_not_logged(
    finance_admin, json_log, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from chargeback.audit import Actor, audit_record

    # The commit callbacks run here as they would outside a test: a committed event is logged...
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        audit_record(actor=Actor.cli(), action="test.kept")
    assert [e.get("audit_action") for e in json_log.json()] == ["test.kept"]
    # ...and one rolled back with its transaction is not.
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=Actor.cli(), action="test.nothing")
        raise RuntimeError("the change failed")
    assert [e.get("audit_action") for e in json_log.json()] == ["test.kept"]


def test_a_request_id_that_could_forge_log_lines_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad\nid injected=1")
    assert response["X-Request-ID"] != "bad\nid injected=1"
    assert len(response["X-Request-ID"]) == 32


@celery_app.task(name="tests.ops.log_something")
def log_something(statement_id: int) -> None:
    logging.getLogger("openchargeback.tasks").info("generated", extra={"statement_id": statement_id})


def test_task_log_lines_carry_the_task_id_and_the_ids_the_task_gives(json_log):
    result = log_something.apply(args=[42])
    [line] = json_log.json()
    assert line["task_id"] == result.id
    assert line["task_name"] == "tests.ops.log_something"
    assert line["statement_id"] == 42


def test_the_plain_format_appends_the_context_and_keeps_tracebacks_below():
    formatter = PlainFormatter()
    record = logging.LogRecord("openchargeback.x", logging.ERROR, __file__, 1, "failed", (), None)
    record.request_id, record.actor, record.period = "abc", "finance@example.edu", ""
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    first, *rest = formatter.format(record).splitlines()
    assert first.endswith("ERROR openchargeback.x failed request_id=abc actor=finance@example.edu")
    assert rest[0].startswith("Traceback") and rest[-1] == "ValueError: boom"


def test_with_log_format_json_a_command_writes_one_json_object_per_line(sqlite_site):
    sqlite_site.extra_env.update(LOG_FORMAT="json", LOG_LEVEL="INFO")
    result = sqlite_site.run("ingest", "-s", "aws", str(ROOT / "fixtures" / "focus" / "aws-2025-01.csv"))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # every line is JSON
    [audit] = [e for e in lines if e.get("audit_action") == "batch.import"]
    assert audit["logger"] == "openchargeback.audit" and audit["level"] == "INFO"
    assert audit["actor"].startswith("cli:") and audit["period"] == "2025-01"
    assert audit["object_type"] == "billing.importbatch"


def test_an_unknown_log_format_is_refused_at_start_up(sqlite_site):
    sqlite_site.extra_env.update(LOG_FORMAT="xml")
    result = sqlite_site.run("periods", "list")
    assert result.returncode == 2
    assert result.stderr.strip() == "openchargeback: configuration error: LOG_FORMAT='xml' is not plain or json"
