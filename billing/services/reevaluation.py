"""Re-evaluating an open period's rules in the background, so the admin answers at once.

`reevaluation_request` writes a queued `Reevaluation` and queues the task once that commits;
the task calls `reevaluation_run`, which claims the row with a conditional update (a task
delivered twice runs once), runs `period_reevaluate` (one transaction: the same decisions as
ever) and marks the row done in that same transaction, or failed with the reason. A
re-evaluation's writes are invisible until it commits, so how far it is goes to the cache
(`reevaluation_progress`) for the period page. In embedded mode (no broker) the task runs eagerly,
in the request, after its commit.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from billing.models import Reevaluation
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError

from .rules import period_reevaluable, period_reevaluate

Status = Reevaluation.Status
# A re-evaluation queued or running for longer than this is taken for lost (a worker died); a
# new one may then be requested. The task's own time limit is shorter.
STALE_AFTER = timedelta(hours=2)
TIME_LIMIT_SECONDS = 3600


def progress_key(reevaluation_id: int) -> str:
    return f"openchargeback:reevaluation:{reevaluation_id}"


def reevaluation_request(*, month: str, actor: Actor) -> Reevaluation:
    """Queue a re-evaluation of an open period; refused while another one of it is under way."""
    from billing.tasks import reevaluate_period

    with transaction.atomic():
        period_obj = period_reevaluable(month)
        busy = (
            Reevaluation.objects.filter(period=period_obj, status__in=[Status.QUEUED, Status.RUNNING])
            .filter(created_at__gte=timezone.now() - STALE_AFTER)
            .first()
        )
        if busy is not None:
            raise BillingError(
                f"a re-evaluation of {month} is already {busy.status} (requested by {busy.actor}); "
                "wait for it to finish"
            )
        run = Reevaluation.objects.create(
            period=period_obj, actor=actor.label, user_id=actor.user_id, source_ip=actor.source_ip
        )
        audit_record(actor=actor, action="period.reevaluate_queued", obj=run, month=month)
        transaction.on_commit(partial(reevaluate_period.delay, run.pk))
    return run


def reevaluation_run(*, reevaluation_id: int) -> str:
    """Run a queued re-evaluation: "done", "failed" (the reason kept on the row) or "skipped"
    (not queued any more: another delivery of the task has it)."""
    claimed = Reevaluation.objects.filter(pk=reevaluation_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return "skipped"
    run = Reevaluation.objects.select_related("period").get(pk=reevaluation_id)
    actor = Actor(label=run.actor, user_id=run.user_id, source_ip=run.source_ip)
    key = progress_key(run.pk)
    progress = partial(_progress, key)
    try:
        with transaction.atomic():
            report = period_reevaluate(month=run.period.period, actor=actor, progress=progress)
            Reevaluation.objects.filter(pk=run.pk).update(
                status=Status.DONE, finished_at=timezone.now(), report=report.as_dict(sample=False)
            )
    except BillingError as exc:
        _fail(run.pk, str(exc))
        return "failed"
    except BaseException as exc:
        _fail(run.pk, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        raise
    finally:
        cache.delete(key)
    return "done"


def _progress(key: str, done: int, total: int) -> None:
    cache.set(key, (done, total), timeout=int(STALE_AFTER.total_seconds()))


def _fail(reevaluation_id: int, error: str) -> None:
    Reevaluation.objects.filter(pk=reevaluation_id).update(
        status=Status.FAILED, finished_at=timezone.now(), error=error[:2000]
    )
