"""The billing admin, one module per area."""

from . import budgets, charges, imports, masterdata, periods, rates, rules

__all__ = ["budgets", "charges", "imports", "masterdata", "periods", "rates", "rules"]
