"""A batch that replaces another keeps the review decisions of identical rows."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from billing.ingest.rows import STAGE_COLUMNS
from billing.models import Charge, ImportBatch, ReviewDecision
from chargeback.audit import Actor
from chargeback.money import ZERO

if TYPE_CHECKING:
    from .ingest_report import IngestReport


def recount_flags(*, batch: ImportBatch, report: IngestReport) -> None:
    """After decisions were carried over, the batch's flagged figures come from its charges."""
    flagged = Charge.objects.filter(batch=batch, review_state=Charge.ReviewState.FLAGGED)
    counts: Counter[str] = Counter()
    cost = ZERO
    for reasons, billed in flagged.values_list("flag_reasons", "billed_cost").iterator(chunk_size=5000):
        cost += billed
        counts.update({r.partition(":")[0] for r in reasons.split(",") if r})
    report.flagged_rows = batch.flagged_rows = flagged.count()
    report.flagged_cost = batch.flagged_cost = cost
    report.flag_counts = dict(sorted(counts.items()))


class DecisionCounter:
    """A dry run's sink: counts the parsed rows identical to a decided charge of the batch they would
    replace (same fingerprint, each decided charge matched once), i.e. the decisions that carry over."""

    FINGERPRINT = STAGE_COLUMNS.index("fingerprint")

    def __init__(self, previous: ImportBatch) -> None:  # pragma: no mutate block
        decided = Charge.objects.filter(batch=previous, decisions__isnull=False).distinct()
        self.left = Counter(decided.values_list("fingerprint", flat=True))
        self.matched = 0

    def write(self, rows: list[list[Any]], combos: list[Any], base: int) -> None:
        if not self.left:
            return
        for row in rows:
            fp = row[self.FINGERPRINT]
            if self.left[fp] > 0:
                self.left[fp] -= 1
                self.matched += 1

    def reset(self) -> None:  # pragma: no mutate block
        self.matched = 0  # the batch is parsed again from the start

    def close(self) -> None:
        pass


def carry_over_decisions(*, previous: ImportBatch, batch: ImportBatch, actor: Actor) -> int:
    """Identical rows (same fingerprint) keep the review outcome they had in the replaced batch."""
    decided = (
        Charge.objects.filter(batch=previous, decisions__isnull=False).distinct().order_by("file_index", "line_number")
    )
    carry: dict[str, list[Charge]] = {}
    for old in decided.iterator(chunk_size=2000):
        carry.setdefault(old.fingerprint, []).append(old)
    if not carry:
        return 0
    updated: list[Charge] = []
    decisions: list[ReviewDecision] = []
    fields = [
        "review_state",
        "flag_reasons",
        "pi_id",
        "project_id",
        "fund_org",
        "cost_center",
        "account_code",
        "reference_1",
        "reference_2",
    ]
    # One pass over the new batch (in file order) finds the identical rows.
    new_rows = (
        Charge.objects.filter(batch=batch)
        .order_by("file_index", "line_number")
        .values_list("id", "fingerprint", "review_state")
    )
    matched: list[tuple[int, str, Charge]] = []
    for pk, fp, state in new_rows.iterator(chunk_size=20_000):
        olds = carry.get(fp)
        if olds:
            matched.append((pk, state, olds.pop(0)))
    for pk, state_before, old in matched:
        new = Charge(pk=pk)
        for name in fields:
            setattr(new, name, getattr(old, name))
        updated.append(new)
        decisions.append(
            ReviewDecision(
                charge_id=pk, decision=ReviewDecision.Decision.CARRIED_OVER,
                state_before=state_before, state_after=old.review_state,
                note=f"carried over from charge {old.pk} of batch {previous.pk}",
                actor=actor.label, user_id=actor.user_id,
            )
        )  # fmt: skip
    Charge.objects.bulk_update(updated, fields, batch_size=1000)
    ReviewDecision.objects.bulk_create(decisions, batch_size=1000)
    return len(decisions)
