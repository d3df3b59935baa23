"""The FOCUS column catalogue (1.0 to 1.3) and how a file's header maps onto a charge."""

from __future__ import annotations

from dataclasses import dataclass, field

# Kinds of value
STR, MONEY, QTY, DATE, TAGS = "str", "money", "qty", "date", "tags"

# FOCUS columns with a dedicated charge field: canonical name -> (charge field, kind).
DEDICATED: dict[str, tuple[str, str]] = {
    "BillingAccountId": ("billing_account_id", STR),
    "BillingAccountName": ("billing_account_name", STR),
    "SubAccountId": ("sub_account_id", STR),
    "SubAccountName": ("sub_account_name", STR),
    "BillingPeriodStart": ("billing_period_start", DATE),
    "BillingPeriodEnd": ("billing_period_end", DATE),
    "ChargePeriodStart": ("charge_period_start", DATE),
    "ChargePeriodEnd": ("charge_period_end", DATE),
    "ChargeCategory": ("charge_category", STR),
    "ChargeClass": ("charge_class", STR),
    "ChargeFrequency": ("charge_frequency", STR),
    "ChargeDescription": ("charge_description", STR),
    "BillingCurrency": ("billing_currency", STR),
    "ListCost": ("list_cost", MONEY),
    "ListUnitPrice": ("list_unit_price", MONEY),
    "ContractedCost": ("contracted_cost", MONEY),
    "ContractedUnitPrice": ("contracted_unit_price", MONEY),
    "BilledCost": ("billed_cost", MONEY),
    "EffectiveCost": ("effective_cost", MONEY),
    "PricingQuantity": ("pricing_quantity", QTY),
    "PricingUnit": ("pricing_unit", STR),
    "ConsumedQuantity": ("consumed_quantity", QTY),
    "ConsumedUnit": ("consumed_unit", STR),
    "ProviderName": ("provider_name", STR),
    "ServiceProviderName": ("provider_name", STR),  # FOCUS 1.3 name for ProviderName
    "PublisherName": ("publisher_name", STR),
    "InvoiceIssuerName": ("invoice_issuer_name", STR),
    "RegionId": ("region_id", STR),
    "RegionName": ("region_name", STR),
    "AvailabilityZone": ("availability_zone", STR),
    "ResourceId": ("resource_id", STR),
    "ResourceName": ("resource_name", STR),
    "ResourceType": ("resource_type", STR),
    "ServiceCategory": ("service_category", STR),
    "ServiceSubcategory": ("service_subcategory", STR),
    "ServiceName": ("service_name", STR),
    "SkuId": ("sku_id", STR),
    "SkuPriceId": ("sku_price_id", STR),
    "InvoiceId": ("invoice_id", STR),
    "Tags": ("tags", TAGS),
}

# Other FOCUS columns (kept in Charge.focus_extra), with the version that introduced them.
OTHER_FOCUS: dict[str, str] = {
    "BillingAccountType": "1.2",
    "SubAccountType": "1.2",
    "CapacityReservationId": "1.1",
    "CapacityReservationStatus": "1.1",
    "CommitmentDiscountCategory": "1.0",
    "CommitmentDiscountId": "1.0",
    "CommitmentDiscountName": "1.0",
    "CommitmentDiscountQuantity": "1.1",
    "CommitmentDiscountStatus": "1.0",
    "CommitmentDiscountType": "1.0",
    "CommitmentDiscountUnit": "1.1",
    "PricingCategory": "1.0",
    "PricingCurrency": "1.2",
    "PricingCurrencyContractedUnitPrice": "1.2",
    "PricingCurrencyEffectiveCost": "1.2",
    "PricingCurrencyListUnitPrice": "1.2",
    "SkuMeter": "1.1",
    "SkuPriceDetails": "1.1",
    "HostProviderName": "1.3",
    "AllocatedMethodId": "1.3",
    "AllocatedMethodDetails": "1.3",
    "AllocatedResourceId": "1.3",
    "AllocatedResourceName": "1.3",
    "AllocatedTags": "1.3",
    "ContractApplied": "1.3",
    # FOCUS 1.0-preview names, still found in older exports
    "ChargeSubcategory": "1.0",
    "ChargeType": "1.0",
    "UsageQuantity": "1.0",
    "UsageUnit": "1.0",
    "AmortizedCost": "1.0",
}

VERSION_MARKERS = {
    "1.3": ("ServiceProviderName",),
    # Not BillingAccountType: Azure FocusCost 1.0 has it too.
    "1.2": ("InvoiceId", "PricingCurrency"),
}
MINIMAL_COLUMNS = (
    "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ListCost",
    "ContractedCost", "BilledCost", "EffectiveCost", "ResourceId", "ResourceName", "ServiceName", "Tags",
)  # fmt: skip
MANDATORY = ("BilledCost", "BillingPeriodStart")

_BY_LOWER = {name.lower(): name for name in (*DEDICATED, *OTHER_FOCUS)}


@dataclass
class HeaderPlan:
    """Where each column of a file goes."""

    names: list[str]  # the header as written (BOM and surrounding spaces removed)
    dedicated: list[tuple[int, str, str]] = field(default_factory=list)  # (index, charge field, kind)
    extra: list[tuple[int, str]] = field(default_factory=list)  # other FOCUS columns -> focus_extra
    extensions: list[tuple[int, str]] = field(default_factory=list)  # x_* and unknown -> extensions
    canonical_order: list[int] = field(default_factory=list)  # column order for the row fingerprint
    focus_version: str = ""

    def index_of(self, charge_field: str) -> int | None:
        for idx, name, _ in self.dedicated:
            if name == charge_field:
                return idx
        return None


class HeaderError(ValueError):
    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


def plan_header(raw: list[str]) -> HeaderPlan:
    names = [h.strip().lstrip("\ufeff").strip() for h in raw]
    if not any(names):
        raise HeaderError("the file has no header row")
    plan = HeaderPlan(names=names)
    seen_fields: set[str] = set()
    seen_names: set[str] = set()
    for idx, name in enumerate(names):
        if not name:
            raise HeaderError(f"column {idx + 1} has an empty name")
        key = name.lower()
        if key in seen_names:
            raise HeaderError(f"column {name} appears twice", column=name)
        seen_names.add(key)
        canonical = _BY_LOWER.get(key)
        if canonical in DEDICATED:
            target, kind = DEDICATED[canonical]
            if target in seen_fields:  # e.g. both ProviderName and ServiceProviderName
                plan.extra.append((idx, canonical))
            else:
                seen_fields.add(target)
                plan.dedicated.append((idx, target, kind))
        elif canonical is not None:
            plan.extra.append((idx, canonical))
        else:
            plan.extensions.append((idx, name))
    present = {_BY_LOWER.get(n.lower(), n) for n in names}
    missing = [m for m in MANDATORY if m not in present]
    if missing:
        raise HeaderError(f"missing mandatory column {', '.join(missing)}", column=missing[0])
    plan.canonical_order = sorted(range(len(names)), key=lambda i: _BY_LOWER.get(names[i].lower(), names[i]))
    plan.focus_version = _detect_version(present)
    return plan


def _detect_version(present: set[str]) -> str:
    if present == set(MINIMAL_COLUMNS) or present <= set(MINIMAL_COLUMNS):
        return "minimal"
    for version, markers in VERSION_MARKERS.items():
        if any(m in present for m in markers):
            return version
    if any(OTHER_FOCUS.get(n) == "1.1" for n in present) or "ServiceSubcategory" in present:
        return "1.1"
    return "1.0"
