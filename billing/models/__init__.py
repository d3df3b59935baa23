"""Billing data, one module per concept; `from billing.models import X` names any of them."""

from .charges import (
    PATTERN_FIELDS,
    PERIOD_RE,
    PI,
    BillingPeriod,
    Charge,
    FlagPattern,
    FundOrgPattern,
    ImportBatch,
    ImportFile,
    PeriodTransition,
    Project,
    ReviewDecision,
    Source,
    TagMapping,
    import_upload_to,
    validate_pattern_fields,
    validate_period,
    validate_regex,
)  # fmt: skip
from .pricing import AccountMapping, Rate, SubsidyRule, SubsidyUsage, normalise_account

__all__ = [
    "PATTERN_FIELDS", "PERIOD_RE", "PI", "AccountMapping", "BillingPeriod", "Charge", "FlagPattern", "FundOrgPattern",
    "ImportBatch", "ImportFile", "PeriodTransition", "Project", "Rate", "ReviewDecision", "Source", "SubsidyRule",
    "SubsidyUsage", "TagMapping", "import_upload_to", "normalise_account", "validate_pattern_fields",
    "validate_period", "validate_regex",
]  # fmt: skip
