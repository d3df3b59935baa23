"""One-line text: codes, fund/orgs, emails and names never hold control characters.

A carriage return or line feed in a project code splits a CSV record in whatever reads it next
(a journal, a spreadsheet, a log line); other control characters are invisible in the admin and
on a PDF. Every entry point refuses them: the admin's forms and spreadsheet imports with a form
error, the review services with a domain error, and an import flags the line (see
billing.ingest.rules).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

# C0 and C1 controls (tab, CR and LF among them), DEL, and the Unicode line and paragraph separators.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
NAMES = {"\t": "a tab", "\n": "a line feed", "\r": "a carriage return"}


def control_character(text: str) -> str | None:
    """The first control character of `text`, described (`a carriage return (U+000D)`), else None."""
    match = CONTROL_CHARACTERS.search(text)
    if match is None:
        return None
    char = match.group()
    return f"{NAMES.get(char, 'a control character')} (U+{ord(char):04X})"


def control_character_message(text: str) -> str | None:
    """Why `text` cannot be a code, fund/org, email or name, else None."""
    found = control_character(text)
    return f"contains {found}; it must be one line of plain text" if found else None


def refuse_control_characters(value: Any) -> None:
    """A form and model field validator."""
    message = control_character_message(str(value)) if isinstance(value, str) else None
    if message:
        raise ValidationError(message, code="control_character")
