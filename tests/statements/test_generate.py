"""`openchargeback generate`: one frozen statement per PI and project, exact to the cent, versioned."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import BillingPeriod, Charge, Source
from chargeback.models import AuditEvent
from chargeback.money import round_cents
from statements.models import Statement, StatementLine
from tests.conftest import MINIMAL_HEADER, minimal_row, tags

from .conftest import ALICE, BOB, approve_refund_and_close, exact_billed, pdf_text, write_rows

# Real commits: PDFs are rendered by tasks queued after commit (in-process without a broker).
pytestmark = pytest.mark.django_db(transaction=True)


def current(project: str) -> Statement:
    return Statement.objects.exclude(status="superseded").get(project__code=project)


def test_each_pi_project_gets_one_statement_rounded_once_to_the_cent(run, closed_period):
    report = run("generate", "-p", closed_period, "--format", "json").json()
    assert (report["statements"], report["pis"], report["new_versions"]) == (2, 2, 2)
    genomics = current("genomics")
    billed = exact_billed(ALICE, "genomics")
    assert billed == Decimal("1234633.4512345678")  # exact sum on this database, no float on the way
    assert genomics.billed_exact == billed
    assert genomics.amount_due == round_cents(billed) == Decimal("1234633.45")
    # The discount is list - billed = 2000068.0550000000 - 1234633.4512345678 = 765434.6037654322,
    # rounded once: 765434.60; the list total is amount due + discount.
    assert genomics.discount_total == Decimal("765434.60")
    assert genomics.list_total == Decimal("2000068.05")
    # Worked by hand. Compute bills vm-1 + vm-2 + vm-9 = 1234623.4462345677 (list 2000055.555, discount
    # 765432.1087654323), Storage bills 10.0050000001 (list 12.5, discount 2.4949999999). Cut to cents the
    # amounts are 1234623.44 + 10.00 = 1234633.44, one cent short of 1234633.45: it goes to the larger
    # remainder, Compute's 0.0062345677 (Storage's is 0.0050000001). Rounding each line on its own would
    # give Storage 10.01 and the lines 1234633.46. The discounts cut to cents are 765432.10 + 2.49, one
    # cent short of 765434.60; it goes to Compute (0.0087654323 against 0.0049999999).
    lines = [(ln.service_name, ln.list_amount, ln.list_amount - ln.amount, ln.amount) for ln in genomics.lines.all()]
    assert lines == [
        ("Compute", Decimal("2000055.56"), Decimal("765432.11"), Decimal("1234623.45")),
        ("Storage", Decimal("12.49"), Decimal("2.49"), Decimal("10.00")),
    ]
    assert genomics.number == "2025-01-000001" and genomics.version == 1 and genomics.status == "final"
    assert report["total_due"] == {"USD": f"{genomics.amount_due + current('climate').amount_due:.2f}"}


def test_rejected_charges_are_excluded_and_reported(run, closed_period):
    report = run("generate", "-p", closed_period, "--format", "json").json()
    assert (report["excluded_flagged_charges"], report["rejected_charges"]) == (0, 1)
    text = run("generate", "-p", closed_period).out
    assert "Rejected charges (not billed): 1" in text
    assert current("climate").charge_count == 1 and current("climate").amount_due == Decimal("100.00")


def test_credits_are_lines_of_their_own_never_netted_away(run, closed_period):
    approve_refund_and_close(run)
    run("generate", "-p", closed_period)
    climate = current("climate")
    kinds = {ln.kind: ln.amount for ln in climate.lines.all()}
    assert kinds == {StatementLine.Kind.USAGE: Decimal("100.00"), StatementLine.Kind.CREDIT: Decimal("-25.10")}
    assert climate.amount_due == Decimal("74.90")  # 99.995 - 25.10 = 74.895, rounded half-up once


def test_generating_again_without_changes_keeps_every_version(run, closed_period):
    run("generate", "-p", closed_period)
    again = run("generate", "-p", closed_period, "--format", "json").json()
    assert (again["new_versions"], again["unchanged"]) == (0, 2)
    assert Statement.objects.count() == 2


def test_a_changed_period_makes_a_new_version_and_the_sent_one_never_changes(run, closed_period):
    run("generate", "-p", closed_period, "--send")
    v1 = current("climate")
    assert v1.status == "sent"
    v1_lines = list(v1.lines.values_list("amount", flat=True))
    v1_pdf = v1.pdf.read()
    approve_refund_and_close(run)
    report = run("generate", "-p", closed_period, "--format", "json").json()
    assert (report["new_versions"], report["unchanged"]) == (1, 1)
    v2 = current("climate")
    assert (v2.number, v2.version, v2.supersedes_id) == (v1.number, 2, v1.pk)
    assert v2.amount_due == Decimal("74.90") and v2.status == "final"
    v1.refresh_from_db()
    assert v1.status == "superseded"
    assert list(v1.lines.values_list("amount", flat=True)) == v1_lines
    assert v1.pdf.read() == v1_pdf and v1.pdf.name != v2.pdf.name


def test_every_pdf_is_stored_with_its_sha256(run, closed_period):
    import hashlib

    run("generate", "-p", closed_period)
    for st in Statement.objects.all():
        data = st.pdf.read()
        assert hashlib.sha256(data).hexdigest() == st.pdf_sha256 and st.pdf_pages >= 1
    assert AuditEvent.objects.filter(action="statements.generate", period=closed_period).count() == 1
    assert AuditEvent.objects.filter(action="statement.create").count() == 2


def test_an_open_period_is_only_previewed_as_a_draft(run, focus_files, seeded):
    run("ingest", str(write_rows(focus_files, [("5", "5", "r", "S", tags())])), "-s", "aws", "-p", "2025-01")
    refused = run("generate", "-p", "2025-01")
    assert refused.code == 1 and "period 2025-01 is open; close it before generating" in refused.err
    preview = run("generate", "-p", "2025-01", "--dry-run", "--format", "json").json()
    assert preview["draft"] is True and len(preview["files"]) == 1
    assert not Statement.objects.exists()  # nothing saved
    with open(preview["files"][0], "rb") as fh:
        assert "DRAFT" in pdf_text(fh.read())


def test_a_dry_run_on_a_closed_period_saves_nothing(run, closed_period):
    preview = run("generate", "-p", closed_period, "--dry-run", "--format", "json").json()
    assert preview["statements"] == 2 and len(preview["files"]) == 2 and not preview["draft"]
    assert not Statement.objects.exists()


def test_a_finalized_period_is_permanent(run, closed_period):
    run("generate", "-p", closed_period)
    from billing.models import BillingPeriod

    BillingPeriod.objects.filter(period=closed_period).update(status="finalized")
    refused = run("generate", "-p", closed_period)
    assert refused.code == 1 and "finalized" in refused.err


def test_a_statement_is_in_one_currency(run, focus_files, seeded):
    header = [*MINIMAL_HEADER, "BillingCurrency"]
    rows = [[*minimal_row("1"), "USD"], [*minimal_row("2"), "EUR"]]
    run("ingest", str(focus_files.write("aws-2025-01.csv", rows, header)), "-s", "aws", "-p", "2025-01")
    run("review", "approve", "-p", "2025-01")
    refused = run("periods", "close", "2025-01")  # named before anything goes out
    assert refused.code == 1 and "1 charge to bill are in EUR, not USD" in refused.err
    checked = run("periods", "check", "2025-01", "--format", "json")
    assert checked.code == 1 and [b["code"] for b in checked.json()["blockers"]] == ["currency"]
    BillingPeriod.objects.filter(period="2025-01").update(status="closed")  # closed before closing checked
    refused = run("generate", "-p", "2025-01")
    assert refused.code == 1 and "cannot have its statements generated yet: 1 charge to bill are in EUR" in refused.err
    assert not Statement.objects.exists()


def test_an_approved_charge_without_a_pi_must_be_attributed_first(run, focus_files, seeded):
    path = write_rows(focus_files, [("7", "7", "r", "S", tags(pi=None))])
    run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    run("review", "approve", "-p", "2025-01")
    refused = run("periods", "close", "2025-01")
    assert refused.code == 1 and "1 charge to bill have no PI: fix their attribution or reject them" in refused.err


def test_one_pi_only(run, closed_period):
    report = run("generate", "-p", closed_period, "--pi", BOB.upper(), "--format", "json").json()
    assert report["statements"] == 1
    assert Statement.objects.get().pi.email == BOB
    unknown = run("generate", "-p", closed_period, "--pi", "nobody@example.edu")
    assert unknown.code == 1 and "no PI with email" in unknown.err


def test_statements_list_shows_numbers_status_and_amounts(run, closed_period):
    run("generate", "-p", closed_period)
    rows = run("statements", "list", "-p", closed_period, "--format", "json").json()
    assert [(r["number"], r["project_id"], r["status"]) for r in rows] == [
        ("2025-01-000001", "genomics", "final"), ("2025-01-000002", "climate", "final"),
    ]  # fmt: skip
    assert "2 statements" in run("statements", "list", "-p", closed_period).out


def test_finalizing_needs_current_statements(run, closed_period):
    from .conftest import approve_refund_and_close

    approve_refund_and_close(run)
    refused = run("periods", "finalize", closed_period)
    assert refused.code == 1 and "has no statements yet; generate them before finalizing" in refused.err
    run("generate", "-p", closed_period)
    run("periods", "reopen", closed_period, "--reason", "a late rejection")
    from billing.models import Charge

    run("review", "reject", "--id", str(Charge.objects.get(resource_id="refund").pk), "--note", "not ours")
    run("periods", "close", closed_period)
    stale = run("periods", "finalize", closed_period)
    assert stale.code == 1 and "no longer match the approved charges" in stale.err
    run("generate", "-p", closed_period)
    Source.objects.filter(name="aws").update(credit_fund_org="RC-0001", gl_account="4400")
    assert run("export-journal", "-p", closed_period).code == 0  # finalizing also needs the journal
    assert run("periods", "finalize", closed_period).code == 0


def test_generate_close_closes_an_open_month_only_when_nothing_blocks_it(run, focus_files, seeded):
    from billing.models import Charge

    from .conftest import ROWS

    assert run("ingest", str(write_rows(focus_files, ROWS)), "-s", "aws", "-p", "2025-01").code == 0
    plain = run("generate", "-p", "2025-01")
    assert plain.code == 1 and plain.err.startswith("period 2025-01 is open; close it before generating")

    blocked = run("generate", "-p", "2025-01", "--close")  # the refund is still flagged
    assert blocked.code == 1 and "flagged charge not yet decided" in blocked.err
    assert BillingPeriod.objects.get(period="2025-01").status == "open"
    assert not Statement.objects.exists()

    refund = Charge.objects.get(resource_id="refund")
    assert run("review", "reject", "--id", str(refund.pk), "--note", "not confirmed").code == 0
    done = run("generate", "-p", "2025-01", "--close", "--format", "json")
    assert done.code == 0, done.err
    assert done.json()["closed_first"] is True and done.json()["statements"] == Statement.objects.count() > 0
    assert BillingPeriod.objects.get(period="2025-01").status == "closed"


def test_a_months_statements_and_excluded_figures_count_that_month_and_that_pi_only(run, focus_files, seeded):
    """Two months, two PIs, each with billed, flagged (left undecided) and rejected charges.

    Worked by hand. January: Alice bills 10.00 and has a flagged -1.25 and a rejected -2.50; Bob
    bills 20.00 and has a flagged -4.00 and two rejected (-8.00, -16.00). February: Alice bills 100.00,
    flagged -32.00, rejected -64.00; Bob bills 200.00, rejected -128.00. A January preview for the
    whole month: statements 10.00 + 20.00 = 30.00, flagged 2 charges -1.25 + -4.00 = -5.25,
    rejected 1 + 2 = 3. For Alice only: 10.00, flagged 1 (-1.25), rejected 1. None of February's
    charges, and none of Bob's in Alice's preview, may appear in either.
    """
    alice, bob = tags(ALICE, "genomics", "BIO-1"), tags(BOB, "climate", "GEO-7")
    months = {
        "2025-01": [
            ("10.00", "10.00", "vm-a", "Compute", alice, "ok"),
            ("-1.25", "-1.25", "refund-a1", "Compute", alice, "flagged"),
            ("-2.50", "-2.50", "refund-a2", "Compute", alice, "rejected"),
            ("20.00", "20.00", "job-b", "HPC", bob, "ok"),
            ("-4.00", "-4.00", "refund-b1", "HPC", bob, "flagged"),
            ("-8.00", "-8.00", "refund-b2", "HPC", bob, "rejected"),
            ("-16.00", "-16.00", "refund-b3", "HPC", bob, "rejected"),
        ],
        "2025-02": [
            ("100.00", "100.00", "vm-a-feb", "Compute", alice, "ok"),
            ("-32.00", "-32.00", "refund-a3", "Compute", alice, "flagged"),
            ("-64.00", "-64.00", "refund-a4", "Compute", alice, "rejected"),
            ("200.00", "200.00", "job-b-feb", "HPC", bob, "ok"),
            ("-128.00", "-128.00", "refund-b4", "HPC", bob, "rejected"),
        ],
    }
    for month, rows in months.items():
        path = focus_files.write(
            f"aws-{month}.csv",
            [
                minimal_row(b, listed=lst, period=month, resource=r, service=s, tag_json=t)
                for b, lst, r, s, t, _ in rows
            ],
        )
        assert run("ingest", str(path), "-s", "aws", "-p", month).code == 0
        for *_, resource, _, _, state in rows:
            charge = Charge.objects.get(resource_id=resource)
            assert charge.review_state == ("ok" if state == "ok" else "flagged"), resource  # refunds are flagged
            if state == "rejected":
                assert run("review", "reject", "--id", str(charge.pk), "--note", "not ours").code == 0

    whole = run("generate", "-p", "2025-01", "--dry-run", "--format", "json").json()
    assert (whole["statements"], whole["pis"], whole["total_due"]) == (2, 2, {"USD": "30.00"})
    assert (whole["excluded_flagged_charges"], Decimal(whole["excluded_flagged_cost"])) == (2, Decimal("-5.25"))
    assert whole["rejected_charges"] == 3

    one = run("generate", "-p", "2025-01", "--dry-run", "--pi", ALICE, "--format", "json").json()
    assert (one["statements"], one["pis"], one["total_due"]) == (1, 1, {"USD": "10.00"})
    assert (one["excluded_flagged_charges"], Decimal(one["excluded_flagged_cost"])) == (1, Decimal("-1.25"))
    assert one["rejected_charges"] == 1


def test_a_preview_bills_each_statement_in_its_charges_currency_and_refuses_to_add_two(run, focus_files, seeded):
    """A dry run previews an open month as it stands, before `periods check` would refuse a currency
    other than the organization's (USD). Bob's climate is billed only in EUR: its preview is a statement
    of 5.00 EUR. Alice's genomics has 1.00 USD and 2.00 EUR: a statement adds up one currency, so
    previewing the whole month is refused rather than showing 3.00 of either."""
    header = [*MINIMAL_HEADER, "BillingCurrency"]
    alice, bob = tags(ALICE, "genomics", "BIO-1"), tags(BOB, "climate", "GEO-7")
    rows = [
        [*minimal_row("1.00", resource="vm-a", tag_json=alice), "USD"],
        [*minimal_row("2.00", resource="vm-b", tag_json=alice), "EUR"],
        [*minimal_row("5.00", resource="job-c", tag_json=bob), "EUR"],
    ]
    path = focus_files.write("aws-2025-01.csv", rows, header)
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    assert run("review", "approve", "-p", "2025-01").code == 0  # the EUR charges were flagged for their currency

    bob_only = run("generate", "-p", "2025-01", "--dry-run", "--pi", BOB, "--format", "json").json()
    assert (bob_only["statements"], bob_only["total_due"]) == (1, {"EUR": "5.00"})
    refused = run("generate", "-p", "2025-01", "--dry-run")
    assert refused.code == 1 and "project genomics has charges in EUR, USD" in refused.err


def test_excluded_charges_count_the_applied_file_only_at_the_sources_basis(run, focus_files, seeded):
    """aws bills on the effective basis. The month's file has usage (billed 10.00, effective 8.00), a
    refund left flagged (billed -5.00, effective -4.00) and a refund rejected (billed -2.00, effective
    -1.50). A corrected file replaces it: the same rows, whose decisions carry over, and usage of 1.00
    more; the first file's charges stay stored but no longer count.

    Worked by hand: the statement bills 8.00 + 1.00 = 9.00; excluded are 1 flagged charge of -4.00
    (its effective cost) and 1 rejected charge. Counting the replaced file's charges too would give 2
    flagged (-8.00) and 2 rejected; the flagged cost at BilledCost would be -5.00."""
    assert run("sources", "set", "aws", "--billing-basis", "effective").code == 0
    effective = MINIMAL_HEADER.index("EffectiveCost")

    def row(billed, eff, resource):
        cells = minimal_row(billed, resource=resource, tag_json=tags(ALICE, "genomics", "BIO-1"))
        cells[effective] = eff
        return cells

    rows = [row("10.00", "8.00", "vm-a"), row("-5.00", "-4.00", "refund-a"), row("-2.00", "-1.50", "refund-b")]
    assert run("ingest", str(focus_files.write("aws-v1.csv", rows)), "-s", "aws", "-p", "2025-01").code == 0
    rejected = Charge.objects.get(resource_id="refund-b")
    assert run("review", "reject", "--id", str(rejected.pk), "--note", "not ours").code == 0
    v2 = focus_files.write("aws-v2.csv", [*rows, row("1.00", "1.00", "vm-b")])
    replaced = run("ingest", str(v2), "-s", "aws", "-p", "2025-01", "--replace")
    assert replaced.code == 0, replaced.err
    assert Charge.objects.filter(active=False).count() == 3

    report = run("generate", "-p", "2025-01", "--dry-run", "--format", "json").json()
    assert report["total_due"] == {"USD": "9.00"}
    assert (report["excluded_flagged_charges"], Decimal(report["excluded_flagged_cost"])) == (1, Decimal("-4.00"))
    assert report["rejected_charges"] == 1
