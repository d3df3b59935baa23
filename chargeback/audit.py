"""Actors and the audit trail. Every service that changes state calls `audit_record`."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from django.db import models

from .models import AuditEvent


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
    """An unsaved audit event (for `bulk_create` when a decision covers many objects)."""
    return AuditEvent(
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
