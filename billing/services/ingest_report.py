"""What an import did (or, in a dry run, would do): the figures every entry point reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chargeback.money import ZERO

if TYPE_CHECKING:
    from billing.ingest.engine import IngestResult


@dataclass
class IngestReport:
    status: str  # applied | dry_run | already_imported
    source: str
    period: str
    files: list[str]
    rows: int = 0
    list_total: Decimal = ZERO
    billed_total: Decimal = ZERO
    flagged_rows: int = 0
    flagged_cost: Decimal = ZERO
    flag_counts: dict[str, int] = field(default_factory=dict)
    periods_seen: dict[str, int] = field(default_factory=dict)
    currencies: list[str] = field(default_factory=list)
    focus_version: str = ""
    new_pis: int = 0
    new_projects: int = 0
    warnings: list[str] = field(default_factory=list)
    batch_id: int | None = None
    replaced_batch_id: int | None = None  # in a dry run: the batch the import would replace
    carried_decisions: int = 0  # review decisions carried over (in a dry run: that would be)
    replaces: dict[str, Any] | None = None  # the replaced batch: rows, billed cost, reviewed charges
    seconds: float = 0.0  # wall time of the import
    worker_peak_rss_mb: float | None = None  # the parsing worker's memory, when one was used

    def add_figures(self, result: IngestResult) -> None:
        """The figures of the ingest engine's run: rows, totals, flags, periods, currencies, warnings."""
        self.rows = result.rows
        self.list_total, self.billed_total = result.list_total, result.billed_total
        self.flagged_rows, self.flagged_cost = result.flagged_rows, result.flagged_cost
        self.flag_counts, self.periods_seen = result.flag_counts, result.periods_seen
        self.currencies, self.focus_version = result.currencies, result.focus_version
        self.new_pis, self.new_projects = result.new_pis, result.new_projects
        self.worker_peak_rss_mb = result.worker_peak_rss_mb
        self.warnings += result.warnings

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("list_total", "billed_total", "flagged_cost"):
            data[key] = str(data[key])
        if self.replaces is not None:
            data["replaces"] = {k: str(v) if isinstance(v, Decimal) else v for k, v in self.replaces.items()}
        return data
