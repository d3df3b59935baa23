"""Celery tasks of billing: ids in, a service call, nothing else. Safe to run twice."""

from __future__ import annotations

from billing.services.originals import import_leftovers_sweep
from billing.services.reevaluation import TIME_LIMIT_SECONDS, reevaluation_run
from chargeback.celery import app


@app.task(acks_late=True, soft_time_limit=TIME_LIMIT_SECONDS, time_limit=TIME_LIMIT_SECONDS + 60)
def reevaluate_period(reevaluation_id: int) -> str:
    return reevaluation_run(reevaluation_id=reevaluation_id)


@app.task
def sweep_imports() -> int:
    """Remove what killed imports left behind: staging folders, partial and orphan originals (beat, hourly)."""
    return import_leftovers_sweep()
