"""Import FOCUS files as one batch: atomic, idempotent, replacing, nothing lost.

`batch_ingest` is the one entry point, behind `openchargeback ingest` and the admin upload.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from decimal import localcontext
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from billing.ingest.engine import ingest_rows
from billing.ingest.reader import FileReader, IngestError, file_sha256
from billing.ingest.rows import parse_date
from billing.ingest.writer import ChargeWriter, staging_on_disk
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
from .input_checks import input_file_check
from .originals import original_store
from .periods import period_get_or_open
from .rates import subsidy_usage_record

PERIOD_IN_NAME = re.compile(r"(?<!\d)(\d{4})[-_]?(0[1-9]|1[0-2])(?!\d)")
ProgressCallback = Callable[[int, int], None]  # (bytes read, total bytes)


def source_patterns(source: Source) -> list[str]:
    """A source's file name patterns: shell-style, separated by spaces, matched against the lower-cased name."""
    return [p for p in source.file_pattern.lower().split() if p]


def detect_sources(filename: str) -> list[Source]:
    """Every enabled source one of whose file patterns matches the name."""
    lowered = filename.lower()
    return [
        s for s in Source.objects.filter(enabled=True).exclude(file_pattern="").order_by("name")
        if any(fnmatch.fnmatchcase(lowered, p) for p in source_patterns(s))
    ]  # fmt: skip


def detect_source(filename: str) -> Source:
    """The one enabled source whose pattern matches the name; never a guess between two."""
    found = detect_sources(filename)
    if len(found) > 1:
        names = " and ".join(s.name for s in found)
        raise ChoiceNeeded(
            f"the file name {filename!r} matches the patterns of sources {names}",
            cli="give --source", web="choose the source",
        )  # fmt: skip
    if not found:
        raise ChoiceNeeded(
            f"cannot tell the source from the file name {filename!r}", cli="give --source", web="choose the source"
        )
    return found[0]


def detect_period(paths: Sequence[Path]) -> str | None:
    """A period from the file names (`2025-01`, `2025_01`, `202501`), else from the first data row."""
    for path in paths:
        match = PERIOD_IN_NAME.search(path.name)
        if match:
            return f"{match.group(1)}-{match.group(2)}"
    for path in paths:
        with FileReader(path) as reader:
            for cells in reader.lines():
                assert reader.plan is not None
                index = reader.plan.index_of("billing_period_start")
                if index is not None and cells[index].strip():
                    try:
                        return parse_date(cells[index])[:7]
                    except ValueError:
                        return None
                break
    return None


def batch_ingest(
    *,
    paths: Sequence[Path],
    source_name: str | None,
    period: str | None = None,
    actor: Actor,
    dry_run: bool = False,
    display_names: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    usage_files: Sequence[tuple[Path, str]] = (),
    subsidy_ledger: SubsidyLedger | None = None,
    replace: bool = False,
) -> IngestReport:
    """Import `paths` as one batch of `source_name` for `period`.

    Replacing is never silent: when the source already has an applied batch for the period, a dry
    run reports it (`report.replaces`: its rows, billed cost and the review decisions that will
    carry over) and a real import goes ahead only with `replace`; otherwise it is refused
    (`ChoiceNeeded`, naming the batch). The same files again stay a no-op.

    `usage_files` (path, name) are the files `paths` were converted from: stored with the batch
    as its originals too, so what was billed can be traced to what the cluster reported.
    `subsidy_ledger` holds the subsidies that conversion spent: recorded in the import's own
    transaction (not on a dry run, nor when the files were already imported).

    Without a source name, the source is detected from the first file name (each source's file
    pattern); without a period, from the file names or else the first data row.
    Raises IngestError (bad file: file, line and column named) or BillingError (a rule refused
    it: unknown source, locked period). In both cases the database is untouched.
    """
    started = time.perf_counter()
    with localcontext() as ctx:
        ctx.prec = 60  # totals of 18-digit amounts with 10 decimals stay exact
        report = _batch_ingest(
            paths=paths, source_name=source_name, period=period, actor=actor, dry_run=dry_run,
            display_names=display_names, progress=progress, usage_files=usage_files, subsidy_ledger=subsidy_ledger,
            replace=replace,
        )  # fmt: skip
    report.seconds = round(time.perf_counter() - started, 3)
    if report.status == "applied" and not dry_run and report.rows >= ANALYZE_MIN_ROWS:
        _analyze_charges()
    return report


# After an import this large, PostgreSQL's statistics are refreshed at once rather than when
# autovacuum gets to it: until then the planner may not use the charge indexes.
ANALYZE_MIN_ROWS = 50_000
ANALYZE_COLUMNS = (
    "period_id", "active", "review_state", "batch_id", "source_id", "pi_id", "project_id", "resource_id",
    "service_name", "fund_org",
)  # fmt: skip


def _analyze_charges() -> None:
    from django.db import connection

    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            # The columns the charge indexes and filters use, from a sample of 3,000 rows: enough
            # for the planner to pick the indexes, in a twentieth of the time of a full ANALYZE
            # (50 ms for a million charges); autovacuum refines them with its own full sample.
            cursor.execute("SET LOCAL default_statistics_target = 10")
            cursor.execute(f"ANALYZE billing_charge ({', '.join(ANALYZE_COLUMNS)})")


def _batch_ingest(
    *,
    paths: Sequence[Path],
    source_name: str | None,
    period: str | None,
    actor: Actor,
    dry_run: bool,
    display_names: Sequence[str] | None,
    progress: ProgressCallback | None,
    usage_files: Sequence[tuple[Path, str]] = (),
    subsidy_ledger: SubsidyLedger | None = None,
    replace: bool = False,
) -> IngestReport:
    if not paths:
        raise BillingError("no files given")
    names = list(display_names or [p.name for p in paths])
    resolved = [p.resolve() for p in paths]
    for i, path in enumerate(resolved):
        if path in resolved[:i]:
            raise BillingError(f"{names[i]} is given twice")
    if not source_name:
        source_name = detect_source(names[0]).name
    source = Source.objects.filter(name=source_name).first()
    if source is None:
        known = ", ".join(Source.objects.values_list("name", flat=True)) or "none"
        raise BillingError(
            f"unknown source {source_name!r} (known: {known}); add it with 'openchargeback sources add {source_name}'"
        )
    if not source.enabled:
        raise BillingError(f"source {source.name!r} is disabled; enable it in the admin first")
    for path, name in zip(paths, names, strict=True):
        if not path.is_file():
            raise IngestError(name, None, "no such file")
        input_file_check(path=path, name=name)  # size limit; CSV or gzip'd CSV by content
    if period is None:
        period = detect_period(paths)
        if period is None:
            raise ChoiceNeeded(
                "cannot tell the billing period from the file names or contents", cli="give --period",
                web="choose the period",
            )  # fmt: skip
    try:
        validate_period(period)
    except Exception:
        raise BillingError(f"{period!r} is not a billing period (use YYYY-MM)") from None

    hashes = []
    for path, name in zip(paths, names, strict=True):
        try:
            hashes.append(file_sha256(path))
        except OSError as exc:
            raise IngestError(name, None, f"cannot read the file ({exc.strerror or exc})") from None
    content_sha = hashlib.sha256("".join(sorted(h for h, _ in hashes)).encode()).hexdigest()
    report = IngestReport(status="dry_run" if dry_run else "applied", source=source.name, period=period, files=names)

    existing = (
        ImportBatch.objects.select_related("source", "period")
        .filter(content_sha256=content_sha, status=ImportBatch.Status.APPLIED)
        .first()
    )
    if existing is not None and (existing.source_id, existing.period.period) != (source.pk, period):
        raise BillingError(
            f"these files were already imported as batch {existing.pk} for source {existing.source.name}, "
            f"period {existing.period.period}; roll that batch back first to import them elsewhere"
        )
    if existing is not None:
        report.status = "already_imported"
        report.batch_id = existing.pk
        report.rows = existing.row_count
        report.list_total, report.billed_total = existing.list_total, existing.billed_total
        report.flagged_rows, report.flagged_cost = existing.flagged_rows, existing.flagged_cost
        report.periods_seen, report.flag_counts = existing.periods_seen, existing.flag_counts
        report.currencies, report.focus_version = existing.currencies, existing.focus_version
        return report

    if dry_run:
        period_obj = BillingPeriod.objects.filter(period=period).first()
        if period_obj is not None and not period_obj.accepts_changes:
            raise BillingError(f"period {period} is {period_obj.status}; imports are refused")
        previous = _applied_batch(source, period_obj) if period_obj is not None else None
        counter = DecisionCounter(previous) if previous is not None else None
        report.add_figures(
            ingest_rows(paths=paths, names=names, period=period, writer=None, progress=progress, dry_run_sink=counter)
        )
        if previous is not None and counter is not None:
            report.replaced_batch_id = previous.pk
            report.carried_decisions = counter.matched
            report.replaces = batch_replacement(previous) | {"decisions_carried_over": counter.matched}
        return report

    stored: list[str] = []
    writer: ChargeWriter | None = None
    try:
        with staging_on_disk(), transaction.atomic():
            period_obj = period_get_or_open(period=period, actor=actor, for_update=True)
            if not period_obj.accepts_changes:
                raise BillingError(f"period {period} is {period_obj.status}; imports are refused")
            previous = _applied_batch(source, period_obj, for_update=True)
            if previous is not None and not replace:
                raise replacement_refusal(previous)
            if previous is not None:
                report.replaces = batch_replacement(previous)
            batch = ImportBatch.objects.create(
                source=source, period=period_obj, content_sha256=content_sha,
                actor=actor.label, user_id=actor.user_id,
                status=ImportBatch.Status.ROLLED_BACK,  # becomes APPLIED once every row is in
            )  # fmt: skip
            for path, name, (sha, size) in zip(paths, names, hashes, strict=True):
                stored_name, created = original_store(path=path, name=name, sha=sha, size=size)
                if created:
                    stored.append(stored_name)
                ImportFile.objects.create(batch=batch, name=name, sha256=sha, size=size, stored=stored_name)
            writer = ChargeWriter(batch_id=batch.pk, period_id=period_obj.pk, source_id=source.pk)
            result = ingest_rows(paths=paths, names=names, period=period, writer=writer, progress=progress)
            report.add_figures(result)
            for import_file, rows in zip(batch.files.order_by("id"), result.rows_per_file, strict=True):
                import_file.rows = rows
                import_file.save(update_fields=["rows"])
            for path, name in usage_files:
                sha, size = file_sha256(path)
                stored_name, created = original_store(path=path, name=name, sha=sha, size=size)
                if created:
                    stored.append(stored_name)
                ImportFile.objects.create(
                    batch=batch, name=name, sha256=sha, size=size, stored=stored_name, role=ImportFile.Role.USAGE
                )
            if previous is not None:
                previous.status = ImportBatch.Status.SUPERSEDED
                previous.save(update_fields=["status"])
                Charge.objects.filter(batch=previous).update(active=False)
                report.replaced_batch_id = previous.pk
                report.carried_decisions = carry_over_decisions(previous=previous, batch=batch, actor=actor)
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
            source.last_import_status = f"batch {batch.pk}: {report.rows} rows, {report.flagged_rows} flagged"
            source.last_import_at = timezone.now()
            source.save(update_fields=["last_import_status", "last_import_at"])
            report.batch_id = batch.pk
            audit_record(
                actor=actor, action="batch.import", obj=batch, period=period,
                before={"batch": previous.pk} if previous else None,
                after=report.as_dict(),
            )  # fmt: skip
            if subsidy_ledger is not None:
                subsidy_usage_record(ledger=subsidy_ledger, actor=actor)
            after_import_schedule(period=period, batch_id=batch.pk)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    finally:
        if writer is not None:
            writer.detach()
    return report


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
