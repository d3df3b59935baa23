"""Who may see what on the portal: a signed-in user's grants, as query filters.

A PI sees everything of their own PI record; a delegate sees what each delegation granted (all
of a PI's projects, or some). Every portal query is filtered through `Access`, and an object
outside it is a 404, so no one learns that another PI's statement exists by changing an id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from allauth.account.models import EmailAddress
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from billing.models import PI, Project
from statements.models import PortalDelegate


@dataclass(frozen=True)
class Grant:
    """Read access to one PI's data: all projects (`project_ids` None) or these projects."""

    pi_id: int
    project_ids: frozenset[int] | None = None

    def q(self, pi_field: str, project_field: str) -> Q:
        q = Q(**{pi_field: self.pi_id})
        if self.project_ids is not None:
            q &= Q(**{f"{project_field}__in": sorted(self.project_ids)})
        return q


@dataclass
class Access:
    user_id: int | None
    own_pi: PI | None = None
    grants: list[Grant] = field(default_factory=list)
    pis: dict[int, PI] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return bool(self.grants)

    @property
    def is_delegate(self) -> bool:
        return any(g.pi_id != (self.own_pi.pk if self.own_pi else None) for g in self.grants)

    def _q(self, pi_field: str, project_field: str) -> Q:
        if not self.grants:
            return Q(pk__in=[])
        q = Q()
        for grant in self.grants:
            q |= grant.q(pi_field, project_field)
        return q

    def charges_q(self) -> Q:
        return self._q("pi_id", "project_id")

    def statements_q(self) -> Q:
        return self._q("pi_id", "project_id")

    def projects_q(self) -> Q:
        return self._q("pi_id", "pk")


def access_for(user: AbstractBaseUser | AnonymousUser) -> Access:
    """The grants of a signed-in user: their own PI record, then the delegations to their verified addresses."""
    if not user.is_authenticated or not user.is_active:
        return Access(user_id=None)
    access = Access(user_id=user.pk)
    own = PI.objects.filter(user_id=user.pk).first()
    if own is not None:
        access.own_pi = own
        access.pis[own.pk] = own
        access.grants.append(Grant(own.pk))
    verified = EmailAddress.objects.filter(user=user, verified=True).values("email")
    delegations = (
        PortalDelegate.objects.filter(email__in=verified).exclude(pi=own).select_related("pi").order_by("pi__email")
    )
    partial: list[PortalDelegate] = []
    for d in delegations:
        access.pis[d.pi_id] = d.pi
        if d.all_projects:
            access.grants.append(Grant(d.pi_id))
        else:
            partial.append(d)
    if partial:
        # Only projects that still belong to the delegating PI.
        rows = Project.objects.filter(portal_delegates__in=partial).values_list("portal_delegates__pk", "pk", "pi_id")
        by_delegation: dict[int, set[int]] = {}
        for delegation_id, project_id, pi_id in rows:
            by_delegation.setdefault(delegation_id, set())
            if pi_id == next(d.pi_id for d in partial if d.pk == delegation_id):
                by_delegation[delegation_id].add(project_id)
        for d in partial:
            ids = by_delegation.get(d.pk)
            if ids:
                access.grants.append(Grant(d.pi_id, frozenset(ids)))
    return access
