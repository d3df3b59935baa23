"""Text bound for a spreadsheet: a cell a spreadsheet would run as a formula is shown as text.

A cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return, which spreadsheets skip
before looking) is a formula to Excel, LibreOffice and Google Sheets ("CSV injection"). Project
codes, PI names and resource names come from provider files and from tags anyone with cloud access
can set, so every export (the admin's CSV and XLSX of master data and charges, journal files, the
portal's CSV) passes its text cells through `escape_formula`. Amounts are numbers we format
ourselves and are never escaped: a credit of -12.50 stays a number.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe; anything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
