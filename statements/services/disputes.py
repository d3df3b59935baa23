"""Disputes: a PI or delegate objects to charges of the open month; a reviewer resolves them.

Raising a dispute flags its charges `disputed` through billing's own service (billing owns the
charges): they leave the statements' figures for *flagged* and show in the review queue with the
comment. The reviewer resolves it (approve as is, fix the attribution, reject) with a reply that
the PI sees on the charge and receives by email (a notice, exactly once). While a dispute is open
its month cannot close (`statements.selectors.open_dispute_problems`, a readiness blocker
registered in statements' AppConfig.ready()).
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from billing.models import Project
from billing.services.charge_flags import DISPUTED, charges_flag, charges_unflag
from billing.services.review import charges_approve, charges_reattribute, charges_reject
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError
from chargeback.text import control_character_message
from statements.models import Dispute, Notice
from statements.portal.access import Access
from statements.portal.open_month import disputable_charges, open_disputes, reviewer_emails
from statements.services.notices import notice_queue

Outcome = Dispute.Outcome


def dispute_raise(
    *, access: Access, project: Project, comment: str, actor: Actor, charge_ids: list[int] | None = None,
    service_name: str | None = None,
) -> Dispute:  # fmt: skip
    """Dispute charges (by id) or a whole service line of `project` in the open month."""
    comment = comment.strip()
    if not comment:
        raise BillingError("say what is wrong with the charges: a dispute needs a comment")
    if len(comment) > 2000:
        raise BillingError("keep the comment under 2,000 characters")
    if not charge_ids and not service_name:
        raise BillingError("choose a charge or a service line to dispute")
    with transaction.atomic():
        qs = disputable_charges(access, project)
        if charge_ids:
            charges = list(qs.filter(pk__in=charge_ids).select_related("period"))
            if len(charges) != len(set(charge_ids)):
                raise BillingError("only charges of your projects in the open month can be disputed")
        else:
            charges = list(qs.filter(service_name=service_name).select_related("period"))
            if not charges:
                raise BillingError(f"no charges of {service_name!r} in {project.code} this month to dispute")
        taken = sorted(
            Dispute.charges.through.objects.filter(
                charge_id__in=[c.pk for c in charges], dispute__status=Dispute.Status.OPEN
            ).values_list("charge_id", flat=True)
        )
        if taken:
            raise BillingError(
                f"charge {', '.join(map(str, taken))} is already disputed; wait for the reviewer's reply"
            )
        if project.pi_id is None:
            raise BillingError(f"project {project.code} has no PI to answer a dispute")
        period = charges[0].period
        dispute = Dispute.objects.create(
            period=period, project=project, pi_id=project.pi_id, service_name=service_name or "", comment=comment,
            raised_by=actor.label, user_id=actor.user_id,
        )  # fmt: skip
        dispute.charges.set(charges)
        charges_flag(ids=[c.pk for c in charges], reason=DISPUTED, actor=actor, note=comment)
        audit_record(
            actor=actor, action="dispute.raise", obj=dispute, month=period.period,
            after={"project": project.code, "charges": [c.pk for c in charges], "comment": comment},
        )  # fmt: skip
    return dispute


def dispute_resolve(
    *, dispute_id: int, outcome: str, reply: str, actor: Actor, pi_email: str | None = None,
    project_code: str | None = None, fund_org: str | None = None,
) -> Dispute:  # fmt: skip
    """Resolve an open dispute: approve its charges as they are, fix their attribution, or reject them."""
    reply = reply.strip()
    if outcome not in Outcome.values:
        raise BillingError(f"unknown outcome {outcome!r} (choose from {', '.join(Outcome.values)})")
    if not reply:
        raise BillingError("resolving a dispute needs a reply to the PI")
    problem = control_character_message(reply.replace("\n", " ").replace("\r", " ").replace("\t", " "))
    if problem:
        raise BillingError(f"the reply {problem}")
    with transaction.atomic():
        dispute = Dispute.objects.select_for_update().select_related("period", "project", "pi").get(pk=dispute_id)
        if dispute.status != Dispute.Status.OPEN:
            raise BillingError(f"dispute {dispute.pk} is already resolved")
        ids = sorted(dispute.charges.filter(active=True).values_list("pk", flat=True))
        if ids:
            if outcome == Outcome.APPROVE:
                charges_approve(ids=ids, actor=actor, note=reply)
                charges_unflag(ids=ids, reason=DISPUTED, actor=actor)
            elif outcome == Outcome.REJECT:
                charges_reject(ids=ids, actor=actor, note=reply)
                charges_unflag(ids=ids, reason=DISPUTED, actor=actor)
            else:
                charges_unflag(ids=ids, reason=DISPUTED, actor=actor)
                charges_reattribute(
                    ids=ids, actor=actor, reason=reply, pi_email=pi_email or None, project_code=project_code or None,
                    fund_org=fund_org or None,
                )  # fmt: skip
        dispute.status, dispute.outcome, dispute.reply = Dispute.Status.RESOLVED, outcome, reply
        dispute.resolved_by, dispute.resolved_at = actor.label, timezone.now()
        dispute.save(update_fields=["status", "outcome", "reply", "resolved_by", "resolved_at"])
        audit_record(
            actor=actor, action="dispute.resolve", obj=dispute, month=dispute.period.period,
            before={"status": Dispute.Status.OPEN}, after={"outcome": outcome, "reply": reply, "charges": ids},
        )  # fmt: skip
        recipients = {dispute.pi.email}
        if "@" in dispute.raised_by:
            recipients.add(dispute.raised_by.lower())
        for email in sorted(recipients):
            notice_queue(
                key=f"dispute-resolved:{dispute.pk}:{email}", kind=Notice.Kind.DISPUTE_RESOLVED, recipient=email,
                template="statements/notices/dispute_resolved.txt",
                context={"dispute": dispute, "charges": len(ids)},
            )  # fmt: skip
    return dispute


def dispute_digest_queue(*, today: date | None = None) -> list[Notice]:
    """One email a day to each reviewer while disputes are open; none on a day one was already written."""
    today = today or timezone.localdate()
    disputes = list(open_disputes().select_related("project", "period").order_by("created_at"))
    if not disputes:
        return []
    written = []
    with transaction.atomic():
        for email in reviewer_emails():
            notice = notice_queue(
                key=f"dispute-digest:{email}:{today:%Y-%m-%d}", kind=Notice.Kind.DISPUTE_DIGEST, recipient=email,
                template="statements/notices/dispute_digest.txt", context={"disputes": disputes, "today": today},
            )  # fmt: skip
            if notice is not None:
                written.append(notice)
    return written
