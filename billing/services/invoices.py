"""Provider invoices and the data behind them: recorded, explained, marked final; each audited.

A provider's invoice (its `InvoiceId`, month and total) is what the imported rows carrying that
`InvoiceId` must add up to. A difference of a cent or more is either corrected (a new import) or
explained; finalizing a month refuses while one is neither (`invoices_finalize_check`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from billing.models import BillingPeriod, ImportBatch, ProviderInvoice, Source
from billing.selectors.reconciliation import unexplained_invoices
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError
from chargeback.text import control_character_message

from .periods import period_validate


def parse_amount(text: str, *, what: str = "total") -> Decimal:
    try:
        amount = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation:
        raise BillingError(f"{what} {text!r} is not an amount (e.g. 1234.56)") from None
    if not amount.is_finite():
        raise BillingError(f"{what} {text!r} is not an amount (e.g. 1234.56)")
    return amount


def invoice_record(
    *,
    source: str,
    invoice_id: str,
    month: str,
    total: Decimal,
    actor: Actor,
    currency: str = "USD",
    issuer: str = "",
    billing_account: str = "",
) -> ProviderInvoice:
    """Record (or correct) a provider's invoice for a source and month. Audited as `providerinvoice.record`."""
    period_validate(month)
    invoice_id = invoice_id.strip()
    currency = currency.strip().upper()
    if not invoice_id:
        raise BillingError("an invoice needs its InvoiceId")
    for label, value in (("invoice id", invoice_id), ("issuer", issuer), ("billing account", billing_account)):
        problem = control_character_message(value)
        if problem:
            raise BillingError(f"{label}: {problem}")
    if len(currency) != 3 or not currency.isalpha():
        raise BillingError(f"currency {currency!r} is not an ISO 4217 code (e.g. USD)")
    with transaction.atomic():
        src = Source.objects.filter(name=source.strip().lower()).first()
        if src is None:
            known = ", ".join(Source.objects.values_list("name", flat=True))
            raise BillingError(f"unknown source {source!r} (known: {known})")
        period = BillingPeriod.objects.filter(period=month).first()
        if period is None:
            raise BillingError(f"period {month} does not exist; import the month's charges first")
        if period.status == BillingPeriod.Status.FINALIZED:
            raise BillingError(f"period {month} is finalized; its invoices are permanent")
        invoice = ProviderInvoice.objects.select_for_update().filter(source=src, invoice_id=invoice_id).first()
        before = None
        if invoice is None:
            invoice = ProviderInvoice(source=src, invoice_id=invoice_id)
        else:
            before = _state(invoice)
        invoice.period, invoice.total, invoice.currency = period, total, currency
        invoice.issuer, invoice.billing_account = issuer.strip(), billing_account.strip()
        invoice.recorded_by, invoice.user_id = actor.label, actor.user_id
        invoice.full_clean()
        invoice.save()
        audit_record(
            actor=actor,
            action="providerinvoice.record",
            obj=invoice,
            month=month,
            before=before,
            after=_state(invoice),
        )
        return invoice


def invoice_explain(*, month: str, invoice_id: str, note: str, actor: Actor, source: str = "") -> ProviderInvoice:
    """Explain the difference between an invoice and the imported rows (a blank note withdraws it)."""
    period_validate(month)
    note = note.strip()
    with transaction.atomic():
        qs = ProviderInvoice.objects.select_for_update().filter(period__period=month, invoice_id=invoice_id.strip())
        if source:
            qs = qs.filter(source__name=source.strip().lower())
        found = list(qs.select_related("period", "source"))
        if not found:
            raise BillingError(
                f"no invoice {invoice_id!r} recorded for {month} (see 'openchargeback reconcile {month}')"
            )
        if len(found) > 1:
            names = ", ".join(i.source.name for i in found)
            raise BillingError(f"invoice {invoice_id!r} of {month} is recorded for {names}; give --source")
        invoice = found[0]
        if invoice.period.status == BillingPeriod.Status.FINALIZED:
            raise BillingError(f"period {month} is finalized; its explanations are permanent")
        before = {"explanation": invoice.explanation, "explained_by": invoice.explained_by}
        invoice.explanation = note
        invoice.explained_by = actor.label if note else ""
        invoice.explained_at = timezone.now() if note else None
        invoice.save(update_fields=["explanation", "explained_by", "explained_at"])
        audit_record(
            actor=actor, action="providerinvoice.explain", obj=invoice, month=month, before=before,
            after={"explanation": note, "explained_by": invoice.explained_by},
        )  # fmt: skip
        return invoice


def batch_mark_final(*, batch_id: int, actor: Actor, final: bool = True) -> ImportBatch:
    """Mark an applied import as the provider's final data for its month (or as provisional again)."""
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().select_related("period", "source").filter(pk=batch_id).first()
        if batch is None:
            raise BillingError(f"no import batch {batch_id}")
        if batch.status != ImportBatch.Status.APPLIED:
            raise BillingError(
                f"batch {batch_id} is {batch.get_status_display().lower()}; only an applied batch counts"
            )
        if batch.final == final:
            return batch
        batch.final = final
        batch.save(update_fields=["final"])
        audit_record(
            actor=actor, action="batch.final" if final else "batch.provisional", obj=batch,
            month=batch.period.period, before={"final": not final}, after={"final": final},
        )  # fmt: skip
        return batch


def _state(invoice: ProviderInvoice) -> dict[str, str]:
    return {
        "source": invoice.source.name, "invoice_id": invoice.invoice_id, "month": invoice.period.period,
        "currency": invoice.currency, "total": format(invoice.total, "f"), "issuer": invoice.issuer,
        "billing_account": invoice.billing_account,
    }  # fmt: skip


def invoices_finalize_check(period: BillingPeriod) -> None:
    """Refuse to finalize a month while a recorded invoice differs from its rows, unexplained."""
    open_ = unexplained_invoices(period)
    if open_:
        named = "; ".join(f"{i.source} invoice {i.invoice_id} differs by {i.delta:.2f} {i.currency}" for i in open_)
        raise BillingError(
            f"period {period.period}: {named}; correct the import or explain it with "
            f"'openchargeback reconcile explain {period.period} --invoice ID --note TEXT'"
        )
