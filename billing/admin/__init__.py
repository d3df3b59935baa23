"""The billing admin, one module per area."""

from . import charges, funding, imports, invoices, masterdata, periods, rates, rules

__all__ = ["charges", "funding", "imports", "invoices", "masterdata", "periods", "rates", "rules"]
