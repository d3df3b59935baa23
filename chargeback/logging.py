"""Log lines that say which request, person, period and task they belong to.

`LOG_FORMAT=plain` (the default) writes one readable line per event with the context appended
(`request_id=… actor=… task_id=…`); `LOG_FORMAT=json` writes one JSON object per line for a log
collector. The context comes from `chargeback.middleware.RequestContextMiddleware` (request id,
signed-in person), from Celery (task id and name) and from `extra={...}` given by the caller
(`period`, `statement_id`, …).
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.utils.functional import empty

request_id_var: ContextVar[str] = ContextVar("openchargeback_request_id", default="")
request_var: ContextVar[Any] = ContextVar("openchargeback_request", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` or a filter.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_CONTEXT = ("request_id", "actor", "period", "task_id", "task_name")


def _actor_of(request: Any) -> str:
    """The signed-in person, but only if the request already loaded them (logging never queries)."""
    user = getattr(request, "user", None)
    if user is None:
        return ""
    if getattr(user, "_wrapped", None) is empty:  # a lazy user nobody has looked at yet
        return ""
    if not getattr(user, "is_authenticated", False):
        return ""
    return str(getattr(user, "email", "") or user.get_username())


def _current_task() -> Any:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    task = current_task
    return task if task is not None and getattr(task, "request", None) is not None and task.request.id else None


class ContextFilter(logging.Filter):
    """Adds request_id, actor, task_id and task_name to every record (empty when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id_var.get()
        if not getattr(record, "actor", ""):
            request = request_var.get()
            record.actor = _actor_of(request) if request is not None else ""
        if not getattr(record, "task_id", ""):
            task = _current_task()
            record.task_id = task.request.id if task is not None else ""
            record.task_name = task.name if task is not None else ""
        if not hasattr(record, "period"):
            record.period = ""
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class PlainFormatter(logging.Formatter):
    """`2025-02-03 10:00:00,123 INFO name message request_id=… actor=…` (empty context left out)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{k}={v}" for k, v in _extras(record).items() if v not in ("", None))
        if not context:
            return line
        first, sep, rest = line.partition("\n")  # a traceback stays below the line it belongs to
        return f"{first} {context}{sep}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT:
            data[key] = getattr(record, key, "") or None
        for key, value in _extras(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def logging_config(*, level: str, fmt: str) -> dict[str, Any]:
    """The LOGGING setting. Celery is told to leave it alone (chargeback.celery)."""
    formatter = {"json": "chargeback.logging.JsonFormatter", "plain": "chargeback.logging.PlainFormatter"}[fmt]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "chargeback.logging.ContextFilter"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers would print a second copy of request errors (and mail admins).
            "django": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
