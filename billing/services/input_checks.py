"""What an import accepts before reading a line: a size limit, and CSV by content, not by name;
and the source and period its files' names (or first data row) tell when they are not given.

A file is accepted if it is plain UTF-8 text or gzip-compressed UTF-8 text (recognised by the
gzip signature, whatever the file is called). Anything else is refused with what it looks like
and what to do, before a batch is started.
"""

from __future__ import annotations

import codecs
import fnmatch
import gzip
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from billing.ingest.reader import FileReader, IngestError
from billing.ingest.rows import parse_date
from billing.models import Source
from chargeback.errors import ChoiceNeeded

SNIFF_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
# Signatures of files people export by mistake, to say what was received.
KNOWN_BINARY = [
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an Office document (an Excel .xls workbook?)"),
    (b"%PDF", "a PDF document"),
    (b"PAR1", "a Parquet file"),
    (b"\x89PNG", "a PNG image"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ", "an xz-compressed file"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
]
SAVE_AS = "export or save it as CSV (UTF-8), optionally gzip-compressed"
PERIOD_IN_NAME = re.compile(r"(?<!\d)(\d{4})[-_]?(0[1-9]|1[0-2])(?!\d)")


def size_limit_message(size: int, limit: int, setting: str) -> str:
    return f"{filesizeformat(size)} is over the limit of {filesizeformat(limit)} ({setting})"


def input_file_check(*, path: Path, name: str) -> None:
    """Raise IngestError unless `path` is within the size limit and is CSV or gzip'd CSV text."""
    size = path.stat().st_size
    limit = settings.OPENCHARGEBACK_MAX_IMPORT_BYTES
    if limit >= 0 and size > limit:
        raise IngestError(
            name, None, f"the file is too large: {size_limit_message(size, limit, 'OPENCHARGEBACK_MAX_IMPORT_BYTES')}"
        )
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    compressed = head.startswith(GZIP_MAGIC)
    if compressed:
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(SNIFF_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise IngestError(name, None, f"not a readable gzip file ({exc}); {SAVE_AS}") from None
    what = "the compressed content" if compressed else "the file"
    for magic, kind in KNOWN_BINARY:
        if head.startswith(magic):
            raise IngestError(name, None, f"{what} is {kind}, not CSV; {SAVE_AS}")
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise IngestError(name, None, f"{what} is not UTF-8 text ({exc.reason}); {SAVE_AS}") from None
    if "\x00" in text:
        raise IngestError(name, None, f"{what} is binary, not CSV text; {SAVE_AS}")
    first = text.lstrip()[:1]
    if first in {"{", "[", "<"}:
        kind = "JSON" if first in "{[" else "HTML or XML"
        raise IngestError(name, None, f"{what} looks like {kind}, not CSV; {SAVE_AS}")


def source_patterns(source: Source) -> list[str]:
    """A source's file name patterns: shell-style, separated by spaces, matched against the lower-cased name."""
    return [p for p in source.file_pattern.lower().split() if p]


def detect_sources(filename: str) -> list[Source]:
    """Every enabled source one of whose file patterns matches the name."""
    lowered = filename.lower()
    return [
        s for s in Source.objects.filter(enabled=True).exclude(file_pattern="").order_by("name")
        if any(fnmatch.fnmatchcase(lowered, p) for p in source_patterns(s))
    ]  # fmt: skip


def detect_source(filename: str) -> Source:
    """The one enabled source whose pattern matches the name; never a guess between two."""
    found = detect_sources(filename)
    if len(found) > 1:
        names = " and ".join(s.name for s in found)
        raise ChoiceNeeded(
            f"the file name {filename!r} matches the patterns of sources {names}",
            cli="give --source", web="choose the source",
        )  # fmt: skip
    if not found:
        raise ChoiceNeeded(
            f"cannot tell the source from the file name {filename!r}", cli="give --source", web="choose the source"
        )
    return found[0]


def detect_period(paths: Sequence[Path]) -> str | None:
    """A period from the file names (`2025-01`, `2025_01`, `202501`), else from the first data row."""
    for path in paths:
        match = PERIOD_IN_NAME.search(path.name)
        if match:
            return f"{match.group(1)}-{match.group(2)}"
    for path in paths:
        with FileReader(path) as reader:
            for cells in reader.lines():
                assert reader.plan is not None
                index = reader.plan.index_of("billing_period_start")
                if index is not None and cells[index].strip():
                    try:
                        return parse_date(cells[index])[:7]
                    except ValueError:
                        return None
                break
    return None
