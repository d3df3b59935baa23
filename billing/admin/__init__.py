"""The billing admin, one module per area."""

from . import charges, imports, masterdata, periods, rates, rules

__all__ = ["charges", "imports", "masterdata", "periods", "rates", "rules"]
