"""The stored originals of imported files (`MEDIA_ROOT/imports/<sha[:2]>/<sha>/<name>`), kept whole.

An original is content-addressed, so a file imported again reuses its copy. A copy is written
under a temporary name next to its place and renamed when complete, so a killed import never
leaves a short file under the real name; and a copy is reused only if its size and SHA-256 are
those of the file (anything else, say a copy left by an older version, is stored again).
The periodic sweep removes what a killed import leaves: partial copies, and copies no batch
refers to (the import that stored them never committed).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from billing.ingest.staging import staging_sweep
from billing.models import ImportFile

PARTIAL_SUFFIX = ".part"
# An unreferenced copy this old belongs to no running import.
ORPHAN_AGE_SECONDS = 24 * 3600


def original_store(*, path: Path, name: str, sha: str, size: int) -> tuple[str, bool]:
    """The stored copy of `path` (named `name`), and whether this call wrote it."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name) or "upload.csv"
    target = f"imports/{sha[:2]}/{sha}/{safe}"
    if default_storage.exists(target):
        if _matches(target, sha, size):
            return target, False
        default_storage.delete(target)
    try:
        local = Path(default_storage.path(target))
    except NotImplementedError:  # object storage: an upload appears whole or not at all
        with path.open("rb") as fh:
            return default_storage.save(target, File(fh, name=safe)), True
    local.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.", suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out, path.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        mode = settings.FILE_UPLOAD_PERMISSIONS
        os.chmod(partial, mode if mode is not None else 0o666 & ~_umask())
        os.replace(partial, local)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target, True


def _matches(target: str, sha: str, size: int) -> bool:
    if default_storage.size(target) != size:
        return False
    digest = hashlib.sha256()
    with default_storage.open(target, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == sha


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def originals_sweep(*, now: float | None = None) -> int:
    """Remove partial copies and copies no import file refers to, older than a day (local storage only)."""
    try:
        root = Path(default_storage.path("imports"))
    except NotImplementedError:
        return 0
    if not root.is_dir():
        return 0
    cutoff = (now if now is not None else time.time()) - ORPHAN_AGE_SECONDS
    referenced = set(ImportFile.objects.values_list("stored", flat=True))
    removed = 0
    for file in root.glob("*/*/*"):
        try:
            if not file.is_file() or file.stat().st_mtime >= cutoff:
                continue
        except OSError:
            continue
        stored = file.relative_to(root.parent).as_posix()
        if file.name.endswith(PARTIAL_SUFFIX) or stored not in referenced:
            file.unlink(missing_ok=True)
            removed += 1
    return removed


def import_leftovers_sweep() -> int:
    """What killed imports left behind: abandoned staging folders (a minute old at least) and
    partial or unreferenced originals. The number of folders and files removed."""
    return staging_sweep(before=time.time() - 60) + originals_sweep()
