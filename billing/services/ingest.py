"""Import FOCUS files as one batch: atomic, idempotent, replacing, nothing lost.

`batch_ingest` is the one entry point, behind `openchargeback ingest` and the admin upload.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import localcontext
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from billing.ingest.pipeline import Job, parse
from billing.ingest.reader import FileReader, IngestError, Limits, file_sha256
from billing.ingest.rows import SLOT, Combo, Tally, combo_reasons, parse_date, row_patterns
from billing.ingest.rules import Attribution, Attributor, RuleSnapshot
from billing.ingest.stage import NullSink
from billing.ingest.staging import staging_dir, staging_sweep
from billing.ingest.writer import ChargeWriter, MasterData, flavor, staging_on_disk
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
from chargeback.money import from_scaled

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
        _process(paths, names, report, period=period, writer=None, progress=progress, counter=counter)
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
            per_file = _process(paths, names, report, period=period, writer=writer, progress=progress)
            for import_file, rows in zip(batch.files.order_by("id"), per_file, strict=True):
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


def _process(
    paths: Sequence[Path],
    names: Sequence[str],
    report: IngestReport,
    *,
    period: str,
    writer: ChargeWriter | None,
    progress: ProgressCallback | None,
    counter: DecisionCounter | None = None,
) -> list[int]:
    """Parse every row of every file (attributed, flagged, totalled) and, unless a dry run, write it.

    A dry run with a `counter` counts the rows whose review decision would carry over (parsed in
    this process only, as the counter sees every row)."""
    master = MasterData() if writer is not None else None
    snapshot = RuleSnapshot.load(period=period)
    job = Job(
        paths=[str(p) for p in paths], names=list(names), flavor=flavor(), snapshot=snapshot,
        chunk_rows=max(100, settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS), limits=Limits.from_settings(),
    )  # fmt: skip
    attributor = Attributor(snapshot, known_pis=MasterData.emails() if master is None else master.known_emails())
    decider = _Decider(
        attributor, row_patterns(attributor.flag_patterns, SLOT), master,
        before_db=writer.pause if writer is not None else None,
    )  # fmt: skip
    tally = Tally()
    rows_per_file = [0] * len(paths)
    versions: list[set[str]] = [set() for _ in paths]
    worker_rss: float | None = None
    # Staging folders of imports killed before they could remove theirs go first.
    staging_sweep(before=time.time())
    with staging_dir() as tmp, _ending_copy_on_error(writer):
        sink: Any = writer.sink(decider.decide) if writer is not None else counter or NullSink()
        for parsed in parse(
            job, worker_min_bytes=-1 if counter is not None else settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES,
            sink=sink,
            stage_dir=tmp if writer is not None else None, progress=progress,
        ):  # fmt: skip
            # Attribution in file order: combinations are decided in order of first sight, this
            # process's part while it was written, a worker's with each staging file it finished.
            staged = list(parsed.combos)
            for part, part_tally, _ in parsed.tallies:
                base = part.index << 32
                done = decider.done
                staged += ((base + k, combo) for k, combo in enumerate(part_tally.combos) if base + k not in done)
            decided = decider.decide(staged)
            if writer is not None:
                if parsed.stages:
                    writer.load(parsed.stages[0], decided)
                else:
                    writer.add_combos(decided)
                    writer.load_own()
            for part, part_tally, version in parsed.tallies:
                tally.merge(part_tally)
                rows_per_file[part.file_index] += part_tally.rows
                if version:
                    versions[part.file_index].add(version)
                base = part.index << 32
                for k, count in enumerate(part_tally.combo_rows):
                    reasons = decider.done[base + k][1]
                    if reasons:
                        tally.flagged_rows += count
                        tally.flagged_units += part_tally.combo_billed[k]
                        for reason in reasons:
                            tally.flag_counts[reason.partition(":")[0]] += count
            worker_rss = parsed.worker_peak_rss_mb or worker_rss
        if writer is not None:
            writer.finish()
            if writer.written != tally.rows:  # every parsed line is a charge, or nothing is imported
                raise IngestError(
                    names[0], None, f"{tally.rows} lines were read but {writer.written} stored; nothing was imported"
                )
    for name, rows in zip(names, rows_per_file, strict=True):
        if rows == 0:
            report.warnings.append(f"{name}: no data lines")
    report.rows = tally.rows
    report.list_total, report.billed_total = from_scaled(tally.list_units), from_scaled(tally.billed_units)
    report.flagged_rows, report.flagged_cost = tally.flagged_rows, from_scaled(tally.flagged_units)
    report.flag_counts = dict(sorted(tally.flag_counts.items()))
    report.periods_seen = dict(sorted(tally.periods.items()))
    report.currencies = sorted(tally.currencies)
    report.focus_version = ",".join(sorted(set().union(*versions)))
    report.new_pis, report.new_projects = len(attributor.all_new_pis), len(attributor.all_new_projects)
    report.worker_peak_rss_mb = worker_rss
    if tally.rounded_values:
        report.warnings.append(
            f"{tally.rounded_values} amounts had more than 10 decimal places and were rounded half-up"
        )
    if tally.rounded_quantities:
        report.warnings.append(
            f"{tally.rounded_quantities} quantities had more than 10 decimal places and were rounded half-up"
        )
    if len(tally.currencies) > 1:
        report.warnings.append(f"more than one currency in the batch: {', '.join(sorted(tally.currencies))}")
    return rows_per_file


@contextmanager
def _ending_copy_on_error(writer: ChargeWriter | None) -> Iterator[None]:
    """A COPY still open when the import fails is ended (failed) so the transaction can roll back."""
    try:
        yield
    except BaseException as exc:
        if writer is not None:
            with suppress(Exception):  # the import's own error is the one to report
                writer.pause(exc)
        raise


class _Decider:
    """Attributes combinations (tag values, account values, row flags) in the order given, once
    each: a mapped account where the tags name no project, the flag reasons, and, when writing,
    the PIs and projects seen for the first time created. `decide` gives the rows the writer
    needs, (ck, *ATTRIBUTION_COLUMNS); `done` keeps each combination's attribution and reasons."""

    def __init__(
        self, attributor: Attributor, patterns: list[Any], master: MasterData | None,
        before_db: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.attributor, self.patterns, self.master, self.before_db = attributor, patterns, master, before_db
        self.done: dict[int, tuple[Attribution, list[str]]] = {}

    def decide(self, items: list[tuple[int, Combo]]) -> list[tuple[Any, ...]]:
        attributor = self.attributor
        for ck, (values, accounts, bits) in items:
            attr = attributor.attribute_values(values)
            if accounts and attr.project_code is None:
                attr = attributor.map_account(attr, accounts)
            self.done[ck] = (attr, combo_reasons(attr, bits, self.patterns))
        if self.master is None:
            return []
        events = attributor.take_events()
        if events:
            if self.before_db is not None:
                self.before_db()  # the writer's COPY, if one is open, ends first
            self.master.apply(events)
        pis, projects = self.master.pis, self.master.projects
        rows = []
        for ck, _ in items:
            a, reasons = self.done[ck]
            rows.append((
                ck, pis[a.pi_email] if a.pi_email is not None else None,
                projects[a.project_code] if a.project_code is not None else None,
                a.fund_org, a.cost_center, a.account_code, a.reference_1, a.reference_2, a.rule,
                "flagged" if reasons else "ok", ("," + ",".join(reasons) + ",") if reasons else "",
            ))  # fmt: skip
        return rows
