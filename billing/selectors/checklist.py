"""A period's checklist: what holds the month back, shown on the period page and behind the
dashboard's next step (one list, so both say the same)."""

from __future__ import annotations

from dataclasses import dataclass

from billing.models import BillingPeriod

from .dashboard import PeriodFigures

Status = BillingPeriod.Status


@dataclass(frozen=True)
class Check:
    """One line of the checklist. `key` names what fixes it (the pages map it to a link)."""

    key: str
    ok: bool
    text: str
    blocker: bool = False  # finalizing is refused while it is not ok


def period_checklist(figures: PeriodFigures) -> list[Check]:
    period = figures.period
    flagged = figures.flagged_charges
    missing = [i.display_name for i in figures.imports if i.missing]
    checks = [
        Check("imports", figures.has_imports and not missing, _imports_text(figures.has_imports, missing)),
        Check(
            "flagged",
            not flagged,
            f"{flagged} flagged charge{'' if flagged == 1 else 's'} waiting for review; they are billed once approved"
            if flagged
            else "No flagged charges waiting for review",
            blocker=True,
        ),
    ]
    if figures.mixed_currencies:
        checks.append(
            Check("currencies", False, f"Charges in more than one currency ({', '.join(figures.currencies)})")
        )
    checks.append(
        Check(
            "closed",
            period.status != Status.OPEN,
            "The period is closed: imports and review are locked"
            if period.status != Status.OPEN
            else "The period is open: close it once imports and review are done",
        )
    )
    return checks


def _imports_text(has_imports: bool, missing: list[str]) -> str:
    if not has_imports:
        return "Nothing imported yet"
    if missing:
        return f"No import yet from {', '.join(missing)}"
    return "Every enabled source imported"
