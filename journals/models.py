"""Journal formats: how approved charges become balanced debit/credit lines for accounting."""

from __future__ import annotations

from django.db import models

from billing.models import validate_regex

DEFAULT_FUND_ORG_REGEX = r"^(?P<orgn>[^-]+)-(?P<fund>.+)$"
DEFAULT_DESCRIPTION = "{source} {period} Research Computing Charges"


class JournalFormat(models.Model):
    """A journal layout with the rules that split fund/org, pick accounts and word descriptions."""

    class Kind(models.TextChoices):
        DETAIL = "detail", "Detail (one line per PI, project and service)"
        SUMMARY = "summary", "Summary (one line per PI and project)"
        GL = "gl", "General ledger (debits per fund/org, credits per source)"
        TEMPLATE = "template", "Custom template"

    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DETAIL)
    description = models.CharField(max_length=300, blank=True)
    fund_org_regex = models.CharField(
        max_length=500,
        default=DEFAULT_FUND_ORG_REGEX,
        validators=[validate_regex],
        help_text="Splits a fund/org into the named groups 'fund' and 'orgn'",
    )
    account_code_regex = models.CharField(
        max_length=500, blank=True, validators=[validate_regex], help_text="Valid GL account shape (optional)"
    )
    default_account = models.CharField(
        max_length=50, blank=True, help_text="GL account when neither the charge nor the source names one"
    )
    debit_description = models.CharField(
        max_length=200,
        default=DEFAULT_DESCRIPTION,
        help_text="Variables: {source} {period} {fund_org} {pi_email} {project_id}",
    )
    credit_description = models.CharField(
        max_length=200, default=DEFAULT_DESCRIPTION, help_text="Variables: {source} {period} {fund_org}"
    )
    max_description_length = models.PositiveSmallIntegerField(
        default=35, help_text="Descriptions are cut to this many characters (many GL systems allow 35)"
    )
    header_template = models.TextField(blank=True, help_text="Template kind: the file's first line(s)")
    row_template = models.TextField(blank=True, help_text="Template kind: one journal line")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
