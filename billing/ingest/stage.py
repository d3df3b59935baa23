"""Staging files: parsed rows on disk, ready for the database to load in one statement.

A parsing worker writes its rows to a sequence of staging files (`StageFiles`): SQLite
databases for an SQLite import (the importer attaches each and copies its rows with one
`INSERT … SELECT`), COPY text for a PostgreSQL import (the importer streams it to `COPY`). Rows
never cross a process boundary as Python objects, and the database does the per-row work in C.
`copy_text` also formats the importer's own rows for PostgreSQL.
No Django here: the worker process imports this module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from .rows import NULLABLE, STAGE_COLUMNS, Flavor

STAGE_TABLE = "stage"


class Sink(Protocol):
    # `combos` are the part's combinations so far (`Tally.combos`); a row's `ck` is `base` + its index.
    def write(self, rows: list[list[Any]], combos: list[Any], base: int) -> None: ...

    def reset(self) -> None: ...  # forget what was written (the batch is parsed again)

    def close(self) -> None: ...


class NullSink:
    """A dry run parses and counts, and keeps nothing."""

    def write(self, rows: list[list[Any]], combos: list[Any], base: int) -> None:
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

    def write(self, rows: list[list[Any]], combos: list[Any], base: int) -> None:
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

    def write(self, rows: list[list[Any]], combos: list[Any], base: int) -> None:
        self.fh.write(copy_text(rows))

    def reset(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()

    def close(self) -> None:
        self.fh.close()


TABS = len(STAGE_COLUMNS) - 1


def _formatter(first: int) -> Callable[[list[Any]], str]:
    """A staged row's cells from `first` on as one tab-separated line, None as \\N (an f-string
    compiled for STAGE_COLUMNS: the text cells are str, `ck`, `file_index` and `line_number`
    ints, the NULLABLE ones str or None). Escaping is left to `copy_text`."""
    cells = []
    for i in range(first, len(STAGE_COLUMNS)):
        cells.append("{" + (f"N if r[{i}] is None else r[{i}]" if STAGE_COLUMNS[i] in NULLABLE else f"r[{i}]") + "}")
    return eval("lambda r: f'" + "\\t".join(cells) + "'", {"N": "\\N"})  # noqa: S307 - our own column list


_LINE, _TAIL = _formatter(0), _formatter(1)


def copy_text(rows: list[list[Any]], heads: dict[int, str] | None = None) -> str:
    """Staged rows as COPY text, one line each. With `heads`, a row's `ck` cell is replaced by the
    COPY text its combination stands for (see `writer.OwnSink`)."""
    lines = []
    for row in rows:
        line = _LINE(row) if heads is None else "\t" + _TAIL(row)
        # A tab, backslash, line break or NUL in a value (rare) needs escaping: count and look.
        odd = line.count("\t") != TABS or line.count("\\") != row.count(None)
        if odd or "\n" in line or "\r" in line or "\x00" in line:
            cells = [v if type(v) is str else ("\\N" if v is None else str(v)) for v in row]
            line = "\t".join(_escape(v, c) for v, c in zip(row, cells, strict=True))
            if heads is not None:
                line = line[line.index("\t") :]
        if heads is not None:
            line = heads[row[0]] + line
        lines.append(line)
    lines.append("")
    return "\n".join(lines)


def copy_cells(values: Any) -> list[str]:
    """Values as COPY text cells, escaped."""
    return [_escape(v, v if type(v) is str else ("\\N" if v is None else str(v))) for v in values]


def _escape(value: Any, cell: str) -> str:
    if not isinstance(value, str):
        return cell
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; COPY would fail without a line number
        raise ValueError("contains a NUL character, which PostgreSQL cannot store")
    return value.translate(_ESCAPES)


class StageFiles:
    """A parsing worker's rows into a sequence of staging files, a new one after each
    `step_bytes` of input; each is announced once finished (`announce(path, combos, bytes
    done)`, with the combinations first seen in it as (ck, combination)), so the importer loads
    it while the worker parses on."""

    def __init__(self, kind: str, directory: Path, *, step_bytes: int, announce: Any) -> None:
        self.kind, self.directory, self.step, self.announce = kind, directory, step_bytes, announce
        self.current: SqliteSink | CopyTextSink | None = None
        self.path: Path | None = None
        self.count = 0
        self.done = self.mark_at = 0
        self.combos: dict[int, list[Any]] = {}  # part base -> its combinations (grows as rows go by)
        self.announced: dict[int, int] = {}  # part base -> combinations announced so far

    def write(self, rows: list[list[Any]], combos: list[Any], base: int) -> None:
        if self.current is None:
            self.count += 1
            self.path = self.directory / f"worker-{self.count:03d}{'.db' if self.kind == Flavor.SQLITE else '.copy'}"
            self.current = SqliteSink(self.path) if self.kind == Flavor.SQLITE else CopyTextSink(self.path)
        self.current.write(rows, combos, base)
        self.combos[base] = combos

    def mark(self, done: int) -> None:
        """Bytes read so far: a new file once `step_bytes` more were staged."""
        self.done = done
        if self.current is not None and done - self.mark_at >= self.step:
            self.mark_at = done
            self.finish_file()

    def finish_file(self) -> None:
        assert self.current is not None and self.path is not None
        self.current.close()
        self.current = None
        new: list[tuple[int, Any]] = []
        for base, combos in self.combos.items():
            start = self.announced.get(base, 0)
            new += ((base + k, combos[k]) for k in range(start, len(combos)))
            self.announced[base] = len(combos)
        self.announce(self.path, new, self.done)

    def reset(self) -> None:
        raise NotImplementedError("a worker's staging files are not parsed again")

    def close(self) -> None:
        if self.current is not None:
            self.finish_file()
