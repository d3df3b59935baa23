"""Export a period's journal: checked, written, numbered, checksummed and kept."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import Count, Max, Q

from billing.models import BillingPeriod, PeriodTransition, Source
from billing.selectors.figures import billed_charges
from billing.selectors.readiness import Problem, readiness_require
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError
from chargeback.money import CENT
from journals.models import JournalExport, JournalFormat
from journals.selectors import current_statements, statements_fingerprint
from journals.services.build import Journal, journal_build
from journals.services.output import render_lines
from statements.models import GenerationRun, Statement

BUILT_IN = (JournalFormat.Kind.DETAIL, JournalFormat.Kind.SUMMARY, JournalFormat.Kind.GL)
JOURNAL_CHECKED = ("source_credit", "journal_fund_org", "journal_credit_fund_org")


@dataclass
class JournalReport:
    number: str
    period: str
    format: str
    kind: str
    currency: str
    statements: int
    statements_due: Decimal
    debit_total: Decimal
    credit_total: Decimal
    debit_lines: int
    credit_lines: int
    lines: int
    sha256: str
    file: str
    export_id: int
    output: str = ""

    def as_dict(self) -> dict[str, Any]:
        def cents(amount: Decimal) -> str:
            # Whole cents by construction; the same text on SQLite and PostgreSQL (numeric(38, 10)).
            return format(amount.quantize(CENT), "f")

        return {
            "number": self.number, "period": self.period, "format": self.format, "kind": self.kind,
            "currency": self.currency, "statements": self.statements, "statements_due": cents(self.statements_due),
            "debit_total": cents(self.debit_total), "credit_total": cents(self.credit_total),
            "debit_lines": self.debit_lines, "credit_lines": self.credit_lines, "lines": self.lines,
            "sha256": self.sha256, "file": self.file, "export_id": self.export_id, "output": self.output,
        }  # fmt: skip


def journal_format_get(name: str) -> JournalFormat:
    """An enabled format by name; the built-in kinds (detail, summary, gl) exist without a row."""
    name = name.strip()
    fmt = JournalFormat.objects.filter(name=name).first()
    if fmt is not None:
        if not fmt.enabled:
            raise BillingError(f"journal format {name} is disabled; enable it in the admin or pick another")
        return fmt
    if name in BUILT_IN:
        return JournalFormat(name=name, kind=name)
    names = sorted({*BUILT_IN, *JournalFormat.objects.filter(enabled=True).values_list("name", flat=True)})
    raise BillingError(f"no journal format {name!r}; choose from {', '.join(names)}")


def journal_prepare(*, month: str, format_name: str) -> tuple[BillingPeriod, Journal]:
    """Check the period and its statements, then build the journal (nothing is written)."""
    obj = BillingPeriod.of(month)
    if obj.status == BillingPeriod.Status.OPEN:
        raise BillingError(
            f"period {month} is open; a journal is built from statements, which exist only for closed periods: "
            f"close it and generate the statements first"
        )
    fmt = journal_format_get(format_name)
    # The build names its own format's problems (fund/orgs, credit side, accounts) with the statements.
    readiness_require(obj, step="have its journal exported", left_to_caller=JOURNAL_CHECKED)
    statements = current_statements(obj)
    if not statements.exists():
        raise BillingError(
            f"period {month} has no statements; generate them first (openchargeback generate -p {month})"
        )
    drafts = statements.filter(status=Statement.Status.DRAFT).count()
    if drafts:
        raise BillingError(
            f"period {month} has {drafts} draft statement{'s' if drafts != 1 else ''} whose PDF is still being "
            "rendered; export the journal once every statement is final"
        )
    _check_statements_current(obj)
    return obj, journal_build(period=obj, fmt=fmt)


def _check_statements_current(period: BillingPeriod) -> None:
    """Refuse statements generated before the period was last reopened (regenerate them first).

    Charges change only while a period is open, so statements generated after the last reopening
    are those of the charges. This reads two rows instead of every charge of the period: the
    exact comparison with the charges is the reconciliation panel's (`period_reconciliation`).
    """
    reopened = (
        PeriodTransition.objects.filter(period=period, to_status=BillingPeriod.Status.OPEN)
        .exclude(from_status="")
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    # Only a generation of the whole period counts: one PI's leaves the others' statements as they were.
    whole = Q(report__pi_email="") | Q(report__pi_email__isnull=True)
    generated = (
        GenerationRun.objects.filter(whole, period=period)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if reopened is not None and (generated is None or generated < reopened):
        raise BillingError(
            f"period {period.period} was reopened on {reopened:%Y-%m-%d %H:%M} after its statements were generated; "
            f"regenerate them (openchargeback generate -p {period.period}) and export again"
        )


def journal_preview(*, month: str, format_name: str, limit: int = 20) -> tuple[Journal, str]:
    """The journal's totals and the first `limit` lines of its file, without saving anything."""
    _, journal = journal_prepare(month=month, format_name=format_name)
    return journal, "".join(render_lines(journal, reference=f"{month}-J(preview)", limit=limit))


def journal_export(*, month: str, format_name: str, actor: Actor) -> JournalReport:
    """Write the journal of a closed or finalized period's current statements and record it.

    Every export is a new numbered file; earlier ones are kept. A finalized period can be exported
    again and gives the same figures (its statements can no longer change).
    """
    with transaction.atomic():
        locked = BillingPeriod.objects.select_for_update().filter(period=month).first()
        obj, journal = journal_prepare(month=month, format_name=format_name)
        assert locked is not None and locked.pk == obj.pk
        fmt = journal.format
        sequence = (JournalExport.objects.filter(period=obj).aggregate(m=Max("sequence"))["m"] or 0) + 1
        number = f"{obj.period}-J{sequence:03d}"
        digest = hashlib.sha256()
        with tempfile.TemporaryFile() as fh:
            for chunk in render_lines(journal, reference=number):
                data = chunk.encode("utf-8")
                digest.update(data)
                fh.write(data)
            fh.seek(0)
            count, statements_sha = statements_fingerprint(obj)
            export = JournalExport(
                period=obj, sequence=sequence, number=number, format=fmt if fmt.pk else None, format_name=fmt.name,
                format_kind=fmt.kind, sha256=digest.hexdigest(), currency=journal.currency,
                statement_count=count, statements_due=journal.statements_due, statements_sha256=statements_sha,
                debit_total=journal.debit_total, credit_total=journal.credit_total,
                debit_lines=len(journal.debits), credit_lines=len(journal.credits), line_count=len(journal.lines),
                actor=actor.label, user_id=actor.user_id,
            )  # fmt: skip
            export.file.save(f"{number}-{fmt.name}.csv", File(fh), save=False)
        export.save()
        report = JournalReport(
            number=number, period=obj.period, format=fmt.name, kind=fmt.kind, currency=journal.currency,
            statements=count, statements_due=journal.statements_due, debit_total=journal.debit_total,
            credit_total=journal.credit_total, debit_lines=export.debit_lines, credit_lines=export.credit_lines,
            lines=export.line_count, sha256=export.sha256, file=export.file.name or "", export_id=export.pk,
        )  # fmt: skip
        audit_record(
            actor=actor, action="journal.export", obj=export, month=obj.period,
            after={k: v for k, v in report.as_dict().items() if k not in ("export_id", "output")},
        )  # fmt: skip
    return report


def finalize_check(period_obj: BillingPeriod) -> None:
    """Refuse to finalize a period whose current statements have no journal export yet."""
    count, sha = statements_fingerprint(period_obj)
    if count and not JournalExport.objects.filter(period=period_obj, statements_sha256=sha).exists():
        raise BillingError(
            f"period {period_obj.period} has statements but no journal export of its current statements; "
            f"export the journal (openchargeback export-journal -p {period_obj.period}) before finalizing"
        )


def readiness_check(period_obj: BillingPeriod) -> Iterable[Problem]:
    """Fund/orgs the default journal format (the one export-journal uses) will refuse."""
    try:
        fmt = journal_format_get("gl")
    except BillingError:
        return
    pattern = re.compile(fmt.fund_org_regex)
    per_fund = billed_charges(period=period_obj).values_list("fund_org").annotate(n=Count("id")).order_by("fund_org")
    bad = [(fund, n) for fund, n in per_fund if not pattern.match(fund)]
    if bad:
        n = sum(count for _, count in bad)
        shown = ", ".join(repr(fund) for fund, _ in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        yield Problem(
            "journal_fund_org",
            f"{n} charge{'s' if n != 1 else ''} to bill have a fund/org the journal format {fmt.name} will refuse "
            f"({shown}; pattern {fmt.fund_org_regex}): correct their attribution or the format's pattern",
            n,
        )
    sources = billed_charges(period=period_obj).values("source_id").distinct()
    for name, credit in (
        Source.objects.filter(pk__in=sources).exclude(credit_fund_org="").values_list("name", "credit_fund_org")
    ):
        if not pattern.match(credit):
            yield Problem(
                "journal_credit_fund_org",
                f"source {name}'s credit fund/org {credit!r} does not match the journal format {fmt.name}'s pattern "
                f"{fmt.fund_org_regex}: correct it (admin → Sources) or change the pattern",
                1,
            )
