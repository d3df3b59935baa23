"""SQLite's "database is locked": another process holds the write lock longer than a writer waits.

On SQLite one process writes at a time; a long import holds the lock for its whole transaction.
A second writer waits (OPENCHARGEBACK_SQLITE_TIMEOUT seconds) and then fails. That is not a bug
to show as a traceback or an HTTP 500: the command says so in one line, the web answers 503 with
Retry-After, and trying again later works.
"""

from __future__ import annotations

import re

from django.db import OperationalError

# "database is locked" (another connection writes), or "database table is locked" (the same, as
# SQLite words it for connections sharing a cache).
_LOCKED = re.compile(r"\bdatabase (table )?is locked\b")
BUSY_MESSAGE = (
    "the database is busy: another import or change is writing to it (SQLite: database is locked); "
    "try again when it has finished"
)
RETRY_AFTER_SECONDS = 30


def database_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and bool(_LOCKED.search(str(exc)))
