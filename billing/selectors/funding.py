"""Which funds pay for a charge, and whether the charge lies inside their awards.

One definition, used by the import and re-evaluation (the `outside_award` flag), the statements
(each line's shares per fund), the journal (through the statements) and the expiry notices:

* A charge's day is the UTC date of its `ChargePeriodStart` (the first day of its billing period
  when it has none).
* The split in force on that day is the project's `ProjectFunding` rows whose
  `effective_from`..`effective_to` holds it. A charge of the project is funded by that split when
  its fund/org is empty, the project's default fund/org or one of the split's funds; a charge whose
  fund/org names another fund (tagged so, or re-funded by a reviewer) is charged to that fund.
* Without a split in force, the charge's fund/org carries 100 %.
* A fund whose award has a period of performance funds charges of the days inside it (both ends
  included); a charge outside it is flagged `outside_award:<fund> ended <date>` (or
  `… starts <date>`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models.functions import TruncDate

from billing.models import BillingPeriod, Fund, Project, ProjectFunding
from chargeback.money import MoneySum

from .figures import billed_charges

HUNDRED = Decimal(100)
OUTSIDE_AWARD = "outside_award"
# A split: (fund/org, percent) pairs, in fund order.
Split = tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True)
class FundingRow:
    fund_org: str
    percent: Decimal
    effective_from: date
    effective_to: date | None

    def holds(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


def charge_day(charge_period_start: datetime | date | str | None, month: str) -> date:
    """The day that picks a charge's split and is checked against its funds' awards."""
    if isinstance(charge_period_start, datetime):
        if charge_period_start.tzinfo is not None:
            charge_period_start = charge_period_start.astimezone(UTC)
        return charge_period_start.date()
    if isinstance(charge_period_start, date):
        return charge_period_start
    if isinstance(charge_period_start, str) and len(charge_period_start) >= 10:
        return date.fromisoformat(charge_period_start[:10])
    return date.fromisoformat(f"{month}-01")


def split_label(split: Split) -> str:
    """How a statement line funded by a split names its funds: `GRANT-A 60% / GRANT-B 40%`."""
    return " / ".join(f"{fund} {percent_text(p)}%" for fund, p in split)[:100]


def percent_text(percent: Decimal) -> str:
    text = format(percent, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def split_problems(rows: Iterable[FundingRow]) -> list[str]:
    """The date ranges on which a project's rows do not add up to 100 %, one text each."""
    rows = list(rows)
    if not rows:
        return []
    edges = sorted(
        {r.effective_from for r in rows} | {r.effective_to + timedelta(days=1) for r in rows if r.effective_to}
    )
    problems = []
    for i, start in enumerate(edges):
        end = edges[i + 1] - timedelta(days=1) if i + 1 < len(edges) else None
        total = sum((r.percent for r in rows if r.holds(start)), Decimal(0))
        if total and total != HUNDRED:
            span = f"{start}..{end}" if end else f"from {start} on"
            problems.append(f"{span} adds up to {percent_text(total)}%")
    return problems


@dataclass
class FundingMap:
    """Funds, awards and splits read once; answers per charge in Python."""

    awards: dict[str, tuple[date | None, date | None]] = field(default_factory=dict)
    splits: dict[int, list[FundingRow]] = field(default_factory=dict)  # project id -> rows
    projects: dict[str, tuple[int, str]] = field(default_factory=dict)  # code -> (id, default fund/org)
    defaults: dict[int, str] = field(default_factory=dict)  # project id -> default fund/org

    @classmethod
    def load(cls) -> FundingMap:
        result = cls(
            awards={
                f: (s, e)
                for f, s, e in Fund.objects.values_list("fund_org", "award_start", "award_end")
                if s is not None or e is not None
            }
        )
        for project_id, fund_org, percent, start, end in ProjectFunding.objects.order_by(
            "project_id", "effective_from", "fund__fund_org"
        ).values_list("project_id", "fund__fund_org", "percent", "effective_from", "effective_to"):
            result.splits.setdefault(project_id, []).append(FundingRow(fund_org, Decimal(percent), start, end))
        if result.splits or result.awards:
            for pk, code, default in Project.objects.values_list("pk", "code", "fund_org"):
                result.projects[code] = (pk, default)
                result.defaults[pk] = default
        return result

    def __bool__(self) -> bool:
        return bool(self.awards or self.splits)

    def split_on(self, project_id: int | None, day: date) -> Split:
        rows = self.splits.get(project_id) if project_id is not None else None
        if not rows:
            return ()
        return tuple(sorted((r.fund_org, r.percent) for r in rows if r.holds(day)))

    def funds(self, project_id: int | None, fund_org: str, day: date) -> Split:
        """The funds that pay a charge and their percentages (see the module docstring)."""
        split = self.split_on(project_id, day)
        if split and (
            not fund_org or fund_org == self.defaults.get(project_id or 0) or fund_org in {f for f, _ in split}
        ):
            return split
        return ((fund_org, HUNDRED),) if fund_org else ()

    def project_id(self, code: str | None) -> int | None:
        return self.projects[code][0] if code and code in self.projects else None

    def award_reasons(self, project_id: int | None, fund_org: str, day: date) -> list[str]:
        """`outside_award:…` for each fund of the charge whose award does not hold its day."""
        reasons = []
        for fund, _ in self.funds(project_id, fund_org, day):
            start, end = self.awards.get(fund, (None, None))
            if end is not None and day > end:
                reasons.append(f"{OUTSIDE_AWARD}:{fund} ended {end}")
            elif start is not None and day < start:
                reasons.append(f"{OUTSIDE_AWARD}:{fund} starts {start}")
        return reasons

    def watched_funds(self) -> set[str]:
        return set(self.awards)


def fund_costs(*, month: str, funding: FundingMap) -> dict[tuple[int, str], Decimal]:
    """Each (project id, fund/org)'s exact share of the month's billed cost so far (not rounded)."""
    if not BillingPeriod.objects.filter(period=month).exists():
        return {}
    rows = (
        billed_charges(month=month)
        .filter(project__isnull=False)
        .annotate(day=TruncDate("charge_period_start", tzinfo=UTC))
        .values("project_id", "fund_org", "day")
        .annotate(billed=MoneySum("billed_cost"))
        .order_by()
    )
    costs: dict[tuple[int, str], Decimal] = {}
    for r in rows:
        for fund, percent in funding.funds(r["project_id"], r["fund_org"], charge_day(r["day"], month)):
            key = (r["project_id"], fund)
            costs[key] = costs.get(key, Decimal(0)) + r["billed"] * percent / HUNDRED
    return costs


def project_funding_rows(*, project: Project, today: date) -> list[dict[str, object]]:
    """A project's funding from today on (its split, else its fund/org at 100 %), each fund with the
    days left of its award (None when the fund has no end; negative once it has ended)."""
    funds = {f.fund_org: f for f in Fund.objects.all()}
    rows: list[tuple[str, Decimal, date | None, date | None]] = [
        (r.fund.fund_org, r.percent, r.effective_from, r.effective_to)
        for r in project.funding.select_related("fund").order_by("effective_from", "fund__fund_org")
        if r.effective_to is None or r.effective_to >= today
    ]
    if not rows and project.fund_org:
        rows = [(project.fund_org, HUNDRED, None, None)]
    result: list[dict[str, object]] = []
    for fund_org, percent, start, end in rows:
        fund = funds.get(fund_org)
        award_end = fund.award_end if fund else None
        result.append({
            "fund_org": fund_org, "title": fund.title if fund else "", "percent": percent_text(Decimal(percent)),
            "effective_from": start, "effective_to": end, "award_end": award_end,
            "days_left": (award_end - today).days if award_end else None,
        })  # fmt: skip
    return result
