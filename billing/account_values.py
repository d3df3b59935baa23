"""Account values as they are matched: below the models, the ingest engine and the converters.

Plain Python, no Django: the parsing worker process imports it without setting Django up.
"""

from __future__ import annotations


def normalise_account(kind: str, value: str) -> str:
    """The form an account value is matched in: trimmed, lower-case; an Azure subscription by its id."""
    text = value.strip().lower()
    if kind == "sub_account" and text.startswith("/subscriptions/"):
        text = text.split("/")[2]
    return text
