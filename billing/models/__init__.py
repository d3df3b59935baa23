"""Billing data, one module per concept; `from billing.models import X` names any of them."""

from .budgets import Budget, BudgetAlert
from .charges import Charge, ImportBatch, ImportFile, ReviewDecision, import_upload_to
from .funding import Fund, ProjectFunding
from .invoices import ProviderInvoice
from .people import PI, Project
from .periods import PERIOD_RE, BillingPeriod, PeriodTransition, Reevaluation, period_validate, validate_period
from .pricing import AccountMapping, Rate, SubsidyRule, SubsidyUsage, normalise_account
from .rules import PATTERN_FIELDS, FlagPattern, FundOrgPattern, TagMapping, validate_pattern_fields, validate_regex
from .sources import Source

__all__ = [
    "PATTERN_FIELDS", "PERIOD_RE", "PI", "AccountMapping", "BillingPeriod", "Budget", "BudgetAlert",
    "Charge", "FlagPattern", "FundOrgPattern", "Fund", "ProjectFunding", "ProviderInvoice",
    "ImportBatch", "ImportFile", "PeriodTransition", "Project", "Rate", "Reevaluation", "ReviewDecision", "Source",
    "SubsidyRule", "SubsidyUsage", "TagMapping", "import_upload_to", "normalise_account", "period_validate",
    "validate_pattern_fields", "validate_period", "validate_regex",
]  # fmt: skip
