"""Convert Slurm or storage usage into a FOCUS 1.2 file, priced with the rates and subsidies.

`usage_convert` is the one entry point: `openchargeback convert`, `ingest --from` and the admin
import page all call it; `convert_and_ingest` converts and imports in one step. Writing the file
and recording the subsidies it used are separate steps (`record_usage`), so a preview or a dry
run never spends a cap; an import records them in its own transaction, so a batch is never
applied without the caps it spent (nor the caps spent without the batch).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from billing.converters.common import Context, ConvertReport
from billing.converters.focus import write_focus
from billing.converters.slurm import convert_slurm
from billing.converters.storage import convert_storage
from billing.ingest.reader import IngestError
from billing.models import Source
from billing.pricing import SubsidyLedger
from chargeback.audit import Actor
from chargeback.errors import BillingError, ChoiceNeeded
from chargeback.models import Organization
from chargeback.money import ZERO

from .ingest import IngestReport, batch_ingest
from .input_checks import PERIOD_IN_NAME
from .periods import period_validate
from .rates import subsidy_usage_record

KINDS = {"slurm": "Slurm sacct", "storage": "Storage usage"}
DEFAULT_SOURCE = {"slurm": "hpc", "storage": "storage"}


def usage_convert(
    *,
    kind: str,
    paths: Sequence[Path],
    month: str,
    actor: Actor,
    output: Path | None = None,
    source_name: str | None = None,
    record_usage: bool = False,
    display_names: Sequence[str] | None = None,
    options: dict[str, Any] | None = None,
) -> ConvertReport:
    """Convert `paths` of `kind` for `month`; write `output` when given; with `record_usage`,
    keep what the subsidies' caps spent (replacing an earlier conversion of the source and period).

    Raises IngestError (a bad input file, or a partition or tier without a rate, named with its
    line) or BillingError (unknown kind, source or period). Nothing is written then.
    """
    report, ledger = _convert(
        kind=kind, paths=paths, month=month, output=output, source_name=source_name, display_names=display_names,
        options=options,
    )  # fmt: skip
    if record_usage:
        subsidy_usage_record(ledger=ledger, actor=actor)
    return report


def _convert(
    *,
    kind: str,
    paths: Sequence[Path],
    month: str,
    output: Path | None,
    source_name: str | None,
    display_names: Sequence[str] | None,
    options: dict[str, Any] | None,
) -> tuple[ConvertReport, SubsidyLedger]:
    """The conversion, and the subsidy ledger holding what it spent (not recorded yet)."""
    if kind not in KINDS:
        raise BillingError(f"unknown kind {kind!r} (choose from {', '.join(KINDS)})")
    if not paths:
        raise BillingError("no files given")
    period_validate(month)
    names = list(display_names or [p.name for p in paths])
    for path, name in zip(paths, names, strict=True):
        if not path.is_file():
            raise IngestError(name, None, "no such file")
    source_name = source_name or DEFAULT_SOURCE[kind]
    source = Source.objects.filter(name=source_name).first()
    if source is None:
        raise BillingError(f"unknown source {source_name!r}; add it with 'openchargeback sources add {source_name}'")
    org = Organization.current()
    ctx = Context(
        month=month, currency=org.expected_currency.upper(), issuer=org.name, provider=str(source),
        ledger=SubsidyLedger.load(source=source, month=month), invoice_id=f"{source.name}-{month}",
    )  # fmt: skip
    report = ConvertReport(kind=kind, source=source.name, period=month, inputs=names, dry_run=output is None)
    opts = dict(options or {})
    with localcontext() as dec:
        dec.prec = 60
        if kind == "slurm":
            opts.setdefault("timezone", settings.OPENCHARGEBACK_SLURM_TIMEZONE)
            try:
                ZoneInfo(opts["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                raise BillingError(f"unknown time zone {opts['timezone']!r} (e.g. UTC, America/Denver)") from None
            opts.setdefault("billable", settings.OPENCHARGEBACK_SLURM_BILLABLE_STATES)
            lines, extensions = convert_slurm(paths, names, ctx=ctx, report=report, **opts)
        else:
            lines, extensions = convert_storage(paths, names, ctx=ctx, report=report)
        for line in lines:
            report.list_total += Decimal(line.values["ListCost"])
            report.billed_total += Decimal(line.values["BilledCost"])
    codes = {rule.pk: rule.code for rule in ctx.ledger.rules}
    report.subsidies = {codes[pk]: amount for pk, amount in ctx.ledger.used_now.items() if amount}
    report.subsidy_total = sum(report.subsidies.values(), ZERO)
    report.rows = len(lines)
    if output is not None:
        _write_atomically(output, lines, extensions)
        report.output = str(output)
    return report, ctx.ledger


def _write_atomically(output: Path, lines: Any, extensions: Sequence[str]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            write_focus(fh, lines, extensions)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert_and_ingest(
    *,
    kind: str,
    paths: Sequence[Path],
    month: str | None,
    source_name: str | None,
    actor: Actor,
    folder: Path,
    dry_run: bool = False,
    display_names: Sequence[str] | None = None,
    options: dict[str, Any] | None = None,
    replace: bool = False,
) -> tuple[ConvertReport, IngestReport]:
    """Convert usage files (`usage_convert`) into one FOCUS file in `folder` and import it.

    The period comes from the file names when not given. The subsidies' caps are recorded in the
    import's transaction: both commit or neither does; a dry run, or files already imported,
    record nothing.
    """
    names = list(display_names or [p.name for p in paths])
    if month is None:
        found = [m for m in (PERIOD_IN_NAME.search(n) for n in names) if m]
        if not found:
            raise ChoiceNeeded(
                "cannot tell the billing period from the file names", cli="give --period", web="choose the period"
            )
        month = f"{found[0].group(1)}-{found[0].group(2)}"
    source_name = source_name or DEFAULT_SOURCE.get(kind)
    output = folder / f"{source_name}-{month}-{kind}.csv"
    converted, ledger = _convert(
        kind=kind, paths=paths, month=month, output=output, source_name=source_name, display_names=names,
        options=options,
    )  # fmt: skip
    report = batch_ingest(
        paths=[output], source_name=converted.source, month=month, actor=actor, dry_run=dry_run,
        usage_files=list(zip(paths, names, strict=True)), subsidy_ledger=ledger, replace=replace,
    )  # fmt: skip
    return converted, report
