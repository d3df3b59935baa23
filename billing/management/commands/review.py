from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from billing.selectors import review_queue
from billing.services.review import ReviewResult, charges_approve, charges_reject
from chargeback.command import ChargebackCommand
from chargeback.formatting import money
from chargeback.money import ZERO


class Command(ChargebackCommand):
    help = (
        "Review flagged charges. Flagged charges stay out of statements until approved; rejected "
        "charges are kept but never billed. Every decision is recorded with its note. Reviews "
        "change only in open periods."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "{list,approve,reject}")
        p = sub.add_parser("list", help="Flagged charges with their reasons")
        p.add_argument("-p", "--period", help="Only this period (YYYY-MM)")
        p = sub.add_parser("approve", help="Approve charges by id, or every flagged charge of a period")
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--id", dest="ids", type=int, nargs="+", metavar="N", help="Charge ids")
        group.add_argument("-p", "--period", help="Approve every flagged charge of this period")
        p.add_argument("--note", default="", help="Why; kept with each decision")
        p = sub.add_parser("reject", help="Reject charges by id")
        p.add_argument("--id", dest="ids", type=int, nargs="+", metavar="N", required=True, help="Charge ids")
        p.add_argument("--note", default="", help="Why; kept with each decision")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list(options)
            return
        if action == "approve":
            result = charges_approve(
                ids=options["ids"], month=options["period"], actor=self.actor, note=options["note"]
            )
        else:
            result = charges_reject(ids=options["ids"], actor=self.actor, note=options["note"])
        self.emit(options, self._result(result), self._result_text(result))

    def _list(self, options: dict[str, Any]) -> None:
        rows = []
        total = ZERO
        for c in review_queue(month=options.get("period")).iterator(chunk_size=2000):
            total += c.billed_cost
            rows.append(
                {
                    "id": c.pk,
                    "period": c.period.period,
                    "source": c.source.name,
                    "pi_email": c.pi.email if c.pi else "",
                    "project_id": c.project.code if c.project else "",
                    "resource": c.resource_name or c.resource_id,
                    "billed_cost": c.billed_cost,
                    "currency": c.billing_currency,
                    "reasons": c.flag_reason_list,
                }
            )
        if options["output_format"] == "json":
            self.emit(options, {"charges": rows, "count": len(rows), "total_billed_cost": total}, "")
            return
        lines = [f"{'id':>8} {'period':<8} {'pi':<28} {'resource':<30} {'billed':>14}  reasons"]
        for r in rows:
            lines.append(
                f"{r['id']:>8} {r['period']:<8} {r['pi_email'][:28]:<28} {str(r['resource'])[:30]:<30} "
                f"{money(r['billed_cost'], r['currency']):>14}  {', '.join(r['reasons'])}"
            )
        lines.append(f"{len(rows)} flagged charges, {money(total)}")
        self.stdout.write("\n".join(lines))

    @staticmethod
    def _result(r: ReviewResult) -> dict[str, Any]:
        return {"decision": r.decision, "charges": r.charges, "billed_cost": r.cost, "skipped": r.skipped}

    @staticmethod
    def _result_text(r: ReviewResult) -> str:
        verb = {"approve": "approved", "reject": "rejected"}[r.decision]
        text = f"{verb} {r.charges} charges ({money(r.cost)})"
        if r.skipped:
            text += f"; skipped {len(r.skipped)} already in that state or not reviewable: {r.skipped[:20]}"
        return text
