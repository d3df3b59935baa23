"""The billing admin, one module per area."""

from . import charges, imports, invoices, masterdata, periods, rates, rules

__all__ = ["charges", "imports", "invoices", "masterdata", "periods", "rates", "rules"]
