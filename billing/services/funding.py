"""Award periods and split funding: the `outside_award` flag, and the 100 % rule of a project's split.

The rules themselves (which funds pay a charge, what lies outside an award) are in
`billing.selectors.funding`; here they are applied to stored charges and checked on edits.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from billing.models import Charge, Project, ProjectFunding
from billing.selectors.funding import OUTSIDE_AWARD, FundingMap, FundingRow, charge_day, split_problems
from chargeback.errors import BillingError

State = Charge.ReviewState
CHUNK = 2000


def project_funding_check(*, project: Project) -> None:
    """Refuse a project's split unless its percentages add up to 100 on every day one is in force."""
    rows = [
        FundingRow(f, p, s, e)
        for f, p, s, e in ProjectFunding.objects.filter(project=project).values_list(
            "fund__fund_org", "percent", "effective_from", "effective_to"
        )
    ]
    problems = split_problems(rows)
    if problems:
        raise BillingError(
            f"project {project.code}: the funding does not add up to 100% on every day: {'; '.join(problems)}"
        )


def award_flags_refresh(*, charges: QuerySet[Charge], funding: FundingMap | None = None) -> int:
    """Flag the charges that lie outside an award of a fund paying them; clear the flag where they no
    longer do. Approved and rejected charges keep their decision (with the reasons stored), as in a
    re-evaluation. Returns how many charges changed."""
    funding = funding if funding is not None else FundingMap.load()
    watched = Q(flag_reasons__contains=f",{OUTSIDE_AWARD}:")
    if funding.awards:
        watched |= Q(fund_org__in=funding.watched_funds()) | Q(project_id__in=list(funding.splits))
    rows = (
        charges.filter(watched)
        .order_by("pk")
        .values_list("pk", "project_id", "fund_org", "charge_period_start", "period__period", "flag_reasons",
                     "review_state")
    )  # fmt: skip
    changed: list[Charge] = []
    for pk, project_id, fund_org, start, period, flag_reasons, state in rows.iterator(chunk_size=CHUNK):
        kept = [r for r in flag_reasons.split(",") if r and not r.startswith(f"{OUTSIDE_AWARD}:")]
        reasons = kept + funding.award_reasons(project_id, fund_org, charge_day(start, period))
        text = ("," + ",".join(reasons) + ",") if reasons else ""
        new_state = state if state not in (State.OK, State.FLAGGED) else (State.FLAGGED if reasons else State.OK)
        if text != flag_reasons or new_state != state:
            changed.append(Charge(pk=pk, flag_reasons=text[:500], review_state=new_state))
    Charge.objects.bulk_update(changed, ["flag_reasons", "review_state"], batch_size=500)
    return len(changed)
