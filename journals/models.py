"""Journal formats and exports: how current statements become balanced debit/credit GL lines."""

from __future__ import annotations

import re
import string

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from billing.models import BillingPeriod, validate_regex
from chargeback.money import ExactDecimalField

DEFAULT_FUND_ORG_REGEX = r"^(?P<orgn>[^-]+)-(?P<fund>.+)$"
DEFAULT_DESCRIPTION = "{source} {period} Research Computing Charges"
DESCRIPTION_VARIABLES = ("source", "period", "fund_org", "pi_email", "project_id")


def validate_description(value: str) -> None:
    """Only the documented variables, in `{name}` form (braces doubled for a literal brace)."""
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValidationError(f"not a description template: {exc}") from None
    unknown = sorted({n for n in names if n not in DESCRIPTION_VARIABLES})
    if unknown:
        raise ValidationError(
            f"unknown variable(s) {', '.join('{' + n + '}' for n in unknown)}; "
            f"use {' '.join('{' + n + '}' for n in DESCRIPTION_VARIABLES)}"
        )


def validate_date_format(value: str) -> None:
    if "%" not in value:
        raise ValidationError("a strftime format such as %Y-%m-%d or %m/%d/%Y")


class JournalFormat(models.Model):
    """A journal layout with the rules that split fund/org, pick accounts and word descriptions.

    The built-in kinds `detail`, `summary` and `gl` have fixed columns; a `template` format
    writes a header template and one row template per line (Django template language).
    """

    class Kind(models.TextChoices):
        DETAIL = "detail", "Detail (one line per PI, project and service)"
        SUMMARY = "summary", "Summary (one line per PI and project)"
        GL = "gl", "General ledger (debits per fund/org, credits per source)"
        TEMPLATE = "template", "Custom template"

    class GroupBy(models.TextChoices):
        FUND_ORG = "fund_org", "Fund/org and source"
        PROJECT = "project", "Fund/org, source and project"

    class NumberFormat(models.TextChoices):
        PLAIN = "plain", "1234.56"
        COMMA = "comma", "1234,56 (decimal comma)"
        CENTS = "cents", "123456 (whole cents)"

    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DETAIL)
    description = models.CharField(max_length=300, blank=True)
    fund_org_regex = models.CharField(
        max_length=500,
        default=DEFAULT_FUND_ORG_REGEX,
        validators=[validate_regex],
        help_text="Splits a fund/org into the named groups 'fund' and 'orgn' "
        "(and optionally 'program', 'activity', 'location')",
    )
    account_code_regex = models.CharField(
        max_length=500, blank=True, validators=[validate_regex], help_text="Valid GL account shape (optional)"
    )
    default_account = models.CharField(
        max_length=50, blank=True, help_text="GL account when neither the charge nor the source names one"
    )
    group_by = models.CharField(
        max_length=10,
        choices=GroupBy.choices,
        default=GroupBy.FUND_ORG,
        help_text="GL and template formats: what one debit line adds up",
    )
    program = models.CharField(max_length=20, blank=True, help_text="Program code when the fund/org has none")
    activity = models.CharField(max_length=20, blank=True, help_text="Activity code when the fund/org has none")
    location = models.CharField(max_length=20, blank=True, help_text="Location code when the fund/org has none")
    debit_description = models.CharField(
        max_length=200,
        default=DEFAULT_DESCRIPTION,
        validators=[validate_description],
        help_text="Variables: {source} {period} {fund_org} {pi_email} {project_id}",
    )
    credit_description = models.CharField(
        max_length=200,
        default=DEFAULT_DESCRIPTION,
        validators=[validate_description],
        help_text="Variables: {source} {period} {fund_org}",
    )
    max_description_length = models.PositiveSmallIntegerField(
        default=35, help_text="Descriptions are cut to this many characters (many GL systems allow 35; 0: no limit)"
    )
    date_format = models.CharField(
        max_length=30,
        default="%Y-%m-%d",
        validators=[validate_date_format],
        help_text="strftime format of the journal date (the period's last day)",
    )
    number_format = models.CharField(max_length=10, choices=NumberFormat.choices, default=NumberFormat.PLAIN)
    header_template = models.TextField(blank=True, help_text="Template kind: the file's first line(s)")
    row_template = models.TextField(blank=True, help_text="Template kind: one journal line")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        try:
            groups = re.compile(self.fund_org_regex).groupindex
        except re.error:
            groups = None  # the field validator reports it
        if groups is not None and not {"fund", "orgn"} <= set(groups):
            errors["fund_org_regex"] = "needs the named groups (?P<fund>…) and (?P<orgn>…)"
        if self.kind == self.Kind.TEMPLATE and not self.row_template.strip():
            errors["row_template"] = "a template format needs a row template"
        if self.kind == self.Kind.TEMPLATE:
            from journals.journal_templates import JournalTemplateError, journal_template_check

            for field in ("header_template", "row_template"):
                try:
                    journal_template_check(getattr(self, field), row=field == "row_template")
                except JournalTemplateError as exc:
                    errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)


def journal_upload_to(instance: JournalExport, filename: str) -> str:
    return f"journals/{instance.period.period}/{filename}"


class JournalExport(models.Model):
    """One exported journal file: numbered, stored, checksummed, never changed.

    `statements_sha256` identifies the set of current statements (ids, versions, amounts) the
    journal was built from; finalizing a period needs an export of its current statements.
    """

    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="journal_exports")
    sequence = models.PositiveIntegerField(help_text="Per-period export sequence")
    number = models.CharField(max_length=20, unique=True, help_text="YYYY-MM-JNNN")
    format = models.ForeignKey(JournalFormat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    format_name = models.CharField(max_length=50)
    format_kind = models.CharField(max_length=10, choices=JournalFormat.Kind.choices)
    file = models.FileField(upload_to=journal_upload_to, max_length=300)
    sha256 = models.CharField(max_length=64)
    currency = models.CharField(max_length=3, blank=True)
    statement_count = models.PositiveIntegerField(default=0)
    statements_due = ExactDecimalField(default=0, help_text="Sum of the statements' amounts due")
    statements_sha256 = models.CharField(max_length=64, db_index=True)
    debit_total = ExactDecimalField(default=0)
    credit_total = ExactDecimalField(default=0)
    debit_lines = models.PositiveIntegerField(default=0)
    credit_lines = models.PositiveIntegerField(default=0)
    line_count = models.PositiveIntegerField(default=0)
    actor = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["period", "sequence"], name="journal_export_sequence")]
        permissions = [("export_journal", "Can export GL journals")]

    def __str__(self) -> str:
        return self.number
