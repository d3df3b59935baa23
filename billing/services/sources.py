"""Sources of billing data."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import Source
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError


def source_add(
    *,
    name: str,
    actor: Actor,
    display_name: str = "",
    file_pattern: str = "",
    credit_fund_org: str = "",
    gl_account: str = "",
) -> Source:
    name = name.strip().lower()
    with transaction.atomic():
        if Source.objects.filter(name=name).exists():
            raise BillingError(f"source {name!r} already exists")
        source = Source(
            name=name, display_name=display_name, file_pattern=file_pattern,
            credit_fund_org=credit_fund_org, gl_account=gl_account,
        )  # fmt: skip
        try:
            source.full_clean()
        except ValidationError as exc:
            raise BillingError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        source.save()
        audit_record(actor=actor, action="source.add", obj=source, after={"name": name, "pattern": file_pattern})
        return source
