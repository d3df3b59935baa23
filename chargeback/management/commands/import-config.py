from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand
from journals.services.config_import import config_import
from journals.services.config_plan import KINDS, ConfigImportReport, config_load

LABELS = {
    "tag_mappings": "tag mappings",
    "flag_patterns": "flag patterns",
    "fund_org_patterns": "fund/org patterns",
    "sources": "sources",
    "journal_formats": "journal formats",
    "organization": "organization",
}


class Command(ChargebackCommand):
    help = (
        "Load the rules of an OpenChargeback config.yaml (the older YAML-configured tool): tag mapping, "
        "review flag and fund/org patterns, known sources, the GL journal settings and the contact address "
        "statements give (email.from_address and from_name). All or nothing: "
        "a bad value names its key and changes nothing. Running it again changes nothing. Runtime "
        "settings (smtp, web, database, …) are listed as ignored with where they live now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("config", metavar="CONFIG.yaml", help="The old tool's config file")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report without writing")
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["config"])
        data = config_load(path=path)
        report = config_import(data=data, actor=self.actor, dry_run=options["dry_run"])
        self.emit(options, {"file": str(path), **report.as_dict()}, self._text(path, report))

    @staticmethod
    def _text(path: Path, r: ConfigImportReport) -> str:
        head = "Dry run (nothing written)" if r.dry_run else "Imported"
        lines = [f"{head}: {path}"]
        for kind in KINDS:
            lines.append(
                f"  {LABELS[kind]:<18} {r.created[kind]} new, {r.updated[kind]} changed, {r.unchanged[kind]} unchanged"
            )
        lines += [f"  + {c}" for c in r.changes]
        if not r.changed:
            lines.append("  nothing to change")
        if r.ignored:
            width = max(len(k) for k in r.ignored)
            lines.append("  ignored:")
            lines += [f"    {k:<{width}}  {reason}" for k, reason in r.ignored.items()]
        lines += [f"  warning: {w}" for w in r.warnings]
        return "\n".join(lines)
