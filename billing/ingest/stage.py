"""Staging files: parsed rows on disk, ready for the database to load in one statement.

A parsing process (the importer itself or its worker) writes its rows to its own staging file:
an SQLite database for an SQLite import (the importer attaches it and copies the rows with one
`INSERT … SELECT`), COPY text for a PostgreSQL import (the importer streams it to `COPY`). Rows
never cross a process boundary as Python objects, and the database does the per-row work in C.
No Django here: the worker process imports this module.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import IO, Any, Protocol

from .rows import STAGE_COLUMNS, Flavor

STAGE_TABLE = "stage"


class Sink(Protocol):
    def write(self, rows: list[list[Any]]) -> None: ...

    def reset(self) -> None: ...  # forget what was written (the batch is parsed again)

    def close(self) -> None: ...


class NullSink:
    """A dry run parses and counts, and keeps nothing."""

    def write(self, rows: list[list[Any]]) -> None:
        pass

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class SqliteSink:
    """Rows into a fresh SQLite file: no journal, no sync, no index (it lives for one import)."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute(f"CREATE TABLE {STAGE_TABLE} ({', '.join(STAGE_COLUMNS)})")
        self.db.execute("BEGIN")
        marks = ", ".join(["?"] * len(STAGE_COLUMNS))
        self.sql = f"INSERT INTO {STAGE_TABLE} VALUES ({marks})"  # noqa: S608

    def write(self, rows: list[list[Any]]) -> None:
        self.db.executemany(self.sql, rows)

    def reset(self) -> None:
        self.db.execute(f"DELETE FROM {STAGE_TABLE}")  # noqa: S608

    def close(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")
        self.db.close()


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class CopyTextSink:
    """Rows as PostgreSQL COPY text (tab-separated, `\\N` for null, backslash escapes)."""

    def __init__(self, path: Path) -> None:
        self.fh: IO[str] = path.open("w", encoding="utf-8", newline="")

    def write(self, rows: list[list[Any]]) -> None:
        self.fh.write(copy_text(rows))

    def reset(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()

    def close(self) -> None:
        self.fh.close()


TABS = len(STAGE_COLUMNS) - 1


def copy_text(rows: list[list[Any]]) -> str:
    """Staged rows as COPY text, one line each."""
    lines = []
    for row in rows:
        cells = [v if type(v) is str else ("\\N" if v is None else str(v)) for v in row]
        line = "\t".join(cells)
        odd = line.count("\t") != TABS or line.count("\\") != row.count(None)
        if odd or "\n" in line or "\r" in line or "\x00" in line:
            line = "\t".join(_escape(v, c) for v, c in zip(row, cells, strict=True))
        lines.append(line)
    lines.append("")
    return "\n".join(lines)


def _escape(value: Any, cell: str) -> str:
    if not isinstance(value, str):
        return cell
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; COPY would fail without a line number
        raise ValueError("contains a NUL character, which PostgreSQL cannot store")
    return value.translate(_ESCAPES)


def open_sink(kind: str | None, path: Path | None) -> Sink:
    if kind is None or path is None:
        return NullSink()
    return SqliteSink(path) if kind == Flavor.SQLITE else CopyTextSink(path)


def stage_suffix(kind: str) -> str:
    return ".db" if kind == Flavor.SQLITE else ".copy"
