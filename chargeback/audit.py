"""Actors and the audit trail. Every service that changes state calls `audit_record`."""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction

from .logging import request_id_var
from .models import AuditEvent

log = logging.getLogger("openchargeback.audit")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, or the command line (`cli:<os user>`)."""

    label: str
    user_id: int | None = None
    source_ip: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        try:
            name = getpass.getuser()
        except Exception:  # pragma: no cover - no passwd entry in some containers
            name = "unknown"
        return cls(label=f"cli:{name}")

    @classmethod
    def for_user(cls, user: Any, source_ip: str | None = None) -> Actor:
        return cls(label=user.email or user.get_username(), user_id=user.pk, source_ip=source_ip)

    @classmethod
    def system(cls, what: str) -> Actor:
        return cls(label=f"system:{what}")


def audit_record(**kwargs: Any) -> AuditEvent:
    event = audit_build(**kwargs)
    event.save()
    return event


def audit_build(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    period: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """An unsaved audit event (for `bulk_create` when a decision covers many objects).

    The caller saves it in the same transaction; once that commits, the event is also logged.
    """
    event = AuditEvent(
        actor=actor.label,
        user_id=actor.user_id,
        source_ip=actor.source_ip,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:300] if obj is not None else "",
        period=period,
        before=before,
        after=after,
    )
    if log.isEnabledFor(logging.INFO):
        # The request id is taken now: the commit may come after the request's context is gone.
        request_id = request_id_var.get()
        transaction.on_commit(lambda: _log(event, request_id))
    return event


def _log(event: AuditEvent, request_id: str) -> None:
    target = f"{event.object_type} {event.object_id}" if event.object_type else "-"
    log.info(
        "audit %s %s by %s",
        event.action,
        target,
        event.actor,
        extra={
            "request_id": request_id,
            "actor": event.actor,
            "period": event.period,
            "audit_action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "source_ip": event.source_ip,
        },
    )
