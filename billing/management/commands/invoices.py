from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from billing.services.invoices import invoice_record, parse_amount
from chargeback.command import ChargebackCommand
from chargeback.formatting import money


class Command(ChargebackCommand):
    help = (
        "Record a provider's invoice for a source and month: its InvoiceId and total (recording the same "
        "InvoiceId again corrects it). 'openchargeback reconcile MONTH' compares it with the imported rows "
        "carrying that InvoiceId; finalizing the month refuses while they differ by a cent or more, unexplained. "
        "Every change is audited. Many invoices at once: 'openchargeback data import invoices FILE'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "{record}")
        rec = sub.add_parser("record", help="Record (or correct) one invoice")
        rec.add_argument("source", metavar="SOURCE", help="The source's name, e.g. aws")
        rec.add_argument("invoice_id", metavar="INVOICE_ID", help="The provider's invoice number (FOCUS InvoiceId)")
        rec.add_argument("--month", required=True, metavar="YYYY-MM", help="The billing month the invoice covers")
        rec.add_argument("--total", required=True, metavar="AMOUNT", help="The invoice's total, e.g. 1234.56")
        rec.add_argument("--currency", default="USD", help="ISO 4217 code (default USD)")
        rec.add_argument("--issuer", default="", help="Who issued it (FOCUS InvoiceIssuerName)")
        rec.add_argument("--billing-account", default="", help="The billing account it is for (BillingAccountId)")

    def handle(self, *args: Any, **options: Any) -> None:
        invoice = invoice_record(
            source=options["source"], invoice_id=options["invoice_id"], month=options["month"],
            total=parse_amount(options["total"]), currency=options["currency"], issuer=options["issuer"],
            billing_account=options["billing_account"], actor=self.actor,
        )  # fmt: skip
        data = {
            "source": invoice.source.name, "invoice_id": invoice.invoice_id, "month": invoice.period.period,
            "currency": invoice.currency, "total": invoice.total,
        }  # fmt: skip
        text = (
            f"recorded {invoice.source.name} invoice {invoice.invoice_id} for {invoice.period.period}: "
            f"{money(invoice.total, invoice.currency)}"
        )
        self.emit(options, data, text)
