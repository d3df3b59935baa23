from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from statements.models import Delivery
from statements.selectors import outbox_rows
from statements.services.outbox import deliveries_retry


class Command(ChargebackCommand):
    help = (
        "List the statement emails (recipient, status, attempts, last error) and, with --retry, send them "
        "now. --retry sends the pending ones, their backoff skipped; failed ones only with --status failed. "
        "An email in sending may already have reached the recipient (a worker died mid-send, or the "
        "connection closed before the server's reply): it is sent again only with --status sending "
        "--force-stuck, after you have checked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-p", "--period", metavar="YYYY-MM", help="Only this billing period")
        parser.add_argument("--status", choices=Delivery.Status.values, help="Only deliveries in this state")
        parser.add_argument("--retry", action="store_true", help="Send the listed pending (or --status) ones now")
        parser.add_argument(
            "--force-stuck", action="store_true", help="With --retry --status sending: send those again"
        )
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        period, status = options["period"], options["status"]
        retried: list[int] | None = None
        if options["retry"]:
            retried = deliveries_retry(
                actor=self.actor, month=period, status=status or Delivery.Status.PENDING,
                force_stuck=options["force_stuck"],
            ).delivery_ids  # fmt: skip
        rows = outbox_rows(month=period, status=None if retried is not None else status)
        if retried is not None:
            rows = [r for r in rows if r["id"] in set(retried)]
        data: dict[str, Any] = {"deliveries": rows}
        if retried is not None:
            data["retried"] = retried
        lines = [
            f"{r['id']:>6}  {r['period']}  {r['status']:<8} {r['attempts']} attempts  {r['recipient']}"
            + (f" (+{len(r['copies'])} copies)" if r["copies"] else "")
            + (f"\n        {r['last_error']}" if r["last_error"] and r["status"] != "sent" else "")
            for r in rows
        ]
        if retried is not None:
            lines.append(f"Retried {len(retried)} deliveries; their state now is above.")
        elif not rows:
            lines.append("No deliveries.")
        self.emit(options, data, "\n".join(lines))
