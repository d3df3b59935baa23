"""Read FOCUS CSV files: streaming, gzip-aware, BOM/CRLF tolerant and strict.

`FileReader` yields each data line's cells with its line number; anything it cannot read with
certainty is an `IngestError` naming the file, line and column. It never guesses.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from chargeback.errors import IngestError

from .columns import HeaderError, HeaderPlan, plan_header

csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True)
class Limits:
    """How much a file may hold once decompressed, and how long one line may be (bytes; negative:
    no limit). Checked while streaming, so a hostile file is refused before it fills memory."""

    decompressed_bytes: int = -1
    line_bytes: int = -1

    @classmethod
    def from_settings(cls) -> Limits:
        from django.conf import settings

        return cls(settings.OPENCHARGEBACK_MAX_DECOMPRESSED_BYTES, settings.OPENCHARGEBACK_MAX_LINE_BYTES)


class _LimitExceeded(Exception):
    pass


class _LimitedReader(io.RawIOBase):
    """The (decompressed) bytes of a file, refused past `Limits`.

    It counts every byte and the bytes since the last line end. Reads are at most `chunk` bytes and
    `chunk` is not above the line limit, so a line longer than the limit always crosses a read and
    is caught there: what is buffered never exceeds the line limit and one read.
    """

    def __init__(self, inner: Any, limits: Limits) -> None:
        self.inner, self.limits = inner, limits
        self.total = self.since_line_end = 0
        line = limits.line_bytes
        self.chunk = max(4096, min(1 << 20, line)) if line >= 0 else 1 << 20

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: self.chunk]
        n = self.inner.readinto(view) or 0
        if n:
            data = bytes(view[:n])
            self.total += n
            limit = self.limits.decompressed_bytes
            if 0 <= limit < self.total:
                raise _LimitExceeded(
                    f"the content is over the limit of {limit} bytes once decompressed "
                    "(OPENCHARGEBACK_MAX_DECOMPRESSED_BYTES)"
                )
            last = data.rfind(b"\n")
            if last < 0:
                longest = self.since_line_end = self.since_line_end + n
            else:
                longest = max(self.since_line_end + data.find(b"\n"), n - last - 1)
                self.since_line_end = n - last - 1
            limit = self.limits.line_bytes
            if 0 <= limit < longest:
                raise _LimitExceeded(
                    f"the line is longer than the limit of {limit} bytes (OPENCHARGEBACK_MAX_LINE_BYTES)"
                )
        return n


class _CountingReader(io.RawIOBase):
    """Counts bytes read from the underlying file, for the progress bar."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.bytes_read = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.bytes_read += n or 0
        return n or 0


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class _RangeReader(io.RawIOBase):
    """The bytes [start, end) of a file, counted for the progress bar."""

    def __init__(self, raw: IO[bytes], start: int, end: int) -> None:
        raw.seek(start)
        self.raw, self.left, self.bytes_read = raw, end - start, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: self.left]
        n = self.raw.readinto(view) or 0  # type: ignore[attr-defined]
        self.left -= n
        self.bytes_read += n
        return n


def split_point(path: Path, target: int) -> tuple[int, int] | None:
    """The first record boundary at or after byte `target` of a plain CSV file, and how many lines
    come before it: `(offset, lines)`, or None when there is none.

    A line end is a record boundary when an even number of quote characters precede it (quoted
    fields hold their quotes in pairs). A stray quote in an unquoted field can make that wrong;
    the part before the split then ends inside a quoted field, which the strict CSV reader
    reports, and the caller parses the file again in one piece.
    """
    quotes = lines = 0
    pos = 0
    last = b""
    with path.open("rb") as fh:
        if fh.read(2) == b"\x1f\x8b":
            return None
        fh.seek(0)
        while block := fh.read(1 << 20):
            if pos + len(block) > target:
                i = max(0, target - pos)
                q = quotes + block.count(b'"', 0, i)
                while True:
                    j = block.find(b"\n", i)
                    if j < 0:
                        break
                    q += block.count(b'"', i, j)
                    if q % 2 == 0:
                        head = block[: j + 1]
                        lines += head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n")
                        if last == b"\r" and head[:1] == b"\n":
                            lines -= 1
                        return pos + j + 1, lines
                    i = j + 1
            quotes += block.count(b'"')
            lines += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
            if last == b"\r" and block[:1] == b"\n":
                lines -= 1
            last = block[-1:]
            pos += len(block)
    return None


class FileReader:
    """One file's header plan and data lines. Use as a context manager.

    With `start`/`end`, only the data lines in that byte range of a plain (not gzipped) file are
    read; `start` must be a record boundary after the header, `lines_before` the number of lines
    that precede it (so line numbers stay those of the whole file).
    """

    def __init__(
        self, path: Path, display_name: str | None = None, *, start: int = 0, end: int | None = None,
        lines_before: int = 0, limits: Limits | None = None,
    ) -> None:  # fmt: skip
        self.path = path
        self.name = display_name or path.name
        self.limits = limits if limits is not None else Limits.from_settings()
        self.start, self.end, self.lines_before = start, end, lines_before
        self._raw: IO[bytes] | None = None
        self._counter: _CountingReader | _RangeReader | None = None
        self._text: IO[str] | None = None
        self._reader: Any = None
        self.plan: HeaderPlan | None = None

    def __enter__(self) -> FileReader:
        self._raw = self.path.open("rb")
        if self.start:
            self.plan = self._header_plan()
            end = self.end if self.end is not None else self.path.stat().st_size
            self._counter = _RangeReader(self._raw, self.start, end)
            self._text = io.TextIOWrapper(self._limited(self._counter), encoding="utf-8", newline="")
            return self
        magic = self._raw.read(2)
        self._raw.seek(0)
        if self.end is not None:
            self._counter = _RangeReader(self._raw, 0, self.end)
        else:
            self._counter = _CountingReader(self._raw)
        binary: IO[bytes] = self._counter  # type: ignore[assignment]
        if magic == b"\x1f\x8b":
            compressed = io.BufferedReader(self._counter, buffer_size=1 << 20)
            binary = gzip.GzipFile(fileobj=compressed, mode="rb")  # type: ignore[assignment]
        self._text = io.TextIOWrapper(self._limited(binary), encoding="utf-8-sig", newline="")
        return self

    def _limited(self, binary: Any) -> io.BufferedReader:
        limited = _LimitedReader(binary, self.limits)
        return io.BufferedReader(limited, buffer_size=limited.chunk)

    def __exit__(self, *exc: object) -> None:
        if self._text is not None:
            self._text.close()
        if self._raw is not None:
            self._raw.close()

    @property
    def bytes_read(self) -> int:
        return self._counter.bytes_read if self._counter else 0

    @property
    def csv_reader(self) -> Any:
        """The CSV reader of `lines()`, once it has started (its `line_num` counts from `start`)."""
        return self._reader

    @property
    def line(self) -> int:
        return int(self._reader.line_num) + self.lines_before if self._reader is not None else 0

    def _header_plan(self) -> HeaderPlan:
        with FileReader(self.path, self.name, limits=self.limits) as whole:
            for _ in whole.lines():
                break
            assert whole.plan is not None
            return whole.plan

    def error(self, line: int | None, message: str, column: str | None = None) -> IngestError:
        return IngestError(self.name, line, message, column)

    def lines(self) -> Iterator[list[str]]:
        """Data lines as lists of cells (blank lines skipped); `self.line` is the current line."""
        assert self._text is not None, "use FileReader as a context manager"
        reader = self._reader = csv.reader(self._text, strict=True)
        before = self.lines_before
        try:
            if self.plan is None:
                try:
                    header = next(reader)
                except StopIteration:
                    raise self.error(None, "the file is empty (no header row)") from None
                try:
                    self.plan = plan_header(header)
                except HeaderError as exc:
                    raise self.error(1, str(exc)) from None
            ncols = len(self.plan.names)
            for cells in reader:
                if len(cells) != ncols:
                    if not cells or (len(cells) == 1 and not cells[0].strip()):
                        continue  # a blank line is not a data line
                    found = f"expected {ncols} cells like the header, found {len(cells)}"
                    raise self.error(reader.line_num + before, found)
                yield cells
        except _LimitExceeded as exc:
            raise self.error(reader.line_num + before + 1, str(exc)) from None
        except UnicodeDecodeError as exc:
            raise self.error(reader.line_num + before + 1, f"not UTF-8 text ({exc.reason})") from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise self.error((reader.line_num + before) or None, f"unreadable file ({exc})") from None
        except csv.Error as exc:
            raise self.error(reader.line_num + before, f"malformed CSV ({exc})") from None
