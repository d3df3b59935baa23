"""Review decisions on charges: approve, reject. Append-only records and audit rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from billing.models import BillingPeriod, Charge, ReviewDecision
from billing.selectors.funding import OUTSIDE_AWARD, FundingMap, charge_day
from chargeback.audit import Actor, audit_build
from chargeback.errors import BillingError
from chargeback.models import AuditEvent
from chargeback.money import ZERO
from chargeback.text import control_character_message

State = Charge.ReviewState
# Which review states a decision may start from.
ALLOWED_FROM = {
    ReviewDecision.Decision.APPROVE: {State.FLAGGED, State.REJECTED},
    ReviewDecision.Decision.REJECT: {State.FLAGGED, State.APPROVED, State.OK},
}
TARGET = {ReviewDecision.Decision.APPROVE: State.APPROVED, ReviewDecision.Decision.REJECT: State.REJECTED}


@dataclass
class ReviewResult:
    decision: str
    charges: int
    cost: Decimal
    skipped: list[int]


def _decide(*, charges: Iterable[Charge], decision: str, actor: Actor, note: str) -> ReviewResult:
    target = TARGET[decision]  # type: ignore[index]
    allowed = ALLOWED_FROM[decision]  # type: ignore[index]
    done, cost, skipped = 0, ZERO, []
    periods_checked: set[int] = set()
    decisions: list[ReviewDecision] = []
    by_state: dict[str, list[int]] = {}
    for charge in charges:
        if charge.period_id not in periods_checked:
            period = charge.period
            _check_open(period)
            periods_checked.add(charge.period_id)
        if not charge.active:
            raise BillingError(f"charge {charge.pk} belongs to a replaced or rolled-back batch")
        if charge.review_state not in allowed:
            skipped.append(charge.pk)
            continue
        by_state.setdefault(charge.review_state, []).append(charge.pk)
        decisions.append(
            ReviewDecision(
                charge=charge, decision=decision, state_before=charge.review_state, state_after=target,
                note=note, actor=actor.label, user_id=actor.user_id,
            )
        )  # fmt: skip
        done += 1
        cost += charge.billed_cost
    ids = [pk for pks in by_state.values() for pk in pks]
    for start in range(0, len(ids), 900):
        Charge.objects.filter(pk__in=ids[start : start + 900]).update(review_state=target)
    ReviewDecision.objects.bulk_create(decisions, batch_size=1000)
    AuditEvent.objects.bulk_create(
        [
            audit_build(
                actor=actor,
                action=f"charge.{decision}",
                obj=d.charge,
                month=d.charge.period.period,
                before={"review_state": d.state_before},
                after={"review_state": target, "note": note},
            )  # fmt: skip
            for d in decisions
        ],
        batch_size=1000,
    )
    return ReviewResult(decision=decision, charges=done, cost=cost, skipped=skipped)


def charges_approve(
    *, ids: list[int] | None = None, month: str | None = None, actor: Actor, note: str = ""
) -> ReviewResult:
    """Approve flagged (or previously rejected) charges by id, or every flagged charge of a period."""
    with transaction.atomic():
        qs = _select(ids=ids, month=month, flagged_only=ids is None)
        return _decide(charges=qs, decision=ReviewDecision.Decision.APPROVE, actor=actor, note=note)


def charges_reject(*, ids: list[int], actor: Actor, note: str = "") -> ReviewResult:
    """Reject charges: they stay stored and visible, but are never billed."""
    with transaction.atomic():
        qs = _select(ids=ids, month=None, flagged_only=False)
        return _decide(charges=qs, decision=ReviewDecision.Decision.REJECT, actor=actor, note=note)


def _check_open(period: BillingPeriod) -> None:
    if period.status == BillingPeriod.Status.FINALIZED:
        raise BillingError(f"period {period.period} is finalized; its reviews can no longer change")
    if period.status != BillingPeriod.Status.OPEN:
        raise BillingError(f"period {period.period} is {period.status}; reopen it (with a reason) to change reviews")


def _lock_open_periods(period_ids: Iterable[int]) -> None:
    """Lock the periods' rows, as closing, generating and importing do, and refuse unless each is open.

    A close that is under way makes a review wait and then refuses it; a review under way makes a
    close wait until the review's decisions are in. In id order, so two reviews never deadlock.
    """
    for period in BillingPeriod.objects.select_for_update().filter(pk__in=set(period_ids)).order_by("pk"):
        _check_open(period)


def _select(*, ids: list[int] | None, month: str | None, flagged_only: bool) -> list[Charge]:
    """The charges, locked, after their periods (see `_lock_open_periods`)."""
    if not ids and not month:
        raise BillingError("give charge ids or a period")
    qs = Charge.objects.select_for_update(of=("self",)).select_related("period", "pi", "project")
    if ids:
        period_ids: set[int] = set()
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            period_ids.update(Charge.objects.filter(pk__in=chunk).values_list("period_id", flat=True).distinct())
        _lock_open_periods(period_ids)
        charges: list[Charge] = []
        for start in range(0, len(ids), 900):  # SQLite allows a limited number of parameters
            charges.extend(qs.filter(pk__in=ids[start : start + 900]))
        charges.sort(key=lambda c: c.pk)
        missing = sorted(set(ids) - {c.pk for c in charges})
        if missing:
            raise BillingError(f"no such charge: {', '.join(map(str, missing))}")
        return charges
    period = BillingPeriod.of(month or "", for_update=True)  # `month` is given when `ids` are not
    _check_open(period)
    qs = qs.filter(period=period, active=True)
    if flagged_only:
        qs = qs.filter(review_state=State.FLAGGED)
    return list(qs.order_by("id"))


# Reasons that come from the charge's attribution; the others (period, currency, amount,
# patterns on the row's own fields) do not change when a reviewer fixes the attribution.
ATTRIBUTION_REASONS = frozenset({
    "missing_pi", "invalid_pi_email", "missing_project", "invalid_project", "missing_fund_org", "invalid_fund_org",
    "project_owner_change",
})  # fmt: skip


@dataclass
class ReattributeResult:
    charges: int
    now_flagged: int
    now_ok: int


def charges_reattribute(
    *,
    ids: list[int],
    actor: Actor,
    reason: str,
    pi_email: str | None = None,
    project_code: str | None = None,
    fund_org: str | None = None,
) -> ReattributeResult:
    """Fix the PI, project and/or fund/org of charges, re-running the attribution rules.

    Fields left as None keep each charge's current value. The attribution flags are computed
    again (a flagged charge whose problems are fixed becomes ok; approved and rejected charges
    keep their decision). Each charge gets a ReviewDecision with the attribution before and after.
    """
    from billing.ingest.rules import Attributor, RuleSnapshot
    from billing.ingest.writer import MasterData

    reason = reason.strip()
    if not reason:
        raise BillingError("fixing an attribution needs a reason")
    if pi_email is None and project_code is None and fund_org is None:
        raise BillingError("give a PI, a project or a fund/org to change")
    for label, value in (("PI email", pi_email), ("project", project_code), ("fund/org", fund_org)):
        problem = control_character_message(value.strip()) if value is not None else None
        if problem:
            raise BillingError(f"the {label} {value!r} {problem}")
    with transaction.atomic():
        charges = _select(ids=ids, month=None, flagged_only=False)
        for period in {c.period for c in charges}:
            _check_open(period)
        if any(not c.active for c in charges):
            raise BillingError("charges of a replaced or rolled-back batch cannot be changed")
        master = MasterData()
        funding = FundingMap.load()
        results: list[tuple[Charge, str, dict[str, str], dict[str, str]]] = []
        attributors: dict[str, Attributor] = {}
        for charge in charges:
            period_code = charge.period.period
            attributor = attributors.get(period_code)
            if attributor is None:
                attributor = attributors[period_code] = Attributor(
                    RuleSnapshot.load(month=period_code), known_pis=master.known_emails()
                )
            before = _attribution(charge)
            state_before = charge.review_state
            values = (
                before["pi_email"] if pi_email is None else pi_email.strip(),
                before["project_id"] if project_code is None else project_code.strip(),
                before["fund_org"] if fund_org is None else fund_org.strip(),
                charge.cost_center, charge.account_code, charge.reference_1, charge.reference_2,
            )  # fmt: skip
            attr = attributor.attribute_values(values)
            master.apply(attributor.take_events())
            charge.pi_id = master.pis.get(attr.pi_email) if attr.pi_email else None
            charge.project_id = master.projects.get(attr.project_code) if attr.project_code else None
            charge.fund_org = attr.fund_org
            charge.attribution_rule = ""  # a person attributed it now, not an account mapping
            kept = [
                r for r in charge.flag_reason_list
                if r not in ATTRIBUTION_REASONS and not r.startswith(f"{OUTSIDE_AWARD}:")
            ]  # fmt: skip
            # Re-funding a charge checks the award of the fund it now names.
            day = charge_day(charge.charge_period_start, period_code)
            reasons = [*attr.reasons, *kept, *funding.award_reasons(charge.project_id, charge.fund_org, day)]
            charge.flag_reasons = ("," + ",".join(reasons) + ",") if reasons else ""
            if charge.review_state in {State.OK, State.FLAGGED}:
                charge.review_state = State.FLAGGED if reasons else State.OK
            results.append((charge, state_before, before, {
                "pi_email": attr.pi_email or "", "project_id": attr.project_code or "", "fund_org": attr.fund_org,
            }))  # fmt: skip
        Charge.objects.bulk_update(
            [c for c, _, _, _ in results],
            ["pi_id", "project_id", "fund_org", "attribution_rule", "flag_reasons", "review_state"],
            batch_size=500,
        )
        ReviewDecision.objects.bulk_create(
            [
                ReviewDecision(
                    charge=c, decision=ReviewDecision.Decision.REATTRIBUTE, state_before=state_before,
                    state_after=c.review_state, note=reason, attribution_before=before, attribution_after=after,
                    actor=actor.label, user_id=actor.user_id,
                )
                for c, state_before, before, after in results
            ],
            batch_size=1000,
        )  # fmt: skip
        AuditEvent.objects.bulk_create(
            [
                audit_build(
                    actor=actor, action="charge.reattribute", obj=c, month=c.period.period,
                    before=before, after={**after, "reason": reason},
                )
                for c, _, before, after in results
            ],
            batch_size=1000,
        )  # fmt: skip
        flagged = sum(1 for c, _, _, _ in results if c.review_state == State.FLAGGED)
        return ReattributeResult(charges=len(results), now_flagged=flagged, now_ok=len(results) - flagged)


def _attribution(charge: Charge) -> dict[str, str]:
    return {
        "pi_email": charge.pi.email if charge.pi_id and charge.pi else "",
        "project_id": charge.project.code if charge.project_id and charge.project else "",
        "fund_org": charge.fund_org,
    }
