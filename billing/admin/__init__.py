"""The billing admin, one module per area."""

from . import budgets, charges, funding, imports, invoices, masterdata, periods, rates, rules

__all__ = ["budgets", "charges", "funding", "imports", "invoices", "masterdata", "periods", "rates", "rules"]
