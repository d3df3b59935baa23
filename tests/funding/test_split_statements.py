"""Statements and the journal follow a project's split across funds, to the cent."""

from __future__ import annotations

from decimal import Decimal

from billing.models import BillingPeriod
from journals.services.build import journal_build
from journals.services.export import journal_format_get
from statements.models import Statement, StatementLine, StatementLineShare

from .conftest import PERIOD, charge

D = Decimal


def per_fund(statement: Statement) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for line in statement.lines.all():
        shares = list(line.shares.all()) or [StatementLineShare(fund_org=line.fund_org, amount=line.amount)]
        for share in shares:
            totals[share.fund_org] = totals.get(share.fund_org, D(0)) + share.amount
    return totals


def gl_debits() -> tuple[dict[str, Decimal], Decimal, Decimal, Decimal]:
    journal = journal_build(period=BillingPeriod.objects.get(period=PERIOD), fmt=journal_format_get("gl"))
    debits: dict[str, Decimal] = {}
    for line in journal.debits:
        debits[line.fund_org] = debits.get(line.fund_org, D(0)) + line.amount
    return debits, journal.debit_total, journal.credit_total, journal.statements_due


def test_a_60_40_split_with_odd_cents_adds_up_per_fund_in_statement_and_journal(lab, bill, run):
    lab("genomics,NIH-R01,60,2025-01-01,\ngenomics,NSF-CAREER,40,2025-01-01,\n")
    bill(aws=[charge("100.01", "2025-01-05", "i-1")], hpc=[charge("0.03", "2025-01-06", "job-1", service="Slurm")])

    [st] = Statement.objects.filter(period__period=PERIOD)
    assert st.amount_due == D("100.04")
    # 100.01: 60.006 / 40.004 -> the missing cent to the larger remainder; 0.03: 0.018 / 0.012 likewise.
    shares = {(s.line.source, s.fund_org): s.amount for s in StatementLineShare.objects.select_related("line")}
    assert shares == {("aws", "NIH-R01"): D("60.01"), ("aws", "NSF-CAREER"): D("40.00"),
                      ("hpc", "NIH-R01"): D("0.02"), ("hpc", "NSF-CAREER"): D("0.01")}  # fmt: skip
    assert per_fund(st) == {"NIH-R01": D("60.03"), "NSF-CAREER": D("40.01")}
    # The statement shows the same amount per fund (the selector its PDF reads, worked out above).
    from statements.selectors import statement_fund_amounts
    from statements.services.render import statement_render
    from tests.statements.conftest import pdf_text

    assert statement_fund_amounts(st) == [("NIH-R01", D("60.03")), ("NSF-CAREER", D("40.01"))]
    statement_render(statement_id=st.pk)
    st.refresh_from_db()
    text = " ".join(pdf_text(st.pdf.read()).split())
    assert "Amount due by fund" in text and "NIH-R01 60.03" in text and "NSF-CAREER 40.01" in text
    assert st.fund_orgs == "NIH-R01, NSF-CAREER"

    debits, debit_total, credit_total, due = gl_debits()
    assert debits == {"NIH-R01": D("60.03"), "NSF-CAREER": D("40.01")}
    assert debit_total == credit_total == due == st.amount_due
    exported = run("export-journal", "-p", PERIOD, "--format", "json")
    assert exported.code == 0, exported.err
    assert D(exported.json()["debit_total"]) == D(exported.json()["credit_total"]) == D("100.04")


def test_a_three_way_split_on_odd_cents_gives_33_33_33_33_33_35(lab, bill):
    lab("genomics,NIH-R01,33.33,2025-01-01,\ngenomics,NSF-CAREER,33.33,2025-01-01,\n"
        "genomics,DEPT-ACE,33.34,2025-01-01,\n")  # fmt: skip
    bill(aws=[charge("60.00", "2025-01-03", "i-1"), charge("40.01", "2025-01-04", "i-2")])

    [line] = StatementLine.objects.all()
    assert line.amount == D("100.01")
    assert line.fund_org == "DEPT-ACE 33.34% / NIH-R01 33.33% / NSF-CAREER 33.33%"
    assert {s.fund_org: s.amount for s in line.shares.all()} == {
        "DEPT-ACE": D("33.35"),
        "NIH-R01": D("33.33"),
        "NSF-CAREER": D("33.33"),
    }
    debits, debit_total, credit_total, due = gl_debits()
    assert debits == {"DEPT-ACE": D("33.35"), "NIH-R01": D("33.33"), "NSF-CAREER": D("33.33")}
    assert debit_total == credit_total == due == D("100.01")


def test_a_split_change_mid_month_follows_each_charge_date(lab, bill):
    lab("genomics,NIH-R01,60,2025-01-01,2025-01-15\ngenomics,NSF-CAREER,40,2025-01-01,2025-01-15\n"
        "genomics,NSF-CAREER,100,2025-01-16,\n")  # fmt: skip
    bill(aws=[charge("10.00", "2025-01-10", "i-1"), charge("30.00", "2025-01-20", "i-2"),
              charge("0.01", "2025-01-15", "i-3")])  # fmt: skip

    [st] = Statement.objects.filter(period__period=PERIOD)
    lines = {ln.fund_org: ln.amount for ln in st.lines.all()}
    assert lines == {"NIH-R01 60% / NSF-CAREER 40%": D("10.01"), "NSF-CAREER": D("30.00")}
    assert per_fund(st) == {"NIH-R01": D("6.01"), "NSF-CAREER": D("34.00")}
    debits, debit_total, credit_total, due = gl_debits()
    assert debits == {"NIH-R01": D("6.01"), "NSF-CAREER": D("34.00")}
    assert debit_total == credit_total == due == D("40.01")


def test_a_project_without_a_split_keeps_its_fund_org_on_one_line(lab, bill):
    bill(aws=[charge("12.34", "2025-01-10", "i-1")])

    [line] = StatementLine.objects.all()
    assert (line.fund_org, line.amount) == ("NIH-R01", D("12.34"))
    assert not StatementLineShare.objects.exists()


def test_split_lines_count_bill_and_list_on_the_sources_basis_by_each_charges_utc_day(lab, bill, run, settings):
    """A split that changes on 16 January, the source billed on its effective cost, a charge tagged
    with a fund outside the split, and the server's clock in New York.

    Worked by hand (aws on the effective basis: a line bills EffectiveCost; its list is ListCost, or
    the EffectiveCost when ListCost is blank):
    - i-1 (10 Jan): list 12.00, billed 10.00, effective 8.00; i-2 (10 Jan): list blank, billed 20.00,
      effective 15.00. Both in the 60/40 split: one line of 2 charges, amount 8.00 + 15.00 = 23.00,
      list 12.00 + 15.00 = 27.00; shares 60 % = 13.80 and 40 % = 9.20.
    - i-3 (16 Jan, midnight UTC, 19:00 on the 15th in New York): the day is the UTC day, so the
      100 % NSF-CAREER split applies: its own line, 30.00.
    - i-4 (10 Jan) is tagged DEPT-ACE, a fund that is neither the project's nor in the split: it
      keeps its own fund, 5.00.
    Amount due 23.00 + 30.00 + 5.00 = 58.00.
    """
    settings.TIME_ZONE = "America/New_York"
    lab("genomics,NIH-R01,60,2025-01-01,2025-01-15\ngenomics,NSF-CAREER,40,2025-01-01,2025-01-15\n"
        "genomics,NSF-CAREER,100,2025-01-16,\n")  # fmt: skip
    assert run("sources", "set", "aws", "--billing-basis", "effective").code == 0

    def row(listed: str, billed: str, effective: str, day: str, resource: str, fund: str = "NIH-R01") -> list[str]:
        cells = charge(billed, day, resource, fund=fund)
        cells[4], cells[7] = listed, effective
        return cells

    bill(aws=[row("12.00", "10.00", "8.00", "2025-01-10", "i-1"), row("", "20.00", "15.00", "2025-01-10", "i-2"),
              row("30.00", "30.00", "30.00", "2025-01-16", "i-3"),
              row("5.00", "5.00", "5.00", "2025-01-10", "i-4", fund="DEPT-ACE")])  # fmt: skip

    [st] = Statement.objects.filter(period__period=PERIOD)
    lines = {ln.fund_org: (ln.charge_count, ln.list_amount, ln.amount) for ln in st.lines.all()}
    assert lines == {
        "NIH-R01 60% / NSF-CAREER 40%": (2, D("27.00"), D("23.00")),
        "NSF-CAREER": (1, D("30.00"), D("30.00")),
        "DEPT-ACE": (1, D("5.00"), D("5.00")),
    }
    assert st.amount_due == D("58.00")
    assert per_fund(st) == {"NIH-R01": D("13.80"), "NSF-CAREER": D("39.20"), "DEPT-ACE": D("5.00")}


def test_a_charge_without_a_usage_date_takes_the_split_of_the_months_first_day(lab, bill):
    """A blank ChargePeriodStart: the charge is dated the 1st, when the 60/40 split holds (not the
    100 % split from the 16th): 10.01 is 6.006 / 4.004, the odd cent to the larger remainder."""
    lab("genomics,NIH-R01,60,2025-01-01,2025-01-15\ngenomics,NSF-CAREER,40,2025-01-01,2025-01-15\n"
        "genomics,NSF-CAREER,100,2025-01-16,\n")  # fmt: skip
    bill(aws=[charge("10.01", "", "i-1")])

    [line] = StatementLine.objects.all()
    assert (line.fund_org, line.amount) == ("NIH-R01 60% / NSF-CAREER 40%", D("10.01"))
    assert {s.fund_org: s.amount for s in line.shares.all()} == {"NIH-R01": D("6.01"), "NSF-CAREER": D("4.00")}
