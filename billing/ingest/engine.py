"""The ingest engine's one entry point: `ingest_rows` parses a batch's files, attributes and flags
every row, totals them and, unless it is a dry run, writes them as charges.

It knows nothing of the rules around an import (the source and period, the same files again, a
batch replaced, the originals kept, the audit trail): `billing.services.ingest.batch_ingest`
keeps those and copies the figures of the `IngestResult` onto its report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings

from chargeback.money import from_scaled

from .pipeline import Job, Parsed, parse
from .reader import IngestError, Limits
from .rows import SLOT, Combo, Tally, combo_reasons, row_patterns
from .rules import Attribution, Attributor, RuleSnapshot
from .stage import NullSink, Sink
from .staging import staging_dir, staging_sweep
from .writer import ChargeWriter, MasterData, flavor


@dataclass
class IngestResult:
    """What the engine parsed (and, unless a dry run, wrote): the figures an import reports."""

    rows_per_file: list[int]
    rows: int
    list_total: Decimal
    billed_total: Decimal
    flagged_rows: int
    flagged_cost: Decimal
    flag_counts: dict[str, int]
    periods_seen: dict[str, int]
    currencies: list[str]
    focus_version: str  # the files' FOCUS versions, joined by commas
    new_pis: int
    new_projects: int
    worker_peak_rss_mb: float | None  # the parsing worker's memory, when one was used
    warnings: list[str] = field(default_factory=list)


def ingest_rows(
    *,
    paths: Sequence[Path],
    names: Sequence[str],
    month: str,
    writer: ChargeWriter | None,
    progress: Callable[[int, int], None] | None = None,
    dry_run_sink: Sink | None = None,
) -> IngestResult:
    """Parse every row of every file (attributed, flagged, totalled) and, with a `writer`, write it.

    Without a writer nothing is written: a dry run. A `dry_run_sink` sees every parsed row (the
    review decisions that would carry over are counted so), so the batch is then parsed in this
    process only. Raises IngestError (a bad line, named with its file, line and column)."""
    master = MasterData() if writer is not None else None
    snapshot = RuleSnapshot.load(month=month)
    job = Job(
        paths=[str(p) for p in paths], names=list(names), flavor=flavor(), snapshot=snapshot,
        chunk_rows=max(100, settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS), limits=Limits.from_settings(),
    )  # fmt: skip
    attributor = Attributor(snapshot, known_pis=MasterData.emails() if master is None else master.known_emails())
    decider = _Decider(
        attributor, row_patterns(attributor.flag_patterns, SLOT), master,
        before_db=writer.pause if writer is not None else None,
    )  # fmt: skip
    totals = _Totals(files=len(paths))
    # Staging folders of imports killed before they could remove theirs go first.
    staging_sweep(before=time.time())
    with staging_dir() as tmp, _ending_copy_on_error(writer):
        sink: Any = writer.sink(decider.decide) if writer is not None else dry_run_sink or NullSink()
        for parsed in parse(
            job, worker_min_bytes=-1 if dry_run_sink is not None else settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES,
            sink=sink,
            stage_dir=tmp if writer is not None else None, progress=progress,
        ):  # fmt: skip
            decided = decider.decide(_combos_to_decide(parsed, decider))
            if writer is not None:
                _load(writer, parsed, decided)
            totals.add(parsed, decider)
        if writer is not None:
            writer.finish()
            if writer.written != totals.tally.rows:  # every parsed line is a charge, or nothing is imported
                raise IngestError(
                    names[0], None,
                    f"{totals.tally.rows} lines were read but {writer.written} stored; nothing was imported",
                )  # fmt: skip
    return totals.result(names, attributor)


def _combos_to_decide(parsed: Parsed, decider: _Decider) -> list[tuple[int, Combo]]:
    """Attribution in file order: combinations are decided in order of first sight, this process's
    part while it was written, a worker's with each staging file it finished."""
    staged = list(parsed.combos)
    for part, part_tally, _ in parsed.tallies:
        base = part.index << 32
        done = decider.done
        staged += ((base + k, combo) for k, combo in enumerate(part_tally.combos) if base + k not in done)
    return staged


def _load(writer: ChargeWriter, parsed: Parsed, decided: list[tuple[Any, ...]]) -> None:
    """Write the rows of a step: a worker's staging file, or what this process staged itself."""
    if parsed.stages:
        writer.load(parsed.stages[0], decided)
    else:
        writer.add_combos(decided)
        writer.load_own()


class _Totals:
    """The batch's figures as the parsed parts come in: rows per file, FOCUS versions, flags."""

    def __init__(self, *, files: int) -> None:
        self.tally = Tally()
        self.rows_per_file = [0] * files
        self.versions: list[set[str]] = [set() for _ in range(files)]
        self.worker_rss: float | None = None

    def add(self, parsed: Parsed, decider: _Decider) -> None:
        tally = self.tally
        for part, part_tally, version in parsed.tallies:
            tally.merge(part_tally)
            self.rows_per_file[part.file_index] += part_tally.rows
            if version:
                self.versions[part.file_index].add(version)
            base = part.index << 32
            for k, count in enumerate(part_tally.combo_rows):
                reasons = decider.done[base + k][1]
                if reasons:
                    tally.flagged_rows += count
                    tally.flagged_units += part_tally.combo_billed[k]
                    for reason in reasons:
                        tally.flag_counts[reason.partition(":")[0]] += count
        self.worker_rss = parsed.worker_peak_rss_mb or self.worker_rss

    def result(self, names: Sequence[str], attributor: Attributor) -> IngestResult:
        tally = self.tally
        return IngestResult(
            rows_per_file=self.rows_per_file,
            rows=tally.rows,
            list_total=from_scaled(tally.list_units),
            billed_total=from_scaled(tally.billed_units),
            flagged_rows=tally.flagged_rows,
            flagged_cost=from_scaled(tally.flagged_units),
            flag_counts=dict(sorted(tally.flag_counts.items())),
            periods_seen=dict(sorted(tally.periods.items())),
            currencies=sorted(tally.currencies),
            focus_version=",".join(sorted(set().union(*self.versions))),
            new_pis=len(attributor.all_new_pis),
            new_projects=len(attributor.all_new_projects),
            worker_peak_rss_mb=self.worker_rss,
            warnings=self.warnings(names),
        )

    def warnings(self, names: Sequence[str]) -> list[str]:
        tally = self.tally
        warnings = [f"{name}: no data lines" for name, rows in zip(names, self.rows_per_file, strict=True) if rows == 0]
        if tally.rounded_values:
            warnings.append(f"{tally.rounded_values} amounts had more than 10 decimal places and were rounded half-up")
        if tally.rounded_quantities:
            warnings.append(
                f"{tally.rounded_quantities} quantities had more than 10 decimal places and were rounded half-up"
            )
        if len(tally.currencies) > 1:
            warnings.append(f"more than one currency in the batch: {', '.join(sorted(tally.currencies))}")
        return warnings


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
