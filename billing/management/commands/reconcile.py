from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from billing.selectors.reconciliation import Reconciliation, month_reconciliation
from billing.services.invoices import invoice_explain
from chargeback.command import ChargebackCommand, Error
from chargeback.formatting import money


class Command(ChargebackCommand):
    help = (
        "Reconcile a month with the provider's bill: per recorded invoice, its total against the imported "
        "BilledCost of the rows carrying its InvoiceId, and the rows with none; then where the imported money "
        "went: billed on statements, rejected (absorbed centrally), still flagged, rounding, commitment timing "
        "(sources billed on the effective basis), with anything left unexplained named. "
        "'reconcile explain MONTH --invoice ID --note TEXT' records why an invoice differs (audited); "
        "finalizing refuses while a difference of a cent or more is unexplained."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "words", nargs="+", metavar="MONTH | explain MONTH", help="YYYY-MM, or 'explain YYYY-MM' with --invoice"
        )
        parser.add_argument("--currency", help="Reconcile this currency (needed when a month has several)")
        parser.add_argument("--invoice", metavar="ID", help="explain: the invoice's InvoiceId")
        parser.add_argument("--note", metavar="TEXT", help="explain: why the imported rows differ from its total")
        parser.add_argument("--source", help="explain: the source, when two sources have that InvoiceId")
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        words = options["words"]
        if words[0] == "explain":
            self._explain(words[1:], options)
            return
        if len(words) != 1:
            raise Error("give one month (YYYY-MM), or 'explain YYYY-MM --invoice ID --note TEXT'")
        if options["invoice"] or options["note"] is not None:
            raise Error("--invoice and --note belong to 'reconcile explain MONTH'")
        rec = month_reconciliation(month=words[0], currency=options["currency"])
        self.emit(options, rec.as_dict(), reconciliation_text(rec))

    def _explain(self, words: list[str], options: dict[str, Any]) -> None:
        if len(words) != 1:
            raise Error("give the month: 'reconcile explain YYYY-MM --invoice ID --note TEXT'")
        if not options["invoice"] or options["note"] is None:
            raise Error("'reconcile explain' needs --invoice ID and --note TEXT")
        invoice = invoice_explain(
            month=words[0], invoice_id=options["invoice"], note=options["note"], actor=self.actor,
            source=options["source"] or "",
        )  # fmt: skip
        data = {"month": words[0], "source": invoice.source.name, "invoice_id": invoice.invoice_id,
                "explanation": invoice.explanation, "explained_by": invoice.explained_by}  # fmt: skip
        verb = "explained" if invoice.explanation else "withdrew the explanation of"
        self.emit(options, data, f"{verb} {invoice.source.name} invoice {invoice.invoice_id} of {words[0]}")


def reconciliation_text(rec: Reconciliation) -> str:
    cur = rec.currency
    out = [f"reconciliation of {rec.month} ({cur})", ""]
    if rec.invoices:
        out.append(f"{'source':<10} {'invoice':<22} {'provider total':>18} {'imported':>18} {'delta':>14}  explanation")
        for i in rec.invoices:
            total = money(i.provider_total, cur) if i.recorded else "not recorded"
            delta = money(i.delta, cur) if i.recorded else "-"
            note = i.explanation or ("UNEXPLAINED" if i.unexplained else "")
            out.append(
                f"{i.source:<10} {i.invoice_id:<22} {total:>18} {money(i.imported, cur):>18} {delta:>14}  {note}"
            )
    else:
        out.append("no invoices recorded ('openchargeback invoices record SOURCE INVOICE_ID --month … --total …')")
    out.append(f"rows without an InvoiceId: {rec.unassigned_rows} ({money(rec.unassigned_cost, cur)})")
    out.append("")
    billed = "billed on statements" if rec.statements is not None else "billed (no statements yet)"
    parts = [
        ("imported (BilledCost)", rec.imported), (billed, rec.billed), ("rejected (absorbed)", rec.rejected),
        ("flagged (under review)", rec.flagged), ("rounding", rec.rounding),
        ("commitment timing", rec.commitment_timing),
    ]  # fmt: skip
    out += [f"{label:<28} {money(amount, cur):>18}" for label, amount in parts]
    if rec.statements_differ:
        out.append(f"{'statements out of date':<28} {money(rec.statements_differ, cur):>18}  generate them again")
    out.append(f"{'unexplained':<28} {money(rec.unexplained, cur):>18}")
    return "\n".join(out)
