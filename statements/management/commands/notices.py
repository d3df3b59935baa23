from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand, Error
from statements.services.fund_notices import notices_send


class Command(ChargebackCommand):
    help = (
        "Award expiry notices: 90, 60 and 30 days before a fund's award ends, one email to each PI it "
        "funds (copied to delegates who can see the projects) listing the projects and their month-to-date "
        "cost on the fund. Each fund, threshold and PI gets one notice, ever: running it again (from cron, "
        "or next to the Celery beat, which runs it daily) sends nothing twice. `send` writes the notices "
        "due today and sends every pending one; --dry-run lists what is due and writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "{send}")
        send = sub.add_parser("send", help="Write and send the notices due today")
        send.add_argument("--dry-run", action="store_true", help="List the notices due; write and send nothing")
        send.add_argument("--today", metavar="YYYY-MM-DD", help="The day to count from (default: today)")

    def handle(self, *args: Any, **options: Any) -> None:
        today = None
        if options["today"]:
            try:
                today = date.fromisoformat(options["today"])
            except ValueError:
                raise Error(f"--today {options['today']!r} is not a date (use YYYY-MM-DD)", returncode=1) from None
        report = notices_send(actor=self.actor, today=today, dry_run=options["dry_run"])
        lines = [
            f"{n.fund} ends {n.award_end} ({n.threshold}-day notice) → {n.pi_email}"
            + (f" (+{len(n.copies)} copies)" if n.copies else "")
            + "".join(f"\n    {code}: {cost}" for code, _title, cost in n.projects)
            for n in report.due
        ]
        if report.dry_run:
            lines.append(f"Dry run: {len(report.due)} notices due on {report.today}; nothing written or sent.")
        else:
            lines.append(
                f"{report.written} new notices, {report.already_sent} written before; {report.sent} sent"
                + (f"; {len(report.failed)} not sent: " + "; ".join(report.failed) if report.failed else "")
            )
        self.emit(options, report.as_dict(), "\n".join(lines))
        if report.failed:
            raise Error(f"{len(report.failed)} notices were not sent (see above)", returncode=1)
