"""Actors and the audit trail. Every service that changes state calls `audit_record`."""

from __future__ import annotations

import functools
import getpass
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest

from .logging import request_id_var
from .models import AuditEvent

P = ParamSpec("P")

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


def actor_for(request: HttpRequest) -> Actor:
    """The signed-in person behind an admin or portal request, with their address."""
    return Actor.for_user(request.user, source_ip=request.META.get("REMOTE_ADDR"))


def audit_build(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    month: str = "",
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
        period=month,
        before=before,
        after=after,
    )
    if log.isEnabledFor(logging.INFO):
        # The request id is taken now: the commit may come after the request's context is gone.
        request_id = request_id_var.get()
        transaction.on_commit(lambda: _log(event, request_id))
    return event


def _saved(build: Callable[P, AuditEvent]) -> Callable[P, AuditEvent]:
    @functools.wraps(build)
    def record(*args: P.args, **kwargs: P.kwargs) -> AuditEvent:
        event = build(*args, **kwargs)
        event.save()
        return event

    record.__name__ = record.__qualname__ = "audit_record"  # its signature stays audit_build's (__wrapped__)
    record.__doc__ = "Record an audit event now: `audit_build`'s arguments, saved at once."
    return record


audit_record = _saved(audit_build)


# -- edits people make to rules and master data -------------------------------------------------


def _fields(obj: models.Model) -> dict[str, Any]:
    data = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if not f.primary_key}
    # A file field records the stored file's name.
    data = {k: (v.name or "") if isinstance(v, FieldFile) else v for k, v in data.items()}
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def record_save(*, obj: models.Model, actor: Actor) -> None:
    """Save a rule or master-data record a person edited (admin form), with an audit event.

    The event names the model and what changed: `flagpattern.add`, `pi.change` … with the
    changed fields before and after.
    """
    model = type(obj)
    with transaction.atomic():
        adding = obj._state.adding or obj.pk is None
        stored = None if adding else model._default_manager.filter(pk=obj.pk).first()
        before = _fields(stored) if stored is not None else None
        obj.save()
        after = _fields(obj)
        if before is not None:
            changed = [k for k in after if before.get(k) != after[k]]
            if not changed:
                return
            before = {k: before.get(k) for k in changed}
            after = {k: after[k] for k in changed}
        verb = "add" if before is None else "change"
        audit_record(actor=actor, action=f"{model._meta.model_name}.{verb}", obj=obj, before=before, after=after)


def record_delete(*, obj: models.Model, actor: Actor) -> None:
    """Delete a rule or master-data record (admin), keeping its last content in the audit event."""
    with transaction.atomic():
        before = _fields(obj)
        audit_record(actor=actor, action=f"{obj._meta.model_name}.delete", obj=obj, before=before)
        obj.delete()


def records_imported(*, model: type[models.Model], actor: Actor, totals: dict[str, int], file_name: str) -> None:
    """One audit event for a spreadsheet import of master data (admin import-export)."""
    audit_record(
        actor=actor, action=f"{model._meta.model_name}.import",
        after={"file": file_name, **{k: v for k, v in totals.items() if v}},
    )  # fmt: skip


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
