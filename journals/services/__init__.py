"""Every state change of the journals app: exporting a period's journal, and the finalize check."""

from .build import JournalProblems, journal_build
from .export import JournalReport, finalize_check, journal_export, journal_format_get, journal_preview

__all__ = [
    "JournalProblems", "JournalReport", "finalize_check", "journal_build", "journal_export",
    "journal_format_get", "journal_preview",
]  # fmt: skip
