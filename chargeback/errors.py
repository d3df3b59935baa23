"""The domain errors: one family, each message something a person can act on.

Callers that only report the message (commands, admin actions, views) catch `DomainError`; a
caller that handles one kind differently catches that subclass. Each app raises its own.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule refused the operation; the message says what to do about it."""


class BillingError(DomainError):
    """A domain rule refused the operation; the message says what to do about it."""


class ChoiceNeeded(BillingError):
    """The operation needs a choice the caller did not make (a source, a replacement to confirm).

    `str()` gives the command line's words ("give --source"); `web` the admin's ("choose the source").
    """

    def __init__(self, reason: str, *, cli: str, web: str) -> None:
        self.reason, self.cli, self.web_hint = reason, cli, web
        super().__init__(f"{reason}; {cli}")

    @property
    def web(self) -> str:
        return f"{self.reason}; {self.web_hint}"


class IngestError(DomainError):
    """A fatal problem with an input file: `FILE:LINE: column X: what is wrong`."""

    def __init__(self, path: str, line: int | None, message: str, column: str | None = None) -> None:
        self.path, self.line, self.column, self.message = path, line, column, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: column {self.column}: {self.message}" if self.column else f"{where}: {self.message}"

    def __reduce__(self) -> Any:  # survives the trip from a parsing worker process
        return (IngestError, (self.path, self.line, self.message, self.column))


class RenderError(DomainError):
    """A statement could not be laid out as a PDF."""


class DelegationError(DomainError):
    """A delegation that cannot be made as asked; the message says why."""


class CopyError(DomainError):
    """The copy cannot start or did not match; the message says why. Nothing was kept."""
