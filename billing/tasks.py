"""Celery tasks of billing: a service call each, safe to run twice."""

from __future__ import annotations

from billing.services.originals import import_leftovers_sweep
from chargeback.celery import app


@app.task
def sweep_imports() -> int:
    """Remove what killed imports left behind: staging folders, partial and orphan originals (beat, hourly)."""
    return import_leftovers_sweep()
