from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from billing.models import BillingPeriod
from billing.selectors import period_summaries
from billing.selectors.readiness import period_readiness
from billing.services.periods import period_close, period_finalize, period_open, period_reopen
from chargeback.command import ChargebackCommand, Error
from chargeback.formatting import money


class Command(ChargebackCommand):
    help = (
        "List billing periods, check one, or move one through its lifecycle: open → closed → finalized. "
        "'list' gives per period the billed charges (what the statements bill: approved or never flagged, not "
        "rejected) with the imported, flagged and rejected ones beside them. 'check' names what blocks the next "
        "step (flagged charges not decided, fund/orgs the patterns or the journal format refuse, sources without "
        "a credit fund/org or GL account, another currency) and exits 1 while anything does; close, generate, "
        "send, export-journal and finalize refuse with the same blockers. A closed period refuses imports and "
        "review changes; reopening needs a reason; finalizing is permanent and also refused while a provider "
        "invoice differs from its rows unexplained (see 'reconcile')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "{list,check,open,close,reopen,finalize}")
        sub.add_parser("list", help="Status, charges, totals and flagged charges per period")
        p = sub.add_parser("check", help="What blocks the period's next step (exit 1 if anything does)")
        p.add_argument("period", metavar="YYYY-MM")
        p = sub.add_parser("open", help="Create a period (open) if it does not exist")
        p.add_argument("period", metavar="YYYY-MM")
        p = sub.add_parser("close", help="Close an open period")
        p.add_argument("period", metavar="YYYY-MM")
        p.add_argument("-n", "--notes", default="", help="A note kept with the transition")
        p = sub.add_parser("reopen", help="Reopen a closed period (a reason is required)")
        p.add_argument("period", metavar="YYYY-MM")
        p.add_argument("--reason", required=True, help="Why the period is reopened")
        p = sub.add_parser("finalize", help="Finalize a closed period, permanently")
        p.add_argument("period", metavar="YYYY-MM")
        p.add_argument("-n", "--notes", default="", help="A note kept with the transition")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            rows = period_summaries()
            self.emit(options, rows, self._table(rows))
            return
        period = options["period"]
        if action == "check":
            self._check(period, options)
            return
        if action == "open":
            obj = period_open(month=period, actor=self.actor)
        elif action == "close":
            obj = period_close(month=period, actor=self.actor, notes=options["notes"])
        elif action == "reopen":
            obj = period_reopen(month=period, actor=self.actor, reason=options["reason"])
        else:
            obj = period_finalize(month=period, actor=self.actor, notes=options["notes"])
        self.emit(options, {"period": obj.period, "status": obj.status}, f"period {obj.period} is {obj.status}")

    def _check(self, month: str, options: dict[str, Any]) -> None:
        readiness = period_readiness(BillingPeriod.of(month))
        lines = [f"period {month}: {'ready' if readiness.ready else 'not ready'}"]
        lines += [f"  blocker: {p.message}" for p in readiness.blockers]
        lines += [f"  warning: {p.message}" for p in readiness.warnings]
        self.emit(options, readiness.as_dict(), "\n".join(lines))
        if not readiness.ready:
            n = len(readiness.blockers)
            raise Error(f"period {month} is not ready: {n} blocker{'s' if n != 1 else ''}", returncode=1)

    @staticmethod
    def _table(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no billing periods yet (import a file, or 'openchargeback periods open YYYY-MM')"
        out = [
            f"{'period':<8} {'status':<10} {'charges':>9} {'billed':>16} {'list':>16} "
            f"{'flagged':>8} {'flagged cost':>14}"
        ]
        mixed = [r["period"] for r in rows if len(r["currencies"]) > 1]
        for r in rows:
            out.append(
                f"{r['period']:<8} {r['status']:<10} {r['charges']:>9} {money(r['billed_cost']):>16} "
                f"{money(r['list_cost']):>16} {r['flagged_charges']:>8} {money(r['flagged_cost']):>14}"
            )
        if mixed:
            out.append(f"warning: more than one currency in {', '.join(mixed)}; totals add different currencies")
        return "\n".join(out)
