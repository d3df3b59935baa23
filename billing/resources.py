"""django-import-export resources: master data in and out (CSV, XLSX), charges out.

Imports run a dry run first (the admin's preview is a real import rolled back), so nothing here
has side effects beyond saving the row itself. Master data is matched on its natural key (source
name, PI email, project code); PI emails are matched and stored lower-case.

One module for every kind `openchargeback data` and the admin import and export (about 540
lines): the kinds share their widgets, the formula escaping and the row validation, and a reader
finds every column of every file in one place.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from import_export import resources, widgets
from import_export.fields import Field
from import_export.formats import base_formats

from billing.models import (
    PI,
    AccountMapping,
    BillingPeriod,
    Budget,
    Charge,
    FlagPattern,
    Fund,
    FundOrgPattern,
    Project,
    ProjectFunding,
    ProviderInvoice,
    Rate,
    Source,
    SubsidyRule,
    TagMapping,
)
from billing.models.budgets import format_thresholds, parse_thresholds
from billing.services.funding import project_funding_check
from chargeback.models import Organization
from chargeback.spreadsheet import FORMULA_STARTS, escape_formula
from chargeback.text import control_character_message

# The spreadsheet formats offered for master data and charges.
FORMATS = [base_formats.CSV, base_formats.XLSX]


def normalise_email(value: Any) -> str:
    return str(value or "").strip().lower()


class YesNoWidget(widgets.BooleanWidget):
    """Yes/no, true/false, 1/0 in any case; anything else is an error on the row, not False.

    A blank cell is None, which the field does not save: a new record keeps the model default.
    """

    TRUE_WORDS = frozenset({"1", "true", "yes", "y"})
    FALSE_WORDS = frozenset({"0", "false", "no", "n"})

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        text = str(value if value is not None else "").strip().lower()
        if text in ("", "none", "null"):
            return None
        if text in self.TRUE_WORDS:
            return True
        if text in self.FALSE_WORDS:
            return False
        raise ValueError(f"{value!r} is not yes or no")


def yes_no(name: str) -> Field:
    return Field(attribute=name, column_name=name, widget=YesNoWidget(), saves_null_values=False)


def escape_cell(value: Any) -> Any:
    """`escape_formula`, and a value's own leading apostrophe doubled, so `unescape_cell` of an
    exported cell is always the stored value."""
    if isinstance(value, str) and value.startswith("'"):
        return "'" + value
    return escape_formula(value)


def unescape_cell(value: Any) -> Any:
    """The stored value of a cell `escape_cell` wrote: the apostrophe before a formula start (or
    before another apostrophe) goes; any other text is taken as it is."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith((*FORMULA_STARTS, "'")):
        return value[1:]
    return value


class ConfigResource(resources.ModelResource):
    """Master data and rules in and out (the admin and `openchargeback data`).

    Every text cell a spreadsheet would run as a formula is exported with a leading apostrophe
    (chargeback.spreadsheet), in CSV and XLSX alike, and imported without it, so an exported file
    imports back unchanged. Amounts and other numbers are exact and never escaped. Codes, emails,
    fund/orgs and names are one line: a control character is an error on the row.
    """

    def export_field(self, field: Field, instance: Any, **kwargs: Any) -> Any:
        value = super().export_field(field, instance, **kwargs)
        if isinstance(field.widget, ExactDecimalWidget | widgets.NumberWidget):
            return value
        return escape_cell(value)

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        for index, row in enumerate(dataset):
            dataset[index] = [unescape_cell(cell) for cell in row]
        super().before_import(dataset, **kwargs)

    def validate_instance(
        self, instance: Any, import_validation_errors: dict[str, Any] | None = None, validate_unique: bool = True
    ) -> None:
        errors = dict(import_validation_errors or {})
        for model_field in instance._meta.concrete_fields:
            value = getattr(instance, model_field.attname)
            if isinstance(model_field, models.CharField) and isinstance(value, str) and model_field.name not in errors:
                message = control_character_message(value)
                if message:
                    errors[model_field.name] = ValidationError(message, code="control_character")
        super().validate_instance(instance, errors, validate_unique)


class SourceResource(ConfigResource):
    enabled = yes_no("enabled")

    class Meta:
        model = Source
        import_id_fields = ["name"]
        fields = ["name", "display_name", "file_pattern", "credit_fund_org", "gl_account", "billing_basis", "enabled"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        if "name" in row:
            row["name"] = str(row["name"] or "").strip().lower()


class PIResource(ConfigResource):
    class Meta:
        model = PI
        import_id_fields = ["email"]
        fields = ["email", "name"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        if "email" in row:
            row["email"] = normalise_email(row["email"])


class PIByEmailWidget(widgets.ForeignKeyWidget):
    """A PI named by email (any case); an unknown email is an error on that row, not a new PI."""

    def __init__(self) -> None:
        super().__init__(PI, field="email")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> PI | None:
        email = normalise_email(value)
        if not email:
            return None
        pi = PI.objects.filter(email=email).first()
        if pi is None:
            raise ValueError(f"no PI with email {email}; add the PI (or import the PIs) first")
        return pi


class ProjectResource(ConfigResource):
    pi = Field(attribute="pi", column_name="pi_email", widget=PIByEmailWidget())
    active = yes_no("active")

    class Meta:
        model = Project
        import_id_fields = ["code"]
        fields = ["code", "pi", "title", "fund_org", "active", "fund_end_date"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        if "code" in row:
            row["code"] = str(row["code"] or "").strip()


class ExactDecimalWidget(widgets.Widget):
    """An amount as its exact decimal text: no float, no exponent, no rounding. A blank cell is
    `blank` (None, or the field's default for a field that cannot be empty)."""

    def __init__(self, blank: Decimal | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.blank = blank

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Decimal | None:
        text = str(value if value is not None else "").strip()
        if not text:
            return self.blank
        try:
            return Decimal(text)
        except ArithmeticError:
            raise ValueError(f"{value!r} is not an amount") from None

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        if value is None or value == "":  # "" is an unsaved instance's default
            return ""
        return f"{Decimal(value):f}"


class ChargeResource(ConfigResource):
    """Charges for a spreadsheet (export only).

    Charge text comes from provider files and from tags anyone with cloud access can set: text
    cells are formula-escaped like every export's (ConfigResource). Amounts are exact
    decimal text and never escaped.
    """

    period = Field(attribute="period__period", column_name="period")
    source = Field(attribute="source__name", column_name="source")
    pi_email = Field(attribute="pi__email", column_name="pi_email")
    project_code = Field(attribute="project__code", column_name="project_code")
    billed_cost = Field(attribute="billed_cost", column_name="billed_cost", widget=ExactDecimalWidget())
    list_cost = Field(attribute="list_cost", column_name="list_cost", widget=ExactDecimalWidget())
    flag_reasons = Field(column_name="flag_reasons")

    class Meta:
        model = Charge
        fields = [
            "id", "period", "source", "pi_email", "project_code", "fund_org", "service_name", "resource_id",
            "resource_name", "billed_cost", "list_cost", "billing_currency", "review_state", "flag_reasons",
        ]  # fmt: skip
        export_order = fields

    def get_queryset(self) -> Any:
        return Charge.objects.filter(active=True).order_by("pk")

    def filter_export(self, queryset: Any, **kwargs: Any) -> Any:
        return queryset.select_related("period", "source", "pi", "project")

    def dehydrate_flag_reasons(self, charge: Charge) -> str:
        return ",".join(charge.flag_reason_list)


# Rates, subsidies and account mappings --------------------------------------------------------


class ProjectByCodeWidget(widgets.ForeignKeyWidget):
    """A project named by code; an unknown code is an error on that row, not a new project."""

    def __init__(self) -> None:
        super().__init__(Project, field="code")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Project | None:
        code = str(value or "").strip()
        if not code:
            return None
        project = Project.objects.filter(code=code).first()
        if project is None:
            raise ValueError(f"no project with code {code}; add the project (or import the projects) first")
        return project


class AccountMappingResource(ConfigResource):
    project = Field(attribute="project", column_name="project_code", widget=ProjectByCodeWidget())
    enabled = yes_no("enabled")

    class Meta:
        model = AccountMapping
        import_id_fields = ["kind", "value"]
        fields = ["kind", "value", "project", "fund_org", "note", "enabled"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        for key in ("kind", "value"):
            if key in row:
                row[key] = str(row[key] or "").strip()
        if "kind" in row:
            row["kind"] = row["kind"].lower()


class RateResource(ConfigResource):
    price = Field(attribute="price", column_name="price", widget=ExactDecimalWidget())
    multiplier = Field(attribute="multiplier", column_name="multiplier", widget=ExactDecimalWidget(Decimal(1)))
    free_quantity = Field(attribute="free_quantity", column_name="free_quantity", widget=ExactDecimalWidget(Decimal(0)))

    class Meta:
        model = Rate
        import_id_fields = ["name", "effective_from"]
        fields = [
            "name", "kind", "applies_to", "unit", "price", "multiplier", "free_quantity", "basis",
            "effective_from", "effective_to", "description",
        ]  # fmt: skip
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class SourceByNameWidget(widgets.ForeignKeyWidget):
    def __init__(self) -> None:
        super().__init__(Source, field="name")


class SubsidyRuleResource(ConfigResource):
    source = Field(attribute="source", column_name="source", widget=SourceByNameWidget())
    project = Field(attribute="project", column_name="project_code", widget=ProjectByCodeWidget())
    pi = Field(attribute="pi", column_name="pi_email", widget=PIByEmailWidget())
    percent = Field(attribute="percent", column_name="percent", widget=ExactDecimalWidget())
    cap = Field(attribute="cap", column_name="cap", widget=ExactDecimalWidget())
    enabled = yes_no("enabled")

    class Meta:
        model = SubsidyRule
        import_id_fields = ["code"]
        fields = [
            "code", "label", "source", "service_name", "partition", "project", "pi", "percent", "cap",
            "cap_period", "fiscal_year_start_month", "priority", "effective_from", "effective_to", "enabled",
        ]  # fmt: skip
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


# Rules -----------------------------------------------------------------------------------------


class TagMappingResource(ConfigResource):
    class Meta:
        model = TagMapping
        import_id_fields = ["field", "tag_key"]
        fields = ["field", "tag_key", "priority"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class FlagPatternResource(ConfigResource):
    enabled = yes_no("enabled")

    class Meta:
        model = FlagPattern
        import_id_fields = ["name"]
        fields = ["name", "pattern", "fields", "description", "enabled"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class FundOrgPatternResource(ConfigResource):
    """Fund/org patterns have no name: a pattern is matched on its own text."""

    enabled = yes_no("enabled")

    class Meta:
        model = FundOrgPattern
        import_id_fields = ["pattern"]
        fields = ["pattern", "description", "enabled"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


# Funds and project funding ---------------------------------------------------------------------


class FundResource(ConfigResource):
    """Funds: a fund/org code, its sponsor, the federal flag and the award's period of performance."""

    federal = yes_no("federal")
    award_start = Field(attribute="award_start", column_name="start", widget=widgets.DateWidget())
    award_end = Field(attribute="award_end", column_name="end", widget=widgets.DateWidget())

    class Meta:
        model = Fund
        import_id_fields = ["fund_org"]
        fields = ["fund_org", "title", "sponsor", "federal", "award_start", "award_end"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        if "fund_org" in row:
            row["fund_org"] = str(row["fund_org"] or "").strip()


# Provider invoices ------------------------------------------------------------------------------


class KnownSourceWidget(widgets.ForeignKeyWidget):
    """A source named by its name (any case); an unknown name is an error on the row."""

    def __init__(self) -> None:
        super().__init__(Source, field="name")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Source | None:
        name = str(value or "").strip().lower()
        source = Source.objects.filter(name=name).first() if name else None
        if source is None:
            raise ValueError(f"no source {name!r}; see 'openchargeback sources list'")
        return source


class OpenMonthWidget(widgets.ForeignKeyWidget):
    """A billing month (YYYY-MM) that exists and is not finalized."""

    def __init__(self) -> None:
        super().__init__(BillingPeriod, field="period")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> BillingPeriod | None:
        month = str(value or "").strip()
        period = BillingPeriod.objects.filter(period=month).first() if month else None
        if period is None:
            raise ValueError(f"no billing period {month!r}; import the month's charges first")
        if period.status == BillingPeriod.Status.FINALIZED:
            raise ValueError(f"period {month} is finalized; its invoices are permanent")
        return period


class ProviderInvoiceResource(ConfigResource):
    """A provider's invoices: one row per source and InvoiceId (see docs/reconciliation.md)."""

    source = Field(attribute="source", column_name="source", widget=KnownSourceWidget())
    month = Field(attribute="period", column_name="month", widget=OpenMonthWidget())
    total = Field(attribute="total", column_name="total", widget=ExactDecimalWidget())

    class Meta:
        model = ProviderInvoice
        import_id_fields = ["source", "invoice_id"]
        fields = ["source", "invoice_id", "month", "currency", "total", "issuer", "billing_account"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        if "invoice_id" in row:
            row["invoice_id"] = str(row["invoice_id"] or "").strip()
        if "currency" in row:
            row["currency"] = str(row["currency"] or "").strip().upper()


class FundByCodeWidget(widgets.ForeignKeyWidget):
    """A fund named by its fund/org; an unknown one is an error on that row."""

    def __init__(self) -> None:
        super().__init__(Fund, field="fund_org")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Fund | None:
        code = str(value or "").strip()
        fund = Fund.objects.filter(fund_org=code).first() if code else None
        if fund is None:
            raise ValueError(f"no fund {code or '(empty)'}; add it (data import funds FILE) first")
        return fund


class ProjectFundingResource(ConfigResource):
    """A project's split: every project the file names must add up to 100 % on every day it is funded
    (checked after all rows, so a file may move a project from one split to another)."""

    project = Field(attribute="project", column_name="project_code", widget=ProjectByCodeWidget())
    fund = Field(attribute="fund", column_name="fund_org", widget=FundByCodeWidget())
    percent = Field(attribute="percent", column_name="percent", widget=ExactDecimalWidget())

    class Meta:
        model = ProjectFunding
        import_id_fields = ["project", "fund", "effective_from"]
        fields = ["project", "fund", "percent", "effective_from", "effective_to"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self) -> Any:
        return ProjectFunding.objects.select_related("project", "fund").order_by("project__code", "effective_from")

    def after_import(self, dataset: Any, result: Any, **kwargs: Any) -> None:
        codes = {str(code or "").strip() for code in dataset["project_code"]} if dataset.headers else set()
        for project in Project.objects.filter(code__in=codes).order_by("code"):
            project_funding_check(project=project)
        super().after_import(dataset, result, **kwargs)


# Budgets ------------------------------------------------------------------------------------------


class ThresholdsWidget(widgets.Widget):
    """Percentages as `50/80/100` (commas, semicolons or spaces also separate); blank is 50/80/100."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> list[int]:
        try:
            return parse_thresholds(str(value if value is not None else ""))
        except ValidationError as exc:
            raise ValueError(exc.messages[0]) from None

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return format_thresholds(list(value or []))


class BudgetResource(ConfigResource):
    """A budget per project (project_code) or per fund (fund_org), for each month or over the award."""

    project = Field(attribute="project", column_name="project_code", widget=ProjectByCodeWidget())
    amount = Field(attribute="amount", column_name="amount", widget=ExactDecimalWidget())
    thresholds = Field(attribute="thresholds", column_name="thresholds", widget=ThresholdsWidget())

    class Meta:
        model = Budget
        import_id_fields = ["project", "fund_org", "span"]
        fields = ["project", "fund_org", "amount", "currency", "span", "thresholds"]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self) -> Any:
        return Budget.objects.select_related("project").order_by("project__code", "fund_org", "span")

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        for name in ("project_code", "fund_org"):
            if name in row:
                row[name] = str(row[name] or "").strip()
        if "span" in row:
            row["span"] = str(row["span"] or "").strip().lower() or Budget.Span.MONTH
        if not str(row.get("currency") or "").strip():
            row["currency"] = Organization.current().expected_currency
        else:
            row["currency"] = str(row["currency"]).strip().upper()
