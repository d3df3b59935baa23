"""Budgets and their alerts: spend is billed plus pending review, credits included, within the
budget's own span; each threshold is raised once per span and emailed once, at most a digest a day."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from billing.models import PI, Budget, BudgetAlert, FundOrgPattern, Project
from billing.selectors.budgets import budget_status
from statements.models import Notice, PortalDelegate
from statements.services import alerts as alerts_service
from tests.conftest import MINIMAL_HEADER, minimal_row

pytestmark = pytest.mark.django_db

PERIOD = "2025-01"


@pytest.fixture
def month(focus_files: Any, run: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> Any:
    """Imports of genomics charges (Alice's project) and budget files, with the after-import hooks run."""

    class Month:
        day = date(2025, 1, 20)

        def ingest(self, *amounts: str, replace: bool = False, name: str = "aws-2025-01.csv") -> None:
            rows = [minimal_row(a, resource=f"vm-{i}") for i, a in enumerate(amounts)]
            path = focus_files.write(name, rows)
            args = ["ingest", str(path), "-s", "aws", "-p", PERIOD] + (["--replace"] if replace else [])
            with django_capture_on_commit_callbacks(execute=True):
                result = run(*args)
            assert result.code == 0, result.err

        def budgets(self, text: str) -> Any:
            path = focus_files.raw("budgets.csv", "project_code,fund_org,amount,currency,span,thresholds\n" + text)
            return run("data", "import", "budgets", str(path))

        def next_day(self) -> None:
            self.day = date.fromordinal(self.day.toordinal() + 1)

    m = Month()
    monkeypatch.setattr(alerts_service, "today", lambda: m.day)
    m.ingest("1")  # the project exists before its budget is imported
    return m


def alert_mails() -> list[Any]:
    return [m for m in mail.outbox if "budget alert" in m.subject]


def test_a_budget_of_100_alerts_once_at_80_and_not_again_when_a_replaced_batch_says_86(month: Any) -> None:
    assert month.budgets("genomics,,100,USD,month,\n").code == 0
    assert Budget.objects.get().thresholds == [50, 80, 100]

    month.ingest("85", replace=True)
    assert list(BudgetAlert.objects.values_list("threshold", flat=True)) == [80]
    [sent] = alert_mails()
    assert sent.to == ["alice@example.edu"]
    assert "genomics: 80 % of the each month budget reached" in sent.body
    assert "USD 85.00" in sent.body or "85.00 USD" in sent.body

    month.ingest("86", replace=True, name="aws-2025-01-v2.csv")
    assert BudgetAlert.objects.count() == 1
    assert len(alert_mails()) == 1

    month.next_day()
    month.ingest("101", replace=True, name="aws-2025-01-v3.csv")
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [80, 100]
    assert len(alert_mails()) == 2
    assert "100 % of the each month budget reached" in alert_mails()[-1].body


def test_a_second_crossing_on_the_same_day_waits_for_the_next_days_digest(
    month: Any, run: Any, django_capture_on_commit_callbacks: Any
) -> None:
    month.budgets("genomics,,100,USD,month,50/80/100\n")
    month.ingest("60", replace=True)
    month.ingest("90", replace=True, name="aws-2025-01-v2.csv")
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 80]
    assert len(alert_mails()) == 1  # one digest per person per day

    month.next_day()
    with django_capture_on_commit_callbacks(execute=True):
        assert run("alerts", "run").code == 0
    assert len(alert_mails()) == 2
    assert "80 %" in alert_mails()[-1].body and "50 %" not in alert_mails()[-1].body


def test_alerts_count_credits(month: Any) -> None:
    month.budgets("genomics,,100,USD,month,\n")
    month.ingest("90", "-30", replace=True)  # the credit is flagged for review and still counts
    budget = Budget.objects.get()
    assert budget_status(budget, month=PERIOD).spend == Decimal("60")
    assert list(BudgetAlert.objects.values_list("threshold", flat=True)) == [50]


def test_a_fall_below_and_a_new_crossing_alerts_again(month: Any) -> None:
    month.budgets("genomics,,100,USD,month,\n")
    month.ingest("85", replace=True)
    month.ingest("10", replace=True, name="aws-2025-01-v2.csv")
    assert BudgetAlert.objects.filter(cleared_at__isnull=True).count() == 0
    month.next_day()
    month.ingest("85", "0.5", replace=True, name="aws-2025-01-v3.csv")
    assert BudgetAlert.objects.filter(threshold=80).count() == 2
    assert len(alert_mails()) == 2


def test_a_monthly_budget_counts_its_own_month_only(month: Any, focus_files: Any, run: Any) -> None:
    month.budgets("genomics,,100,USD,month,\n")
    path = focus_files.write("aws-2024-12.csv", [minimal_row("70", period="2024-12")])
    assert run("ingest", str(path), "-s", "aws", "-p", "2024-12").code == 0
    month.ingest("40", replace=True)
    assert budget_status(Budget.objects.get(), month=PERIOD).spend == Decimal("40")
    assert not BudgetAlert.objects.filter(span_key=PERIOD).exists()
    assert BudgetAlert.objects.get(span_key="2024-12").threshold == 50


def test_the_delegates_who_see_the_project_are_told_and_the_others_are_not(month: Any) -> None:
    alice = PI.objects.get(email="alice@example.edu")
    PortalDelegate.objects.create(pi=alice, email="lab@example.edu", all_projects=True)
    other = PortalDelegate.objects.create(pi=alice, email="grants@example.edu")
    other.projects.set([Project.objects.create(code="proteomics", pi=alice)])
    month.budgets("genomics,,100,USD,month,\n")
    month.ingest("85", replace=True)
    assert sorted(m.to[0] for m in alert_mails()) == ["alice@example.edu", "lab@example.edu"]


def test_alerts_run_dry_run_changes_nothing_and_says_who_would_be_told(month: Any, run: Any) -> None:
    month.budgets("genomics,,100,USD,month,\n")
    Budget.objects.update(amount=Decimal("1.5"))  # the spend of 1 is now 66 %
    result = run("alerts", "run", "--dry-run", "--format", "json")
    assert result.code == 0, result.err
    data = result.json()
    assert [c["threshold"] for c in data["raised"]] == [50]
    assert data["recipients"] == {"alice@example.edu": ["genomics 50 %"]}
    assert not BudgetAlert.objects.exists() and not Notice.objects.exists()


def test_the_forecast_runs_the_month_to_date_rate_by_charge_days(month: Any, focus_files: Any, run: Any) -> None:
    month.budgets("genomics,,100,USD,month,\n")
    rows = []
    for day in (1, 5, 10):
        row = minimal_row("10", resource=f"d{day}")
        row[2] = f"2025-01-{day:02d}"
        rows.append(row)
    path = focus_files.write("aws-2025-01-days.csv", rows, MINIMAL_HEADER)
    assert run("ingest", str(path), "-s", "aws", "-p", PERIOD, "--replace").code == 0
    status = budget_status(Budget.objects.get(), month=PERIOD)
    assert status.spend == Decimal("30")
    assert status.forecast == Decimal("93")  # 30 over 10 days, 31 days in January


def test_a_bad_budget_row_is_refused_with_one_line_and_nothing_is_saved(month: Any) -> None:
    result = month.budgets("genomics,,100,USD,month,\ngenomics,,50,USD,weekly,\n")
    assert result.code == 1
    assert "row 3, column span" in result.err and "\n" not in result.err.strip()
    assert not Budget.objects.exists()
    result = month.budgets("genomics,,100,USD,month,50/eighty\n")
    assert result.code == 1 and "'eighty' is not a threshold" in result.err
    FundOrgPattern.objects.create(pattern=r"^[A-Z]+-\d{4}-\d{3}$")
    result = month.budgets(",BAD FUND!,100,USD,award,\n")
    assert result.code == 1 and "fund/org" in result.err


def test_a_fund_budget_over_the_award_ends_with_the_projects_fund_end_date(month: Any, run: Any) -> None:
    assert month.budgets(",BIO-2025-001,100,USD,award,\n").code == 0
    result = run("alerts", "run")
    assert "Award dates unknown" in result.out
    Project.objects.filter(code="genomics").update(fund_end_date=date(2025, 6, 30))
    month.ingest("120", replace=True)
    alert = BudgetAlert.objects.get()
    assert (alert.threshold, alert.span_key) == (100, "award:..2025-06-30")


def test_budgets_export_as_they_import(month: Any, run: Any, tmp_path: Path) -> None:
    month.budgets("genomics,,100.5,usd,award,80/100\n")
    result = run("data", "export", "budgets")
    [row] = list(csv.DictReader(io.StringIO(result.out)))
    # The amount is exact decimal text (PostgreSQL keeps the column's ten places): the same number.
    assert (row["project_code"], row["fund_org"], Decimal(row["amount"])) == ("genomics", "", Decimal("100.5"))
    assert (row["currency"], row["span"], row["thresholds"]) == ("USD", "award", "80/100")
