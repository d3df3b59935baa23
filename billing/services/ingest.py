"""Import FOCUS files as one batch: atomic, idempotent, replacing, nothing lost.

`batch_ingest` is the one entry point, behind `openchargeback ingest` and the admin upload. It
keeps the rules around an import: the source and period, the same files again, replacing a batch,
the originals, the audit trail. The rows themselves are parsed, attributed, flagged, totalled and
written by the ingest engine (`billing.ingest.engine.ingest_rows`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from decimal import localcontext
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from billing.ingest.engine import ingest_rows
from billing.ingest.reader import IngestError, file_sha256
from billing.ingest.writer import ChargeWriter, analyze_charges, staging_on_disk
from billing.models import (
    BillingPeriod,
    Charge,
    ImportBatch,
    ImportFile,
    Source,
    validate_period,
)
from billing.pricing import SubsidyLedger
from billing.selectors import batch_replacement
from billing.selectors.funding import FundingMap
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError, ChoiceNeeded

from .after_import import schedule as after_import_schedule
from .carry_over import DecisionCounter, carry_over_decisions, recount_flags
from .funding import award_flags_refresh
from .ingest_report import IngestReport
from .input_checks import detect_period, detect_source, input_file_check
from .originals import original_store
from .periods import period_get_or_open
from .rates import subsidy_usage_record

ProgressCallback = Callable[[int, int], None]  # (bytes read, total bytes)


def batch_ingest(
    *,
    paths: Sequence[Path],
    source_name: str | None,
    month: str | None = None,
    actor: Actor,
    dry_run: bool = False,
    display_names: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    usage_files: Sequence[tuple[Path, str]] = (),
    subsidy_ledger: SubsidyLedger | None = None,
    replace: bool = False,
) -> IngestReport:
    """Import `paths` as one batch of `source_name` for `month`.

    Replacing is never silent: when the source already has an applied batch for the period, a dry
    run reports it (`report.replaces`: its rows, billed cost and the review decisions that will
    carry over) and a real import goes ahead only with `replace`; otherwise it is refused
    (`ChoiceNeeded`, naming the batch). The same files again stay a no-op.

    `usage_files` (path, name) are the files `paths` were converted from: stored with the batch
    as its originals too, so what was billed can be traced to what the cluster reported.
    `subsidy_ledger` holds the subsidies that conversion spent: recorded in the import's own
    transaction (not on a dry run, nor when the files were already imported).

    Without a source name, the source is detected from the first file name (each source's file
    pattern); without a month, from the file names or else the first data row.
    Raises IngestError (bad file: file, line and column named) or BillingError (a rule refused
    it: unknown source, locked period). In both cases the database is untouched.
    """
    started = time.perf_counter()
    with localcontext() as ctx:
        ctx.prec = 60  # totals of 18-digit amounts with 10 decimals stay exact
        report = _batch_ingest(
            paths=paths, source_name=source_name, month=month, actor=actor, dry_run=dry_run,
            display_names=display_names, progress=progress, usage_files=usage_files, subsidy_ledger=subsidy_ledger,
            replace=replace,
        )  # fmt: skip
    report.seconds = round(time.perf_counter() - started, 3)
    if report.status == "applied" and not dry_run:
        analyze_charges(rows=report.rows)
    return report


def _batch_ingest(
    *,
    paths: Sequence[Path],
    source_name: str | None,
    month: str | None,
    actor: Actor,
    dry_run: bool,
    display_names: Sequence[str] | None,
    progress: ProgressCallback | None,
    usage_files: Sequence[tuple[Path, str]] = (),
    subsidy_ledger: SubsidyLedger | None = None,
    replace: bool = False,
) -> IngestReport:
    names, source, month = _check_inputs(paths=paths, display_names=display_names, source_name=source_name, month=month)
    hashes = _file_hashes(paths, names)
    content_sha = hashlib.sha256("".join(sorted(h for h, _ in hashes)).encode()).hexdigest()
    report = IngestReport(status="dry_run" if dry_run else "applied", source=source.name, period=month, files=names)
    already = _already_imported(report, source=source, month=month, content_sha=content_sha)
    if already is not None:
        return already
    if dry_run:
        return _dry_run(report, paths=paths, names=names, source=source, month=month, progress=progress)
    return _apply(
        report, paths=paths, names=names, hashes=hashes, content_sha=content_sha, usage_files=usage_files,
        source=source, month=month, actor=actor, progress=progress, subsidy_ledger=subsidy_ledger, replace=replace,
    )  # fmt: skip


def _check_inputs(
    *, paths: Sequence[Path], display_names: Sequence[str] | None, source_name: str | None, month: str | None
) -> tuple[list[str], Source, str]:
    """The files' names, the source and the period, once every rule about them holds."""
    if not paths:
        raise BillingError("no files given")
    names = list(display_names or [p.name for p in paths])
    resolved = [p.resolve() for p in paths]
    for i, path in enumerate(resolved):
        if path in resolved[:i]:
            raise BillingError(f"{names[i]} is given twice")
    source = _enabled_source(source_name or detect_source(names[0]).name)
    for path, name in zip(paths, names, strict=True):
        if not path.is_file():
            raise IngestError(name, None, "no such file")
        input_file_check(path=path, name=name)  # size limit; CSV or gzip'd CSV by content
    return names, source, _billing_period(paths, month)


def _enabled_source(source_name: str) -> Source:
    source = Source.objects.filter(name=source_name).first()
    if source is None:
        known = ", ".join(Source.objects.values_list("name", flat=True)) or "none"
        raise BillingError(
            f"unknown source {source_name!r} (known: {known}); add it with 'openchargeback sources add {source_name}'"
        )
    if not source.enabled:
        raise BillingError(f"source {source.name!r} is disabled; enable it in the admin first")
    return source


def _billing_period(paths: Sequence[Path], month: str | None) -> str:
    if month is None:
        month = detect_period(paths)
        if month is None:
            raise ChoiceNeeded(
                "cannot tell the billing period from the file names or contents", cli="give --period",
                web="choose the period",
            )  # fmt: skip
    try:
        validate_period(month)
    except Exception:
        raise BillingError(f"{month!r} is not a billing period (use YYYY-MM)") from None
    return month


def _file_hashes(paths: Sequence[Path], names: Sequence[str]) -> list[tuple[str, int]]:
    """Each file's SHA-256 and size."""
    hashes = []
    for path, name in zip(paths, names, strict=True):
        try:
            hashes.append(file_sha256(path))
        except OSError as exc:
            raise IngestError(name, None, f"cannot read the file ({exc.strerror or exc})") from None
    return hashes


def _already_imported(report: IngestReport, *, source: Source, month: str, content_sha: str) -> IngestReport | None:
    """The same files again: the report of the batch they are already in (a no-op), else None.
    Refused when that batch is of another source or period."""
    existing = (
        ImportBatch.objects.select_related("source", "period")
        .filter(content_sha256=content_sha, status=ImportBatch.Status.APPLIED)
        .first()
    )
    if existing is None:
        return None
    if (existing.source_id, existing.period.period) != (source.pk, month):
        raise BillingError(
            f"these files were already imported as batch {existing.pk} for source {existing.source.name}, "
            f"period {existing.period.period}; roll that batch back first to import them elsewhere"
        )
    report.status = "already_imported"
    report.batch_id = existing.pk
    report.rows = existing.row_count
    report.list_total, report.billed_total = existing.list_total, existing.billed_total
    report.flagged_rows, report.flagged_cost = existing.flagged_rows, existing.flagged_cost
    report.periods_seen, report.flag_counts = existing.periods_seen, existing.flag_counts
    report.currencies, report.focus_version = existing.currencies, existing.focus_version
    return report


def _dry_run(
    report: IngestReport, *, paths: Sequence[Path], names: Sequence[str], source: Source, month: str,
    progress: ProgressCallback | None,
) -> IngestReport:  # fmt: skip
    """What the import would do, writing nothing: its figures, and the batch it would replace with
    the review decisions that would carry over."""
    period_obj = BillingPeriod.objects.filter(period=month).first()
    if period_obj is not None and not period_obj.accepts_changes:
        raise BillingError(f"period {month} is {period_obj.status}; imports are refused")
    previous = _applied_batch(source, period_obj) if period_obj is not None else None
    counter = DecisionCounter(previous) if previous is not None else None
    result = ingest_rows(paths=paths, names=names, month=month, writer=None, progress=progress, dry_run_sink=counter)
    report.add_figures(result)
    if previous is not None and counter is not None:
        report.replaced_batch_id = previous.pk
        report.carried_decisions = counter.matched
        report.replaces = batch_replacement(previous) | {"decisions_carried_over": counter.matched}
    return report


def _apply(
    report: IngestReport, *, paths: Sequence[Path], names: Sequence[str], hashes: Sequence[tuple[str, int]],
    content_sha: str, usage_files: Sequence[tuple[Path, str]], source: Source, month: str, actor: Actor,
    progress: ProgressCallback | None, subsidy_ledger: SubsidyLedger | None, replace: bool,
) -> IngestReport:  # fmt: skip
    """The import, in one transaction: the batch and its originals, its rows, the batch it replaces
    superseded (review decisions carried over), award flags, totals, audit. On any failure the
    originals this import stored are removed again."""
    stored: list[str] = []
    writer: ChargeWriter | None = None
    try:
        with staging_on_disk(), transaction.atomic():
            period_obj, previous = _lock_period(source=source, month=month, actor=actor, replace=replace)
            if previous is not None:
                report.replaces = batch_replacement(previous)
            batch = ImportBatch.objects.create(
                source=source, period=period_obj, content_sha256=content_sha,
                actor=actor.label, user_id=actor.user_id,
                status=ImportBatch.Status.ROLLED_BACK,  # becomes APPLIED once every row is in
            )  # fmt: skip
            for path, name, (sha, size) in zip(paths, names, hashes, strict=True):
                _keep_original(batch=batch, path=path, name=name, sha=sha, size=size, stored=stored)
            writer = ChargeWriter(batch_id=batch.pk, period_id=period_obj.pk, source_id=source.pk)
            result = ingest_rows(paths=paths, names=names, month=month, writer=writer, progress=progress)
            report.add_figures(result)
            for import_file, rows in zip(batch.files.order_by("id"), result.rows_per_file, strict=True):
                import_file.rows = rows
                import_file.save(update_fields=["rows"])
            for path, name in usage_files:
                sha, size = file_sha256(path)
                _keep_original(
                    batch=batch, path=path, name=name, sha=sha, size=size, stored=stored, role=ImportFile.Role.USAGE
                )
            if previous is not None:
                _supersede(previous, batch=batch, report=report, actor=actor)
            _batch_applied(batch, previous=previous, report=report)
            _after_apply(batch, previous=previous, report=report, actor=actor, subsidy_ledger=subsidy_ledger)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    finally:
        if writer is not None:
            writer.detach()
    return report


def _lock_period(
    *, source: Source, month: str, actor: Actor, replace: bool
) -> tuple[BillingPeriod, ImportBatch | None]:
    """The period (opened if new), locked, and the source's applied batch in it, locked too.
    Refused when the period takes no more changes, or a batch is there and `replace` was not given."""
    period_obj = period_get_or_open(month=month, actor=actor, for_update=True)
    if not period_obj.accepts_changes:
        raise BillingError(f"period {month} is {period_obj.status}; imports are refused")
    previous = _applied_batch(source, period_obj, for_update=True)
    if previous is not None and not replace:
        raise replacement_refusal(previous)
    return period_obj, previous


def _keep_original(
    *, batch: ImportBatch, path: Path, name: str, sha: str, size: int, stored: list[str],
    role: str = ImportFile.Role.FOCUS,
) -> None:  # fmt: skip
    """Store a file of the batch as it was given; `stored` gets its name when this import stored it."""
    stored_name, created = original_store(path=path, name=name, sha=sha, size=size)
    if created:
        stored.append(stored_name)
    ImportFile.objects.create(batch=batch, name=name, sha256=sha, size=size, stored=stored_name, role=role)


def _supersede(previous: ImportBatch, *, batch: ImportBatch, report: IngestReport, actor: Actor) -> None:
    """The replaced batch and its charges step aside; identical rows keep their review decisions."""
    previous.status = ImportBatch.Status.SUPERSEDED
    previous.save(update_fields=["status"])
    Charge.objects.filter(batch=previous).update(active=False)
    report.replaced_batch_id = previous.pk
    report.carried_decisions = carry_over_decisions(previous=previous, batch=batch, actor=actor)


def _batch_applied(batch: ImportBatch, *, previous: ImportBatch | None, report: IngestReport) -> None:
    """Award flags on the stored rows, then the batch applied with its figures."""
    # Award periods need each charge's day, so they are checked on the stored rows.
    funding = FundingMap.load()
    awards_changed = (
        award_flags_refresh(charges=Charge.objects.filter(batch=batch), funding=funding)
        if funding.awards or report.carried_decisions
        else 0
    )
    batch.status = ImportBatch.Status.APPLIED
    batch.supersedes = previous
    batch.focus_version = report.focus_version
    batch.row_count = report.rows
    batch.list_total, batch.billed_total = report.list_total, report.billed_total
    batch.flagged_rows, batch.flagged_cost = report.flagged_rows, report.flagged_cost
    if report.carried_decisions or awards_changed:
        recount_flags(batch=batch, report=report)
    batch.flag_counts, batch.periods_seen = report.flag_counts, report.periods_seen
    batch.currencies, batch.warnings = report.currencies, report.warnings
    batch.save()


def _after_apply(
    batch: ImportBatch, *, previous: ImportBatch | None, report: IngestReport, actor: Actor,
    subsidy_ledger: SubsidyLedger | None,
) -> None:  # fmt: skip
    """The source's last import, the audit row, the subsidies spent and the work queued for after."""
    source = batch.source
    source.last_import_status = f"batch {batch.pk}: {report.rows} rows, {report.flagged_rows} flagged"
    source.last_import_at = timezone.now()
    source.save(update_fields=["last_import_status", "last_import_at"])
    report.batch_id = batch.pk
    audit_record(
        actor=actor, action="batch.import", obj=batch, month=report.period,
        before={"batch": previous.pk} if previous else None,
        after=report.as_dict(),
    )  # fmt: skip
    if subsidy_ledger is not None:
        subsidy_usage_record(ledger=subsidy_ledger, actor=actor)
    after_import_schedule(month=report.period, batch_id=batch.pk)


def _applied_batch(source: Source, period: BillingPeriod, *, for_update: bool = False) -> ImportBatch | None:
    qs = ImportBatch.objects.select_for_update() if for_update else ImportBatch.objects
    return qs.filter(source=source, period=period, status=ImportBatch.Status.APPLIED).first()


def replacement_refusal(previous: ImportBatch) -> ChoiceNeeded:
    """The one line that refuses to replace `previous` without being asked to."""
    r = batch_replacement(previous)
    what = (
        f"source {previous.source.name} already has batch {previous.pk} for {previous.period.period} "
        f"({r['rows']} rows, billed {r['billed_cost']:.2f}, {r['decided_charges']} reviewed charges)"
    )
    return ChoiceNeeded(
        what, cli="give --replace to replace it", web=f"tick “Replace batch {previous.pk}” to replace it"
    )
