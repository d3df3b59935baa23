"""Sources of billing data: added and changed from the command line (the admin edits them too)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import Source
from chargeback.audit import Actor, audit_record, record_save
from chargeback.errors import BillingError

# What `source_update` may change: every field a person edits in the admin except the name.
EDITABLE = ("display_name", "file_pattern", "credit_fund_org", "gl_account", "billing_basis", "enabled")


def source_add(
    *,
    name: str,
    actor: Actor,
    display_name: str = "",
    file_pattern: str = "",
    credit_fund_org: str = "",
    gl_account: str = "",
    enabled: bool = True,
) -> Source:
    name = name.strip().lower()
    with transaction.atomic():
        if Source.objects.filter(name=name).exists():
            raise BillingError(f"source {name!r} already exists")
        source = Source(
            name=name, display_name=display_name, file_pattern=file_pattern,
            credit_fund_org=credit_fund_org, gl_account=gl_account, enabled=enabled,
        )  # fmt: skip
        _check(source)
        source.save()
        after = {"name": name, "pattern": file_pattern}
        after.update({f: getattr(source, f) for f in EDITABLE if f != "file_pattern"})
        audit_record(actor=actor, action="source.add", obj=source, after=after)
        return source


def source_update(*, name: str, actor: Actor, **changes: str | bool) -> Source:
    """Change a source's display name, file pattern, credit side, billing basis or enabled flag (the name stays).

    Only the fields given change; the audit event (`source.change`) names them before and after.
    An unknown source or a bad value refuses the change with one message.
    """
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise BillingError(f"a source has no editable field {', '.join(unknown)}")
    with transaction.atomic():
        source = Source.objects.select_for_update().filter(name=name.strip().lower()).first()
        if source is None:
            known = ", ".join(Source.objects.values_list("name", flat=True))
            raise BillingError(f"unknown source {name!r} (known: {known})")
        for field, value in changes.items():
            setattr(source, field, value)
        _check(source)
        record_save(obj=source, actor=actor)
        return source


def _check(source: Source) -> None:
    try:
        source.full_clean()
    except ValidationError as exc:
        raise BillingError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
