"""What runs once an import is committed, filled in by the apps built on billing.

Billing cannot call the floors above it (budget alerts are sent from statements), so each app
registers a hook in its `AppConfig.ready()`; the import service schedules every hook with
`transaction.on_commit`, so a rolled-back import triggers nothing. A hook gets the period and the
batch id and must be safe to run twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from django.db import transaction

ImportHook = Callable[..., None]  # hook(*, month: str, batch_id: int | None)

_hooks: list[ImportHook] = []
log = logging.getLogger("openchargeback.billing")


def register(hook: ImportHook) -> ImportHook:
    """Add `hook` (once); returns it, so it also works as a decorator."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def schedule(*, month: str, batch_id: int | None) -> None:
    """Run every registered hook after the current transaction commits."""
    for hook in list(_hooks):
        transaction.on_commit(partial(_run, hook, month=month, batch_id=batch_id))


def _run(hook: ImportHook, *, month: str, batch_id: int | None) -> None:
    # The import is committed; a failing hook must not turn it into an error for the importer.
    try:
        hook(month=month, batch_id=batch_id)
    except Exception:
        log.exception("after-import hook %s failed", getattr(hook, "__name__", hook), extra={"period": month})


def registered() -> tuple[ImportHook, ...]:
    return tuple(_hooks)
