"""An import's staging folder (`ocb-import-*` in the temporary folder) and the sweep of abandoned ones.

An import parses into files in its own folder, removed when it ends. An import that is killed
(`kill -9`, a crashed container) cannot remove it: tens of megabytes stay behind per import. Each
import holds an exclusive lock on a `.lock` file in its folder while it runs; the kernel releases
it when the process dies, however it dies. A folder whose lock nobody holds is abandoned and is
removed at the start of the next import and by the periodic sweep.
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "ocb-import-"
LOCK = ".lock"
# A folder without a lock file is only removed when this old (an import locks its folder at once).
UNLOCKED_GRACE_SECONDS = 3600


@contextmanager
def staging_dir() -> Iterator[Path]:
    """A new staging folder, locked for as long as the import runs, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    with (folder / LOCK).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def staging_sweep(*, before: float) -> int:
    """Remove the staging folders older than `before` (a time stamp) whose import no longer runs."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_mtime >= before:
                continue
        except OSError:  # removed meanwhile
            continue
        if _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _abandoned(folder: Path) -> bool:
    try:
        lock = (folder / LOCK).open("r")
    except FileNotFoundError:
        try:
            return folder.stat().st_mtime < time.time() - UNLOCKED_GRACE_SECONDS
        except OSError:
            return False
    except OSError:
        return False
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: that import is running
            return False
        return True
