"""Every state change of the billing app. Keyword-only, typed, atomic and audited."""

from chargeback.errors import BillingError

__all__ = ["BillingError"]
