from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from chargeback.formatting import money
from chargeback.money import ZERO
from statements.services.generate import statements_generate


class Command(ChargebackCommand):
    help = (
        "Generate a closed period's statements: one per PI and project, from approved and unflagged charges "
        "only, rounded once to cents. Unchanged statements keep their version; changed ones get a new version "
        "and the old one is superseded. PDFs are rendered by workers. --send queues one email per PI; "
        "--dry-run renders to a temporary folder and saves nothing (an open period gives DRAFT PDFs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-p", "--period", required=True, metavar="YYYY-MM", help="Billing period")
        parser.add_argument("--pi", metavar="EMAIL", help="Only this PI's statements")
        parser.add_argument("--dry-run", action="store_true", help="Render to a temporary folder; save nothing")
        parser.add_argument("--send", action="store_true", help="Queue the statement emails after generating")
        parser.add_argument("--force", action="store_true", help="A new version even where nothing changed")
        parser.add_argument(
            "--close",
            action="store_true",
            help="Close an open period first (refused while 'periods check' names a blocker); "
            "the default with the older tool's config.yaml (OPENCHARGEBACK_GENERATE_CLOSES_OPEN)",
        )
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        report = statements_generate(
            month=options["period"], actor=self.actor, pi_email=options["pi"], dry_run=options["dry_run"],
            send=options["send"], force=options["force"],
            close_open=options["close"] or settings.OPENCHARGEBACK_GENERATE_CLOSES_OPEN,
        )  # fmt: skip
        due = ", ".join(money(v, c) for c, v in sorted(report.total_due.items())) or money(ZERO)
        lines = [f"Closed period {report.period} first"] if report.closed_first else []
        lines += [
            f"{'Dry run (nothing saved)' if report.dry_run else 'Generated'}{' DRAFT' if report.draft else ''} "
            f"statements for {report.period}: {report.statements} for {report.pis} PIs "
            f"({report.new_versions} new or new versions, {report.unchanged} unchanged)",
            f"Total due: {due}",
            f"Excluded flagged charges: {report.excluded_flagged_charges} ({money(report.excluded_flagged_cost)})"
            + (" — approve or reject them to bill them" if report.excluded_flagged_charges else ""),
        ]
        if report.rejected_charges:
            lines.append(f"Rejected charges (not billed): {report.rejected_charges}")
        if report.dry_run:
            lines.append(f"PDFs: {report.output_dir} ({len(report.files)} files)")
        if options["send"]:
            lines.append(f"Emails queued: {report.deliveries_queued}")
        self.emit(options, report.as_dict(), "\n".join(lines))
