"""What an import accepts before reading a line: a size limit, and CSV by content, not by name.

A file is accepted if it is plain UTF-8 text or gzip-compressed UTF-8 text (recognised by the
gzip signature, whatever the file is called). Anything else is refused with what it looks like
and what to do, before a batch is started.
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from pathlib import Path

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from billing.ingest.reader import IngestError

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
