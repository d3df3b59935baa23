from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from statements.services.alerts import alerts_run


class Command(ChargebackCommand):
    help = (
        "Budget alerts. `alerts run` evaluates every budget for the open months: spend is the billed figure "
        "plus charges pending review, credits included, within the budget's own span. Each threshold crossed "
        "is raised once per span (again only after the spend fell below it) and emailed to the PI and the "
        "delegates who see the project, at most one digest per person per day. --dry-run shows what would be "
        "raised and who would be told, and changes nothing. Imports run the same evaluation by themselves."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "run")
        run = sub.add_parser("run", help="Evaluate the budgets and queue today's alert emails")
        run.add_argument("--dry-run", action="store_true", help="Show what would be raised; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        result = alerts_run(actor=self.actor, dry_run=options["dry_run"])
        ev = result.evaluation
        data = {**ev.as_dict(), "notices": [n.pk for n in result.notices], "recipients": result.recipients}
        verb = "Would raise" if ev.dry_run else "Raised"
        months = ", ".join(ev.periods) or "no open month"
        lines = [f"{verb} {len(ev.raised)} alerts over {ev.budgets} budgets ({months}); {ev.cleared} cleared."]
        for c in ev.raised:
            lines.append(f"  {c.subject} ({c.span}): {c.threshold} % reached, spend {c.spend:,.2f} of "
                         f"{c.amount:,.2f} {c.currency}, forecast {c.forecast:,.2f}")  # fmt: skip
        if ev.unknown_spans:
            lines.append(f"Award dates unknown (no fund end date): {', '.join(sorted(set(ev.unknown_spans)))}.")
        told = "Would email" if ev.dry_run else "Emailed"
        lines.append(f"{told} {len(result.recipients)} people" + (
            ": " + ", ".join(sorted(result.recipients)) if result.recipients else "."))  # fmt: skip
        self.emit(options, data, "\n".join(lines))
