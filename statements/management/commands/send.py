from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from statements.services.delivery import deliveries_queue, outbox_summary


class Command(ChargebackCommand):
    help = (
        "Queue one email per PI with all of their statements of a closed period. Without --resend only PIs "
        "with unsent statements and no email already queued get one, so running it twice sends nothing twice; "
        "--resend sends every current statement again as a new delivery."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-p", "--period", required=True, metavar="YYYY-MM", help="Billing period")
        parser.add_argument("--pi", metavar="EMAIL", help="Only this PI")
        parser.add_argument("--resend", action="store_true", help="Send again, even statements already sent")
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        result = deliveries_queue(
            period=options["period"], actor=self.actor, pi_email=options["pi"], resend=options["resend"]
        )
        outbox = outbox_summary(period=options["period"])
        data = {"period": options["period"], "queued": result.queued, "skipped": result.skipped,
                "delivery_ids": result.delivery_ids, "outbox": outbox}  # fmt: skip
        text = (
            f"Queued {result.queued} emails for {options['period']} ({result.skipped} PIs skipped: already sent "
            f"or queued).\nOutbox: " + ", ".join(f"{k} {v}" for k, v in outbox.items())
        )
        self.emit(options, data, text)
