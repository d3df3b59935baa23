from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from statements.portal.open_month import open_disputes
from statements.services.disputes import dispute_digest_queue


class Command(ChargebackCommand):
    help = (
        "Disputes PIs raised on the portal. `disputes list` shows the open ones (an open dispute keeps its month "
        "from closing); `disputes digest` emails each reviewer the open disputes, at most once a day (beat runs "
        "it every morning), and does nothing when none is open."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "list|digest")
        sub.add_parser("list", help="The open disputes")
        sub.add_parser("digest", help="Email today's digest of open disputes to the reviewers")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "digest":
            notices = dispute_digest_queue()
            data = {"emailed": sorted(n.recipient for n in notices)}
            text = f"Emailed {len(notices)} reviewers." if notices else "No digest to send (none open, or sent today)."
            self.emit(options, data, text)
            return
        rows = [
            {"id": d.pk, "period": d.period.period, "project": d.project.code, "raised_by": d.raised_by,
             "service": d.service_name, "charges": d.charges.count(), "comment": d.comment}
            for d in open_disputes().select_related("period", "project").order_by("created_at")
        ]  # fmt: skip
        lines = [f"#{r['id']} {r['period']} {r['project']} by {r['raised_by']}: {r['comment']}" for r in rows]
        self.emit(options, rows, "\n".join(lines) or "No open disputes.")
