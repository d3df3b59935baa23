"""Move an OpenChargeback `config.yaml` (the older YAML-configured tool) into the database.

Only the business rules move: tag mapping, review patterns, known sources, the GL journal
settings, and the contact statements give (`email.from_address` and `from_name`, which the old
tool printed on its statements as the address for questions). Runtime settings (SMTP, web,
database, paths, logging) are environment variables here, so those keys are reported as
ignored, with where their replacement lives. Values are taken as
written: `${VAR}` references are not expanded and the old tool's defaults are not filled in.

`config_load` reads the file and `config_plan` validates everything first, without the database
(both in `journals.services.config_plan`); `config_import` then applies the plan in one
transaction with one audit event. Running it again changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.text import slugify

from billing.models import FlagPattern, FundOrgPattern, Source, TagMapping
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError
from chargeback.models import Organization
from journals.models import JournalFormat
from journals.services.config_plan import ConfigImportReport, ConfigPlan, config_plan, type_name

# The old tool searched these columns with each review.flag_patterns regex.
FLAG_FIELDS = "service_name,resource_id,resource_name"
IMPORTED_NOTE = "imported from config.yaml"
GL_FORMAT = "gl"


def _check(obj: models.Model, what: str) -> None:
    try:
        obj.full_clean()
    except ValidationError as exc:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise BillingError(f"{what}: {details}") from None


def config_import(*, data: dict[str, Any], actor: Actor, dry_run: bool = False) -> ConfigImportReport:
    """Load the rules of an old `config.yaml` (already parsed) into the database.

    Everything is validated before anything is written; any error refuses the whole import.
    Existing rows are kept: a tag key from the file goes first for its field (other keys stay, after
    it), patterns already present are not duplicated, sources and the `gl` journal format change
    only where the file gives a value. A dry run reports the same without writing.
    """
    if not isinstance(data, dict):
        raise BillingError(f"the configuration must be a mapping of keys (found {type_name(data)})")
    report = ConfigImportReport(dry_run=dry_run)
    plan = config_plan(data=data, report=report)
    write = not dry_run
    with transaction.atomic():
        _apply_tag_mapping(plan, report, write)
        _apply_flag_patterns(plan, report, write)
        _apply_fund_org_patterns(plan, report, write)
        _apply_sources(plan, report, write)
        _apply_journal(plan, report, write)
        _apply_contact(plan, report, write)
        if write:
            audit_record(actor=actor, action="config.import", after=report.as_dict())
    return report


def _apply_tag_mapping(plan: ConfigPlan, report: ConfigImportReport, write: bool) -> None:
    kind = "tag_mappings"
    for name, tag_key in plan.tag_mapping:
        rows = list(TagMapping.objects.select_for_update().filter(field=name).order_by("priority", "id"))
        mine = next((r for r in rows if r.tag_key == tag_key), None)
        if mine is None:
            if write:
                TagMapping.objects.create(field=name, tag_key=tag_key, priority=0)
            report.created[kind] += 1
            report.changes.append(f"tag mapping {name}: added tag {tag_key!r}, tried first")
        elif mine.priority != 0:
            mine.priority = 0
            if write:
                mine.save(update_fields=["priority"])
            report.updated[kind] += 1
            report.changes.append(f"tag mapping {name}: tag {tag_key!r} now tried first")
        else:
            report.unchanged[kind] += 1
        # The other keys keep working, after the imported one and in their old order.
        floor = 0
        for row in rows:
            if row is mine:
                continue
            if row.priority <= floor:
                row.priority = floor + 1
                if write:
                    row.save(update_fields=["priority"])
                report.updated[kind] += 1
                report.changes.append(f"tag mapping {name}: tag {row.tag_key!r} kept, tried at priority {row.priority}")
            floor = row.priority


def _pattern_name(pattern: str, taken: set[str]) -> str:
    stem = slugify(pattern)[:40].strip("-_")
    base = f"imported-{stem}" if stem else "imported"
    if stem and base not in taken:
        return base
    n = 1
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _apply_flag_patterns(plan: ConfigPlan, report: ConfigImportReport, write: bool) -> None:
    kind = "flag_patterns"
    existing = {p.pattern: p for p in FlagPattern.objects.all()}
    taken = set(FlagPattern.objects.values_list("name", flat=True))
    for pattern in plan.flag_patterns:
        found = existing.get(pattern)
        if found is not None:
            report.unchanged[kind] += 1
            if not found.enabled:
                report.warnings.append(f"flag pattern {found.name} ('{pattern}') exists but is disabled; left as is")
            continue
        obj = FlagPattern(
            name=_pattern_name(pattern, taken), pattern=pattern, fields=FLAG_FIELDS,
            description=IMPORTED_NOTE, enabled=True,
        )  # fmt: skip
        _check(obj, f"review.flag_patterns '{pattern}'")
        taken.add(obj.name)
        if write:
            obj.save()
        report.created[kind] += 1
        report.changes.append(f"flag pattern {obj.name}: '{pattern}' on {FLAG_FIELDS}")


def _apply_fund_org_patterns(plan: ConfigPlan, report: ConfigImportReport, write: bool) -> None:
    kind = "fund_org_patterns"
    existing = set(FundOrgPattern.objects.values_list("pattern", flat=True))
    for pattern in plan.fund_org_patterns:
        if pattern in existing:
            report.unchanged[kind] += 1
            continue
        obj = FundOrgPattern(pattern=pattern, description=IMPORTED_NOTE, enabled=True)
        _check(obj, f"review.fund_org_patterns '{pattern}'")
        if write:
            obj.save()
        report.created[kind] += 1
        report.changes.append(f"fund/org pattern '{pattern}'")


def _apply_sources(plan: ConfigPlan, report: ConfigImportReport, write: bool) -> None:
    kind = "sources"
    no_credit: list[str] = []
    for spec in plan.sources:
        values = {
            "file_pattern": spec.file_pattern,
            "credit_fund_org": spec.credit_fund_org,
            "gl_account": spec.gl_account,
        }
        source = Source.objects.select_for_update().filter(name=spec.name).first()
        if source is None:
            source = Source(name=spec.name, display_name=spec.display_name, **values)
            _check(source, spec.entry)
            if write:
                source.save()
            report.created[kind] += 1
            report.changes.append(
                f"source {spec.name}: added" + (f", files {spec.file_pattern}" if spec.file_pattern else "")
            )
        else:
            changed = [
                f"{k} {getattr(source, k)!r} → {v!r}" for k, v in values.items() if v and getattr(source, k) != v
            ]
            for k, v in values.items():
                if v:
                    setattr(source, k, v)
            if changed:
                _check(source, spec.entry)
                if write:
                    source.save(update_fields=[k for k, v in values.items() if v])
                report.updated[kind] += 1
                report.changes.append(f"source {spec.name}: " + ", ".join(changed))
            else:
                report.unchanged[kind] += 1
        if not source.credit_fund_org:
            no_credit.append(spec.name)
    if no_credit:
        report.warnings.append(
            "no credit fund/org for source(s) " + ", ".join(no_credit)
            + ": the journal's credit side needs one; set it in the admin"
        )  # fmt: skip


def _apply_journal(plan: ConfigPlan, report: ConfigImportReport, write: bool) -> None:
    if plan.journal is None:
        return
    kind = "journal_formats"
    given = {k: v for k, v in plan.journal.items() if v}
    fmt = JournalFormat.objects.select_for_update().filter(name=GL_FORMAT).first()
    if fmt is None:
        fmt = JournalFormat(
            name=GL_FORMAT, kind=JournalFormat.Kind.GL, description=f"GL journal, {IMPORTED_NOTE}", **given
        )
        _check(fmt, "journal")
        if write:
            fmt.save()
        report.created[kind] += 1
        report.changes.append(f"journal format {GL_FORMAT}: added")
        return
    changed = [k for k, v in given.items() if getattr(fmt, k) != v]
    if fmt.kind != JournalFormat.Kind.GL:
        changed.append("kind")
    if not changed:
        report.unchanged[kind] += 1
        return
    for k, v in given.items():
        setattr(fmt, k, v)
    fmt.kind = JournalFormat.Kind.GL
    _check(fmt, "journal")
    if write:
        fmt.save(update_fields=changed)
    report.updated[kind] += 1
    report.changes.append(f"journal format {GL_FORMAT}: changed " + ", ".join(changed))


def _apply_contact(plan: ConfigPlan, report: ConfigImportReport, write: bool) -> None:
    if not plan.contact:
        return
    kind = "organization"
    org = Organization.objects.select_for_update().order_by("pk").first() or Organization()
    changed = [f"{k} {getattr(org, k)!r} → {v!r}" for k, v in plan.contact.items() if getattr(org, k) != v]
    if not changed:
        report.unchanged[kind] += 1
        return
    for k, v in plan.contact.items():
        setattr(org, k, v)
    if write:
        org.save()
    report.updated[kind] += 1
    report.changes.append("organization contact (on statements): " + ", ".join(changed))
