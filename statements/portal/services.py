"""Delegations: a PI (on the portal) or a finance admin (in the admin) shares read access."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from billing.models import PI, Project
from chargeback.audit import Actor, audit_record
from chargeback.errors import DelegationError
from statements.models import PortalDelegate


def _snapshot(d: PortalDelegate) -> dict[str, object]:
    return {
        "email": d.email,
        "all_projects": d.all_projects,
        "projects": sorted(d.projects.values_list("code", flat=True)),
        "note": d.note,
    }


def _check(pi: PI, email: str, all_projects: bool, projects: Iterable[Project]) -> list[Project]:
    chosen = list(projects)
    if any(p.pi_id != pi.pk for p in chosen):
        raise DelegationError("only the PI's own projects can be shared")
    if not all_projects and not chosen:
        raise DelegationError("choose all projects or at least one project")
    if email.strip().lower() == pi.email:
        raise DelegationError("a PI already sees their own projects")
    return [] if all_projects else chosen


def delegate_grant(
    *, pi: PI, email: str, all_projects: bool, projects: Iterable[Project] = (), note: str = "", actor: Actor
) -> PortalDelegate:
    """Give `email` read access to all of the PI's projects or to the chosen ones."""
    chosen = _check(pi, email, all_projects, projects)
    try:
        with transaction.atomic():
            d = PortalDelegate.objects.create(
                pi=pi, email=email, all_projects=all_projects, note=note, created_by=actor.label
            )
            d.projects.set(chosen)
            audit_record(actor=actor, action="portal.delegate_grant", obj=d, after=_snapshot(d))
    except IntegrityError:
        raise DelegationError(f"{email.strip().lower()} is already a delegate of {pi.email}") from None
    return d


def delegate_update(
    *, delegate: PortalDelegate, all_projects: bool, projects: Iterable[Project] = (), note: str = "", actor: Actor
) -> PortalDelegate:
    chosen = _check(delegate.pi, delegate.email, all_projects, projects)
    with transaction.atomic():
        before = _snapshot(delegate)
        delegate.all_projects = all_projects
        delegate.note = note
        delegate.save(update_fields=["all_projects", "note"])
        delegate.projects.set(chosen)
        audit_record(
            actor=actor, action="portal.delegate_update", obj=delegate, before=before, after=_snapshot(delegate)
        )
    return delegate


def delegate_revoke(*, delegate: PortalDelegate, actor: Actor) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="portal.delegate_revoke", obj=delegate, before=_snapshot(delegate))
        delegate.delete()
