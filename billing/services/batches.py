"""Import batches after the import: rolling one back, and the upload staging area of the admin.

The admin's import page works in two requests (preview, then confirm), so the uploaded files
wait in between in `MEDIA_ROOT/uploads/<token>/`: written in chunks (never held in memory),
named by a random token that is checked before any path is built from it, and swept when older
than a day.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from billing.models import BillingPeriod, Charge, ImportBatch, SubsidyUsage
from billing.services.after_import import schedule as after_import_schedule
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError

# The statuses a batch may be rolled back from.
ROLLBACK_FROM = {ImportBatch.Status.APPLIED}


def batch_rollback_refusal(batch: ImportBatch) -> str | None:
    """Why `batch` cannot be rolled back now, or None when it can."""
    if batch.status not in ROLLBACK_FROM:
        return f"batch {batch.pk} is {batch.get_status_display().lower()}; only an applied batch can be rolled back"
    if not batch.period.accepts_changes:
        return (
            f"period {batch.period.period} is {batch.period.status}; "
            "batches of a closed or finalized period cannot be rolled back"
        )
    return None


def batch_rollback(*, batch_id: int, actor: Actor, reason: str) -> ImportBatch:
    """Withdraw an applied batch of an open period: its charges stop counting; the rows stay.

    The batch it replaced (if any) stays superseded: import its files again to bring them back.
    """
    reason = reason.strip()
    if not reason:
        raise BillingError("rolling back a batch needs a reason")
    with transaction.atomic():
        period_id = ImportBatch.objects.filter(pk=batch_id).values_list("period_id", flat=True).first()
        if period_id is None:
            raise BillingError(f"batch {batch_id} does not exist")
        # The period first, then the batch: the same order as an import, so the two never deadlock.
        period = BillingPeriod.objects.select_for_update().get(pk=period_id)
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        batch.period = period
        refusal = batch_rollback_refusal(batch)
        if refusal:
            raise BillingError(refusal)
        charges = Charge.objects.filter(batch=batch, active=True).update(active=False)
        batch.status = ImportBatch.Status.ROLLED_BACK
        batch.save(update_fields=["status"])
        # What a converter recorded of capped subsidies for this source and month is given back:
        # nothing of that source and month is billed any more.
        usage = SubsidyUsage.objects.filter(period=period.period, source_id=batch.source_id)
        released = {u.rule.code: format(u.amount, "f") for u in usage.select_related("rule")}
        usage.delete()
        before: dict[str, object] = {"status": ImportBatch.Status.APPLIED, "active_charges": charges}
        if released:
            before["subsidy_usage_released"] = released
        audit_record(
            actor=actor, action="batch.rollback", obj=batch, month=period.period, before=before,
            after={"status": ImportBatch.Status.ROLLED_BACK, "reason": reason},
        )  # fmt: skip
        after_import_schedule(month=period.period, batch_id=batch.pk)  # spend fell: budget alerts may clear
    return batch


# Upload staging ---------------------------------------------------------------------------------

UPLOAD_TOKEN_RE = re.compile(r"[a-f0-9]{32}")
UPLOAD_MAX_AGE_SECONDS = 24 * 3600
_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StagedUpload:
    token: str
    paths: list[Path]
    names: list[str]  # as the user's browser named them
    sizes: list[int]


def uploads_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "uploads"


def upload_token_valid(token: str) -> bool:
    return bool(UPLOAD_TOKEN_RE.fullmatch(token))


def _safe_name(name: str, index: int) -> str:
    # The name on disk keeps the period digits of the original (period detection reads it).
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".") or f"upload-{index}.csv"


def upload_stage(*, files: Iterable[UploadedFile], user_id: int | None) -> StagedUpload:
    """Copy uploaded files, chunk by chunk, into a new staging folder; return its token."""
    uploads_sweep()
    token = secrets.token_hex(16)
    root = uploads_root() / token
    root.mkdir(parents=True)
    paths, names, sizes = [], [], []
    try:
        for index, upload in enumerate(files):
            name = Path(upload.name or "").name or f"upload-{index}.csv"
            # One folder per file: two uploads may share a name, and each keeps its own.
            folder = root / str(index)
            folder.mkdir()
            path = folder / _safe_name(name, index)
            size = 0
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
                    size += len(chunk)
            paths.append(path)
            names.append(name)
            sizes.append(size)
        if not paths:
            raise BillingError("no files given")
        manifest = {"names": names, "files": [str(p.relative_to(root)) for p in paths], "user_id": user_id}
        (root / _MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return StagedUpload(token=token, paths=paths, names=names, sizes=sizes)


def upload_open(*, token: str, user_id: int | None) -> StagedUpload:
    """The staged upload of `token`, made by the same user; BillingError when there is none."""
    if not upload_token_valid(token):
        raise BillingError("invalid upload token")
    root = uploads_root() / token
    gone = BillingError("this upload is no longer staged (confirmed, cancelled or expired); upload the files again")
    try:
        manifest = json.loads((root / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise gone from None
    if manifest.get("user_id") != user_id:
        raise gone
    paths = [root / rel for rel in manifest["files"]]
    if not all(p.is_file() and p.resolve().is_relative_to(root.resolve()) for p in paths):
        raise gone
    return StagedUpload(
        token=token, paths=paths, names=list(manifest["names"]), sizes=[p.stat().st_size for p in paths]
    )


def upload_discard(token: str) -> None:
    if upload_token_valid(token):
        shutil.rmtree(uploads_root() / token, ignore_errors=True)


def uploads_sweep(max_age_seconds: int = UPLOAD_MAX_AGE_SECONDS) -> int:
    """Remove staging folders older than `max_age_seconds` (abandoned previews); return how many."""
    root = uploads_root()
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_seconds
    removed = 0
    for folder in root.iterdir():
        try:
            old = folder.is_dir() and upload_token_valid(folder.name) and folder.stat().st_mtime < cutoff
        except OSError:  # removed by a concurrent sweep
            continue
        if old:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
