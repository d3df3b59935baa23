"""Generate a period's statements: one per PI and project, frozen, versioned, rendered by workers.

The statements are those `plan_statements` (`statements.services.plan`) makes of the billed
charges; flagged charges are excluded and reported. A statement whose content did not change
keeps its version; a changed one gets a new version and the old one is superseded, never edited.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Count, Max

from billing.models import PI, BillingPeriod, Charge
from billing.selectors import Basis, billed_amount
from billing.selectors.readiness import readiness_require
from billing.services.periods import period_close, period_validate
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError
from chargeback.money import ZERO
from statements.models import GenerationRun, Statement, StatementLine, StatementLineShare
from statements.services.plan import PlannedStatement, plan_statements


@dataclass
class GenerationReport:
    period: str
    dry_run: bool
    pi_email: str = ""  # one PI's statements only; "" for the whole period
    statements: int = 0
    new_versions: int = 0
    unchanged: int = 0
    pis: int = 0
    total_due: dict[str, Decimal] = field(default_factory=dict)
    excluded_flagged_charges: int = 0
    excluded_flagged_cost: Decimal = ZERO
    rejected_charges: int = 0
    statement_ids: list[int] = field(default_factory=list)
    run_id: int | None = None
    draft: bool = False
    output_dir: str = ""
    files: list[str] = field(default_factory=list)
    previews: list[dict[str, Any]] = field(default_factory=list)
    deliveries_queued: int = 0
    closed_first: bool = False  # the open period was closed first (`close_open`)

    def as_dict(self) -> dict[str, Any]:  # pragma: no mutate block
        return {
            "period": self.period, "pi_email": self.pi_email, "dry_run": self.dry_run, "draft": self.draft,
            "statements": self.statements, "new_versions": self.new_versions, "unchanged": self.unchanged,
            "pis": self.pis, "total_due": {c: f"{v:.2f}" for c, v in sorted(self.total_due.items())},
            "excluded_flagged_charges": self.excluded_flagged_charges,
            "excluded_flagged_cost": format(self.excluded_flagged_cost, "f"),
            "rejected_charges": self.rejected_charges, "statement_ids": self.statement_ids,
            "run_id": self.run_id, "output_dir": self.output_dir, "files": self.files,
            "deliveries_queued": self.deliveries_queued, "closed_first": self.closed_first,
        }  # fmt: skip


def _excluded(period: BillingPeriod, pi: PI | None) -> tuple[int, Decimal, int]:
    qs = Charge.objects.filter(period=period, active=True)
    if pi is not None:
        qs = qs.filter(pi=pi)
    flagged = qs.filter(review_state=Charge.ReviewState.FLAGGED).aggregate(
        n=Count("id"), cost=billed_amount(Basis.of())
    )
    rejected = qs.filter(review_state=Charge.ReviewState.REJECTED).count()
    return flagged["n"], flagged["cost"], rejected


# Versions, locks, drafts, files and copying the plan into rows decide no figure: `make mutate`
# leaves them alone.
# pragma: no mutate start
def statements_generate(
    *,
    month: str,
    actor: Actor,
    pi_email: str | None = None,
    dry_run: bool = False,
    send: bool = False,
    force: bool = False,
    close_open: bool = False,
) -> GenerationReport:
    """Freeze the statements of a closed period and queue their PDFs (and email with `send`).

    Statements whose content did not change keep their version (so generating again is a no-op);
    `force` makes a new version of each anyway (e.g. after the branding changed). An open period
    can only be previewed (`dry_run`): its PDFs are watermarked DRAFT and nothing is saved; with
    `close_open` it is closed first (`period_close`, refused while `periods check` names a blocker),
    as the older tool's `generate` billed the month as it stood.
    """
    from statements.services.delivery import deliveries_queue
    from statements.services.render import statement_context
    from statements.tasks import render_statement

    period_validate(month)
    report = GenerationReport(period=month, dry_run=dry_run, pi_email=(pi_email or "").strip().lower())
    if (
        close_open
        and not dry_run
        and BillingPeriod.objects.filter(period=month, status=BillingPeriod.Status.OPEN).exists()
    ):
        period_close(month=month, actor=actor, notes="closed by generate")
        report.closed_first = True
    drafts: list[tuple[Statement, dict[str, Any]]] = []
    with transaction.atomic():
        obj = _period_for_generation(month, dry_run=dry_run)
        report.draft = obj.status == BillingPeriod.Status.OPEN
        pi = _pi_filter(pi_email)
        plans = plan_statements(period=obj, pi=pi)
        report.excluded_flagged_charges, report.excluded_flagged_cost, report.rejected_charges = _excluded(obj, pi)
        applied = _apply_plans(period=obj, pi=pi, plans=plans, force=force, actor=actor)
        applied.report_to(report)
        _record_run(period=obj, report=report, applied=applied, actor=actor)
        if dry_run:
            # What the DRAFTs show is read here, in the transaction that made them; their PDFs are
            # laid out after it has ended, so the period's lock is not held while they render.
            drafts = [(st, statement_context(st, draft=report.draft)) for st in applied.touched]
            transaction.set_rollback(True)
        else:
            for st in applied.new + applied.unrendered:
                transaction.on_commit(partial(render_statement.delay, st.pk))
            if send:
                report.deliveries_queued = deliveries_queue(month=month, actor=actor, pi_email=pi_email).queued
    if dry_run:
        return _render_drafts(report, drafts)
    return report


def _period_for_generation(month: str, *, dry_run: bool) -> BillingPeriod:
    """The period, locked, if its status lets it be generated (or, with `dry_run`, previewed)."""
    obj = BillingPeriod.of(month, for_update=True)
    if obj.status == BillingPeriod.Status.OPEN and not dry_run:
        raise BillingError(
            f"period {month} is open; close it before generating statements (or use a dry run for a DRAFT preview)"
        )
    if obj.status == BillingPeriod.Status.FINALIZED and not dry_run:
        raise BillingError(f"period {month} is finalized; its statements are permanent")
    if not dry_run:  # a dry run is a preview: it shows the month as it is
        readiness_require(obj, step="have its statements generated")
    return obj


def _pi_filter(pi_email: str | None) -> PI | None:
    """The PI whose statements alone are generated, or None for the whole period."""
    if not pi_email:
        return None
    pi = PI.objects.filter(email=pi_email.strip().lower()).first()
    if pi is None:
        raise BillingError(f"no PI with email {pi_email!r}")
    return pi


@dataclass
class _Applied:
    """What generating did to the current statements (of one PI with `pi_email`)."""

    new: list[Statement] = field(default_factory=list)  # new statements and new versions
    touched: list[Statement] = field(default_factory=list)  # the current statements afterwards
    unrendered: list[Statement] = field(default_factory=list)  # unchanged, but their PDF is not rendered yet
    stale: list[Statement] = field(default_factory=list)  # current ones without billed charges left, superseded

    def report_to(self, report: GenerationReport) -> None:
        report.unchanged = len(self.touched) - len(self.new)
        report.statements = len(self.touched)
        report.new_versions = len(self.new)
        report.statement_ids = [s.pk for s in self.touched]
        report.pis = len({s.pi_id for s in self.touched})
        for st in self.touched:
            report.total_due[st.currency] = report.total_due.get(st.currency, ZERO) + st.amount_due


def _apply_plans(
    *, period: BillingPeriod, pi: PI | None, plans: list[PlannedStatement], force: bool, actor: Actor
) -> _Applied:
    """Each plan made current: an unchanged statement is kept (unless `force`), a changed one gets a new version,
    a new one its first; current statements no plan is left for are superseded."""
    current = {
        (s.pi_id, s.project_id): s
        for s in Statement.objects.select_for_update()
        .filter(period=period)
        .exclude(status=Statement.Status.SUPERSEDED)
        .filter(**({"pi": pi} if pi else {}))
    }
    next_seq = (Statement.objects.filter(period=period).aggregate(m=Max("sequence"))["m"] or 0) + 1
    applied = _Applied()
    for plan in plans:
        sha = plan.content_sha256()
        old = current.pop((plan.pi_id, plan.project_id), None)
        if old is not None and old.content_sha256 == sha and not force:
            applied.touched.append(old)
            if old.status == Statement.Status.DRAFT:  # its render task was lost: queue it again
                applied.unrendered.append(old)
            continue
        if old is not None:
            sequence, version = old.sequence, old.version + 1
            _supersede(old)
        else:
            sequence, version = next_seq, 1
            next_seq += 1
        st = _create(period=period, plan=plan, sha=sha, sequence=sequence, version=version, supersedes=old, actor=actor)
        applied.new.append(st)
        applied.touched.append(st)
    # A PI or project with no billed charges left (all rejected, say) keeps no current statement.
    for stale in current.values():
        _supersede(stale)
        applied.stale.append(stale)
    return applied


def _record_run(*, period: BillingPeriod, report: GenerationReport, applied: _Applied, actor: Actor) -> None:
    """The generation run, and an audit event when something changed (or for a dry run)."""
    # A whole period generated again is recorded even when nothing changed: it is what shows the
    # statements are those of the charges after a reopening (journals.services.export).
    changed = bool(applied.new or applied.stale or report.dry_run)
    if not changed and report.pi_email:
        return
    run = GenerationRun.objects.create(period=period, actor=actor.label)
    run.statements.set(applied.touched)
    report.run_id = run.pk
    run.report = report.as_dict()
    run.save(update_fields=["report"])
    if changed:  # the run records an unchanged generation; the audit trail, changes
        audit_record(
            actor=actor, action="statements.generate" + (".dry_run" if report.dry_run else ""), obj=period,
            month=period.period, after={k: v for k, v in report.as_dict().items() if k != "statement_ids"},
        )  # fmt: skip


def _render_drafts(report: GenerationReport, drafts: list[tuple[Statement, dict[str, Any]]]) -> GenerationReport:
    """The DRAFT PDFs of a dry run, in a new temporary folder (`report.output_dir`) the caller removes.

    Runs after the dry run's transaction has been rolled back: the contexts hold everything the
    PDF shows, so nothing here reads the database or waits for a lock.
    """
    from statements.services.render import context_render_to_bytes

    out = Path(tempfile.mkdtemp(prefix=f"openchargeback-{report.period}-"))
    report.output_dir = str(out)
    for st, context in drafts:
        data, _pages = context_render_to_bytes(context, label=str(st))
        path = out / f"{st.number}-v{st.version}.pdf"
        path.write_bytes(data)
        report.files.append(str(path))
        report.previews.append({"pi_id": st.pi_id, "project_id": st.project_id, "file": str(path)})
    return report


def _supersede(old: Statement) -> None:
    Statement.objects.filter(pk=old.pk).update(status=Statement.Status.SUPERSEDED)
    old.status = Statement.Status.SUPERSEDED


def _create(
    *, period: BillingPeriod, plan: PlannedStatement, sha: str, sequence: int, version: int,
    supersedes: Statement | None, actor: Actor,
) -> Statement:  # fmt: skip
    st = Statement.objects.create(
        period=period, pi_id=plan.pi_id, project_id=plan.project_id, sequence=sequence,
        number=f"{period.period}-{sequence:06d}", version=version, supersedes=supersedes,
        currency=plan.currency, fund_orgs=", ".join(sorted({f for ln in plan.lines for f in ln.funds if f}))[:300],
        charge_count=sum(ln.charge_count for ln in plan.lines), list_exact=plan.list_exact,
        billed_exact=plan.billed_exact, list_total=plan.list_total, amount_due=plan.amount_due,
        discount_total=plan.list_total - plan.amount_due, content_sha256=sha, generated_by=actor.label,
    )  # fmt: skip
    lines = StatementLine.objects.bulk_create(
        StatementLine(
            statement=st,
            position=i,
            kind=ln.kind,
            source=ln.source,
            service_name=ln.service_name,
            fund_org=ln.fund_org,
            account_code=ln.account_code,
            charge_count=ln.charge_count,
            list_exact=ln.list_exact,
            billed_exact=ln.billed_exact,
            list_amount=ln.list_amount,
            amount=ln.amount,
            amortized=ln.amortized,
            corrects=ln.corrects,
        )  # fmt: skip
        for i, ln in enumerate(plan.lines, start=1)
    )
    StatementLineShare.objects.bulk_create(
        StatementLineShare(line=line, fund_org=fund, percent=percent, amount=amount)
        for line, ln in zip(lines, plan.lines, strict=True)
        for fund, percent, amount in ln.shares
    )
    audit_record(
        actor=actor, action="statement.create", obj=st, month=period.period,
        after={"number": st.number, "version": version, "amount_due": f"{st.amount_due:.2f}",
               "currency": st.currency, "supersedes": supersedes.pk if supersedes else None},
    )  # fmt: skip
    return st


# pragma: no mutate end
def finalize_check(period: BillingPeriod) -> None:  # pragma: no mutate block
    """Refuse to finalize a period whose statements are missing, still rendering or out of date."""
    plans = plan_statements(period=period)
    current = {
        (s.pi_id, s.project_id): s
        for s in Statement.objects.filter(period=period).exclude(status=Statement.Status.SUPERSEDED)
    }
    if plans and not current:
        raise BillingError(f"period {period.period} has no statements yet; generate them before finalizing")
    stale = [
        p
        for p in plans
        if (s := current.get((p.pi_id, p.project_id))) is None or s.content_sha256 != p.content_sha256()
    ]
    if stale or len(current) != len(plans):
        raise BillingError(
            f"period {period.period}: the statements no longer match the approved charges "
            f"({len(stale) or len(current) - len(plans)} differ); generate them again before finalizing"
        )
    drafts = sum(s.status == Statement.Status.DRAFT for s in current.values())
    if drafts:
        raise BillingError(f"period {period.period}: {drafts} statement PDFs are still being rendered; wait for them")
