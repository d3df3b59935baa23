"""Statement lines are true to the cent: each line's amount and discount are allocated by largest
remainder against the statement's totals, and its list price is amount + discount.

Every expected figure below is worked out by hand in the test's docstring.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import PI
from statements.models import Statement
from tests.conftest import MINIMAL_HEADER, minimal_row, tags
from tests.portal.conftest import portal_user

from .conftest import pdf_text

pytestmark = pytest.mark.django_db(transaction=True)
CENTS = re.compile(r"^-?[\d,]+\.\d\d$")


def generate(run, focus_files, rows):
    path = focus_files.write("aws-2025-01.csv", rows, MINIMAL_HEADER)
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    assert run("periods", "close", "2025-01").code == 0
    result = run("generate", "-p", "2025-01")
    assert result.code == 0, result.err
    return Statement.objects.exclude(status="superseded").get()


def stored_lines(st):
    """(service, list, discount, amount) of each stored line, in statement order."""
    return [(ln.service_name, ln.list_amount, ln.list_amount - ln.amount, ln.amount) for ln in st.lines.all()]


def pdf_detail(text, resource):
    """(list, discount, amount) of a resource's line under "Charge details" (the extractor gives a cell a line,
    a right-aligned one with a space before it)."""
    cells = [c.strip() for c in text.split("Charge details", 1)[1].splitlines()]
    at = cells.index(resource)
    return tuple(c for c in cells[at + 1 :] if CENTS.match(c))[:3]


def no_list_cost(billed, resource, service="Compute"):
    row = minimal_row(billed, resource=resource, service=service)
    row[MINIMAL_HEADER.index("ListCost")] = ""
    return row


def d(*values):
    return tuple(Decimal(v) for v in values)


def test_a_line_billed_at_list_shows_no_discount(run, focus_files, seeded, client):
    """vm-a is billed at list, 8.6049135; bucket bills 1.002 against a list of 2.000.

    Amount due: 9.6069135 -> 9.61. Cut to cents 8.60 + 1.00 = 9.60; the missing cent goes to the
    larger remainder, vm-a's 0.0049135 (bucket's is 0.002): amounts 8.61 and 1.00.
    Discount: 0 + 0.998 -> 1.00. Cut to cents 0.00 + 0.99; the cent goes to bucket, the only remainder.
    So vm-a reads list 8.61, discount 0.00, amount 8.61 and bucket 2.00, 1.00, 1.00; totals 10.61,
    1.00, 9.61. (Rounding the list prices on their own against 10.6049135 -> 10.60 gave vm-a a list of
    8.60 and a discount of -0.01 that does not exist.)
    """
    st = generate(run, focus_files, [
        minimal_row("8.6049135", resource="vm-a", service="Compute"),
        minimal_row("1.002", listed="2.000", resource="bucket", service="Storage"),
    ])  # fmt: skip
    assert stored_lines(st) == [("Compute", *d("8.61", "0.00", "8.61")), ("Storage", *d("2.00", "1.00", "1.00"))]
    assert (st.list_total, st.discount_total, st.amount_due) == d("10.61", "1.00", "9.61")

    text = pdf_text(st.pdf.read())
    assert pdf_detail(text, "vm-a") == ("8.61", "0.00", "8.61")
    assert pdf_detail(text, "bucket") == ("2.00", "1.00", "1.00")
    assert "-0.01" not in text

    listed = run("statements", "list", "-p", "2025-01", "--format", "json").json()[0]
    assert (listed["list_total"], listed["discount_total"], listed["amount_due"]) == ("10.61", "1.00", "9.61")

    alice = portal_user("alice@example.edu")
    PI.objects.filter(email="alice@example.edu").update(user=alice)
    client.force_login(alice)
    page = client.get(reverse("portal:statement", args=[st.pk]))
    assert page.status_code == 200
    shown = [(ln.list_amount, ln.discount, ln.amount) for ln in page.context["lines"]]
    assert shown == [d("8.61", "0.00", "8.61"), d("2.00", "1.00", "1.00")]
    assert "-0.01" not in page.content.decode()


def test_lines_with_sub_cent_parts_are_allocated_not_rounded_one_by_one(run, focus_files, seeded):
    """Three services each bill 0.335 at a list of 0.50 (discount 0.165 each).

    Amount due: 1.005 -> 1.01. Each cut to 0.33 (0.99); the two missing cents go to the equal
    remainders in statement order (by service: Backup, Compute, Storage): 0.34, 0.34, 0.33.
    Rounded one by one they would be 0.34 x 3 = 1.02, a cent more than the statement bills.
    Discount: 0.495 -> 0.50. Each cut to 0.16 (0.48); two cents to Backup and Compute: 0.17, 0.17, 0.16.
    Lists: 0.51, 0.51, 0.49 (amount + discount), together 1.51 = 1.01 + 0.50.
    """
    st = generate(run, focus_files, [
        minimal_row("0.335", listed="0.50", resource=f"r-{service}", service=service)
        for service in ("Storage", "Compute", "Backup")
    ])  # fmt: skip
    assert stored_lines(st) == [
        ("Backup", *d("0.51", "0.17", "0.34")),
        ("Compute", *d("0.51", "0.17", "0.34")),
        ("Storage", *d("0.49", "0.16", "0.33")),
    ]
    assert (st.list_total, st.discount_total, st.amount_due) == d("1.51", "0.50", "1.01")


def test_a_blank_list_cost_is_billed_at_list(run, focus_files, seeded):
    """vm-1 bills 3.337 with no ListCost: its list is its billed cost, so it has no discount.
    vm-2 bills 5.004 against a list of 10.00 (discount 4.996).

    Amount due: 8.341 -> 8.34; cut to cents 3.33 + 5.00 = 8.33, the cent to vm-1 (0.007 against
    0.004): 3.34 and 5.00. Discount: 0 + 4.996 -> 5.00, all of it vm-2's. List 3.34 and 10.00, total 13.34.
    Were the blank ListCost read as 0, vm-1 would show a list of 0.00 and a discount of -3.34.
    """
    st = generate(run, focus_files, [
        no_list_cost("3.337", "vm-1", service="Compute"),
        minimal_row("5.004", listed="10.00", resource="vm-2", service="Storage"),
    ])  # fmt: skip
    assert stored_lines(st) == [("Compute", *d("3.34", "0.00", "3.34")), ("Storage", *d("10.00", "5.00", "5.00"))]
    assert (st.list_total, st.discount_total, st.amount_due) == d("13.34", "5.00", "8.34")
    text = pdf_text(st.pdf.read())
    assert pdf_detail(text, "vm-1") == ("3.34", "0.00", "3.34")
    assert pdf_detail(text, "vm-2") == ("10.00", "5.00", "5.00")


def test_pdf_detail_lines_with_sub_cent_parts_add_up_to_the_amount_due(run, focus_files, seeded):
    """One service, four resources; the PDF lists them by resource name.

      job-1  billed 0.335  list 0.335 (no ListCost)
      job-2  billed 0.335  list 0.40
      job-3  billed 0.335  list 0.405
      job-4  billed 2.1249 list 2.1249 (no ListCost)

    Amount due: 3.1299 -> 3.13. Cut to cents 0.33 + 0.33 + 0.33 + 2.12 = 3.11; the two missing cents
    go to the largest remainders, job-1 and job-2 (0.005 each, the earlier first) ahead of job-3
    (0.005) and job-4 (0.0049): 0.34, 0.34, 0.33, 2.12 = 3.13. Rounded one by one: 0.34 x 3 + 2.12 = 3.14.
    Discount: 0 + 0.065 + 0.07 + 0 = 0.135 -> 0.14. Cut to cents 0.06 + 0.07 = 0.13; the cent goes to
    job-2 (remainder 0.005): 0.07 each. Lists (amount + discount): 0.34, 0.41, 0.40, 2.12 = 3.27.
    """
    st = generate(run, focus_files, [
        no_list_cost("0.335", "job-1", service="HPC"),
        minimal_row("0.335", listed="0.40", resource="job-2", service="HPC"),
        minimal_row("0.335", listed="0.405", resource="job-3", service="HPC"),
        no_list_cost("2.1249", "job-4", service="HPC"),
    ])  # fmt: skip
    text = pdf_text(st.pdf.read())
    details = [pdf_detail(text, f"job-{i}") for i in range(1, 5)]
    assert details == [("0.34", "0.00", "0.34"), ("0.41", "0.07", "0.34"), ("0.40", "0.07", "0.33"),
                       ("2.12", "0.00", "2.12")]  # fmt: skip
    assert sum(Decimal(amount) for _, _, amount in details) == st.amount_due == Decimal("3.13")
    assert pdf_detail(text, "Total") == ("3.27", "0.14", "3.13")


def charge(billed, resource, *, listed=None, start=None, name=True):
    """A usage row; `start` moves its charge period start, `name=False` leaves ResourceName blank."""
    row = minimal_row(billed, listed=listed, resource=resource, service="Compute")
    if start:
        row[MINIMAL_HEADER.index("ChargePeriodStart")] = start
    if not name:
        row[MINIMAL_HEADER.index("ResourceName")] = ""
    return row


def detail_row(text, resource):
    """(date, list, discount, amount) of a resource's line under "Charge details"."""
    cells = text.split("Charge details", 1)[1].splitlines()
    at = cells.index(resource)
    return (cells[at - 1], *pdf_detail(text, resource))


def test_the_charges_of_one_resource_are_one_detail_line_counted_summed_and_dated_by_the_first(
    run, focus_files, seeded
):
    """vm-1 has three charges: billed 1.005 (list 1.50, from 15 Jan), 2.0025 (at list, from 3 Jan) and
    0.50 (list 0.75, from 20 Jan): one line "vm-1 ×3" dated 2025-01-03, billed 3.5075, list 4.2525,
    discount 0.745. i-2 has no ResourceName, so its ResourceId names it: billed 1.00 at list, 2025-01-01.

    Amount due 4.5075 -> 4.51: cut to cents 3.50 + 1.00 = 4.50, the cent to vm-1 (remainder 0.0075):
    3.51. Discount 0.745 -> 0.75: cut 0.74, the cent to vm-1: 0.75. vm-1's list 3.51 + 0.75 = 4.26."""
    st = generate(run, focus_files, [
        charge("1.005", "vm-1", listed="1.50", start="2025-01-15"),
        charge("2.0025", "vm-1", start="2025-01-03"),
        charge("0.50", "vm-1", listed="0.75", start="2025-01-20"),
        charge("1.00", "i-2", name=False),
    ])  # fmt: skip
    text = pdf_text(st.pdf.read())
    assert detail_row(text, "vm-1 ×3") == ("2025-01-03", "4.26", "0.75", "3.51")
    assert detail_row(text, "i-2") == ("2025-01-01", "1.00", "0.00", "1.00")
    assert pdf_detail(text, "Total") == ("5.26", "0.75", "4.51")
    assert "smallest resources are summed" not in text  # nothing was folded


def test_beyond_the_limit_the_smallest_resources_are_summed_on_one_line(run, focus_files, seeded, settings):
    """At most 3 detail lines: the 2 largest (r-a 5.00, r-b 4.00) keep theirs, and r-c (0.105, list
    0.20), r-d (0.10) and r-e (2.00) make "3 other resources ×3": billed 2.205, list 2.30.

    Amount due 11.205 -> 11.21: cut 5.00 + 4.00 + 2.20 = 11.20, the cent to the folded line
    (remainder 0.005): 2.21. Discount 0.095 -> 0.10, all on the folded line; its list 2.31."""
    settings.OPENCHARGEBACK_STATEMENT_DETAIL_LINES = 3
    st = generate(run, focus_files, [
        charge("5.00", "r-a"), charge("4.00", "r-b"), charge("0.105", "r-c", listed="0.20"),
        charge("0.10", "r-d"), charge("2.00", "r-e"),
    ])  # fmt: skip
    text = pdf_text(st.pdf.read())
    assert pdf_detail(text, "r-a") == ("5.00", "0.00", "5.00")
    assert pdf_detail(text, "r-b") == ("4.00", "0.00", "4.00")
    assert pdf_detail(text, "3 other resources ×3") == ("2.31", "0.10", "2.21")
    assert "r-c" not in text.split("Charge details", 1)[1]
    assert "The 3 smallest resources are summed on one line" in " ".join(text.split())


def pdf_cells(text, section, end, first):
    """The cells of the row starting at `first` in the PDF's section `section` (up to `end`)."""
    cells = [c.strip() for c in text.split(section, 1)[1].split(end, 1)[0].splitlines()]
    at = cells.index(first)
    return tuple(cells[at : at + 6])


def test_charges_by_service_add_a_services_lines_and_credits_are_listed_apart(run, focus_files, seeded):
    """Compute is billed on two fund/orgs (two statement lines): 1.005 (list 1.50) on BIO-1 and 2.0025
    on BIO-2; Storage 0.50; a refund of -0.25 on Compute is a credit line of its own.

    Amount due 3.2575 -> 3.26: cut 1.00 + 2.00 + 0.50 - 0.25 = 3.25, the cent to BIO-1's Compute
    (remainder 0.005): 1.01. Discount 0.495 -> 0.50, all on that line: its list 1.51.
    Charges by service (usage only): Compute 2 charges, list 1.51 + 2.00 = 3.51, discount 0.50,
    amount 1.01 + 2.00 = 3.01; Storage 1 charge, 0.50, 0.00, 0.50. Credits: Compute -0.25."""
    rows = [
        minimal_row("1.005", listed="1.50", resource="a", service="Compute", tag_json=tags(fund="BIO-1")),
        minimal_row("2.0025", resource="b", service="Compute", tag_json=tags(fund="BIO-2")),
        minimal_row("0.50", resource="c", service="Storage"),
        minimal_row("-0.25", resource="refund", service="Compute"),
    ]
    path = focus_files.write("aws-2025-01.csv", rows, MINIMAL_HEADER)
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    assert run("review", "approve", "-p", "2025-01").code == 0
    assert run("periods", "close", "2025-01").code == 0
    assert run("generate", "-p", "2025-01").code == 0
    st = Statement.objects.exclude(status="superseded").get()
    assert st.amount_due == Decimal("3.26")
    text = pdf_text(st.pdf.read())
    by_service = ("Charges by service", "Credits and adjustments")
    assert pdf_cells(text, *by_service, "Compute")[1:5] == ("2", "3.51", "0.50", "3.01")
    assert pdf_cells(text, *by_service, "Storage")[1:5] == ("1", "0.50", "0.00", "0.50")
    credits = [c.strip() for c in text.split("Credits and adjustments", 1)[1].split("Amount due (", 1)[0].splitlines()]
    row = [c for c in credits[credits.index("Credit") :] if c]  # the source's display name may wrap
    at = row.index("Compute")
    assert row[at + 1 : at + 4] == ["-0.25", "0.00", "-0.25"]


KIND_HEADER = [*MINIMAL_HEADER, "ChargeCategory", "ChargeClass", "PricingQuantity", "PricingUnit"]


def kind_row(billed, resource, service="Compute", *, category="Usage", cls="", qty="", unit="", start=None):
    """A row at list with its FOCUS category and class, and a usage quantity in `unit`."""
    row = [*minimal_row(billed, resource=resource, service=service), category, cls, qty, unit]
    if start:
        row[MINIMAL_HEADER.index("ChargePeriodStart")] = start
    return row


def test_detail_lines_sum_quantities_list_usage_first_and_fold_only_beyond_the_limit(
    run, focus_files, seeded, settings
):
    """All at list (no discount). vm-1 has two usage charges, 1.005 for 2.5 Hours and 0.50 for 1.25
    Hours: one line "vm-1 ×2", 3.75 Hours, billed 1.505. st-1 bills 0.25 for 10 GB-Mo. vm-1 also has a
    correction of December, 0.10, a line of its own "vm-1 (correction)" listed under "Credits and
    adjustments" as "Compute (corrects 2024-12)". Tax tax-1 bills 1.505. Usage lines come first.

    Amount due 1.505 + 0.25 + 0.10 + 1.505 = 3.36. Cut to cents 1.50 + 0.25 + 0.10 + 1.50 = 3.35; the
    missing cent goes to the largest remainder, a tie of 0.005 between vm-1 and tax-1 that the earlier
    line, vm-1's usage, wins: 1.51, 0.25, 0.10, 1.50.

    At most 4 lines: the four are shown, nothing folded. At most 2: the largest is kept (vm-1 and tax-1
    tie at 1.505, vm-1 is the earlier) and st-1, the correction and tax-1 make "3 other resources ×3",
    billed 0.25 + 0.10 + 1.505 = 1.855, no service and no quantity. Cut 1.50 + 1.85 = 3.35, the cent to
    vm-1 (a tie of 0.005 again, the earlier line): 1.51 and 1.85.
    """
    from statements.services.render import statement_context, statement_render_to_bytes

    settings.OPENCHARGEBACK_STATEMENT_DETAIL_LINES = 4
    path = focus_files.write("aws-2025-01.csv", [
        kind_row("1.005", "vm-1", qty="2.5", unit="Hours"),
        kind_row("0.50", "vm-1", qty="1.25", unit="Hours"),
        kind_row("0.25", "st-1", "Storage", qty="10", unit="GB-Mo"),
        kind_row("0.10", "vm-1", cls="Correction", start="2024-12-10"),
        kind_row("1.505", "tax-1", "Tax", category="Tax"),
    ], KIND_HEADER)  # fmt: skip
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0
    assert run("periods", "close", "2025-01").code == 0
    assert run("generate", "-p", "2025-01").code == 0
    st = Statement.objects.exclude(status="superseded").get()
    assert st.amount_due == Decimal("3.36")

    text = " ".join(pdf_text(st.pdf.read()).split())
    assert text.split("Charge details ", 1)[1].startswith(
        "Date Resource Service Quantity List Discount Amount "
        "2025-01-01 vm-1 ×2 Compute 3.75 Hours 1.51 0.00 1.51 "
        "2025-01-01 st-1 Storage 10 GB-Mo 0.25 0.00 0.25 "
        "2024-12-10 vm-1 (correction) Compute 0.10 0.00 0.10 "
        "2025-01-01 tax-1 (tax) Tax 1.50 0.00 1.50 "
        "Total 3.36 0.00 3.36 Amounts and discounts"
    )
    assert "Tax Kind Source Service List Discount Amount Tax Amazon Web Services Tax 1.50 0.00 1.50" in text
    assert "Correction Amazon Web Services Compute (corrects 2024-12) 0.10 0.00 0.10" in text
    context = statement_context(st, draft=False)
    assert context["folded"] == 0
    assert [(s["title"], [(ln["kind"], ln["source"], ln["service"], ln["amount"]) for ln in s["lines"]])
            for s in context["sections"]] == [
        ("Tax", [("Tax", "Amazon Web Services", "Tax", Decimal("1.50"))]),
        ("Credits and adjustments", [("Correction", "Amazon Web Services", "Compute (corrects 2024-12)",
                                     Decimal("0.10"))]),
    ]  # fmt: skip

    settings.OPENCHARGEBACK_STATEMENT_DETAIL_LINES = 2
    text = " ".join(pdf_text(statement_render_to_bytes(st)[0]).split())
    assert text.split("Charge details ", 1)[1].startswith(
        "Date Resource Service Quantity List Discount Amount "
        "2025-01-01 vm-1 ×2 Compute 3.75 Hours 1.51 0.00 1.51 "
        "— 3 other resources ×3 1.85 0.00 1.85 "
        "Total 3.36 0.00 3.36 The 3 smallest resources are summed on one line"
    )


# A FOCUS file with the columns that pick a line's kind, the month a correction corrects and the
# effective basis: (category, class, list, billed, effective, resource, service, tags, charge start).
MIXED_HEADER = [
    "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory",
    "ChargeClass", "ListCost", "BilledCost", "EffectiveCost", "ResourceId", "ServiceName", "Tags",
]  # fmt: skip


def focus(category, cls, listed, billed, effective, resource, service, tag_json, start="2025-01-01"):
    return ["2025-01-01", "2025-01-31", start, "2025-01-31", category, cls, listed, billed, effective, resource,
            service, tag_json]  # fmt: skip


def data_import(run, tmp_path, kind, text):
    path = tmp_path / f"{kind}.csv"
    path.write_text(text)
    result = run("data", "import", kind, str(path))
    assert result.code == 0, result.err


def shown_lines(run, number):
    """(kind, source, service, fund/org, charges, list, discount, amount, amortized, corrects) of each line
    of `statements show`, in statement order."""
    detail = run("statements", "show", number, "--format", "json").json()
    return [
        (ln["kind"], ln["source"], ln["service"], ln["fund_org"], ln["charges"], *d(ln["list"], ln["discount"],
         ln["amount"]), ln["amortized"], ln["corrects"])
        for ln in detail["lines"]
    ]  # fmt: skip


def test_a_mixed_month_groups_counts_and_allocates_every_line_on_each_sources_basis(run, focus_files, seeded, tmp_path):
    """Alice has two projects: proteins (imported first, so the lower id) is split 60/40 between NIH-R01
    and NSF-CAREER; genomics is not split. aws bills on the effective basis (amortized), hpc on BilledCost.

    genomics, its lines in statement order (kind, then source, service, fund/org, account, corrected month):
      1 usage aws Compute BIO-1: a1 (list 3.00, billed 2.00, effective 1.2345) and a2 (no ListCost, billed
        0, effective 0.5055, so its list is its effective cost): 2 charges, billed 1.74, list 3.5055
      2 usage aws Compute BIO-1 account 61000: a4, list 0.40, effective 0.335
      3 usage aws Compute BIO-2: a3, list 1.00, effective 0.999
      4 usage hpc Slurm BIO-1: h1, no ListCost, billed 0.335 (its EffectiveCost 0.20 is not hpc's basis)
      5 credit hpc Slurm BIO-1: h2, -0.255
      6 correction aws Compute BIO-1 of this month (January): 0.05, which corrects no earlier month
      7 correction of 2024-11: 0.206
      8 correction of 2024-12: -0.104
    Amount due: 1.74 + 0.335 + 0.999 + 0.335 - 0.255 + 0.05 + 0.206 - 0.104 = 3.306 -> 3.31. Cut to cents
    (floor) 1.74, 0.33, 0.99, 0.33, -0.26, 0.05, 0.20, -0.11 = 3.27; the 4 missing cents go to the largest
    remainders: line 3 (0.009), 7 and 8 (0.006 each), then 2 (0.005, the earliest of 2, 4 and 5):
    amounts 1.74, 0.34, 1.00, 0.33, -0.26, 0.05, 0.21, -0.10.
    Discounts: 3.5055 - 1.74 = 1.7655, 0.40 - 0.335 = 0.065, 1.00 - 0.999 = 0.001, the rest 0; total 1.8315
    -> 1.83. Cut to cents 1.76 + 0.06 + 0.00 = 1.82, the cent to line 1 (remainder 0.0055): 1.77, 0.06, 0.00.
    Lists (amount + discount): 3.51, 0.40, 1.00, 0.33, -0.26, 0.05, 0.21, -0.10 = 5.14. Charges: 9.

    proteins, every charge funded by the split in force on its day (fund/org "NIH-R01 60% / NSF-CAREER 40%"):
      1 usage aws Compute: p1 on 5 January (list 12.00, billed 10.00, effective 7.005) and p2 on 6 January
        (no ListCost, effective 3.0025): two days' rows merged, 2 charges, billed 10.0075, list 15.0025
      2 usage hpc Slurm: p3 on 6 January, 0.03 at list
    Amount due 10.0375 -> 10.04: cut 10.00 + 0.03, the cent to line 1 (0.0075): 10.01 and 0.03. Discount
    4.995 -> 5.00, all line 1's: list 15.01. Shares: 10.01 x 60/40 = 6.006 / 4.004 -> 6.00 + 4.00, the cent
    to NIH-R01 (0.006): 6.01 and 4.00; 0.03 -> 0.018 / 0.012 -> 0.01 + 0.01, the cent to NIH-R01: 0.02, 0.01.
    Statements are numbered by PI, then project: proteins 2025-01-000001, genomics 2025-01-000002.
    """
    data_import(run, tmp_path, "pis", "email,name\nalice@example.edu,Alice Ng\n")
    data_import(run, tmp_path, "projects", "code,pi_email,title,fund_org\nproteins,alice@example.edu,Proteins,"
                "NIH-R01\ngenomics,alice@example.edu,Genomics,BIO-1\n")  # fmt: skip
    data_import(run, tmp_path, "funds", "fund_org,title,sponsor,federal,start,end\n"
                "NIH-R01,Folding,NIH,yes,2024-01-01,2026-12-31\n"
                "NSF-CAREER,Dynamics,NSF,yes,2024-01-01,2026-12-31\n")  # fmt: skip
    data_import(run, tmp_path, "funding", "project_code,fund_org,percent,effective_from,effective_to\n"
                "proteins,NIH-R01,60,2025-01-01,\nproteins,NSF-CAREER,40,2025-01-01,\n")  # fmt: skip
    assert run("sources", "set", "aws", "--billing-basis", "effective").code == 0
    bio1, bio2 = tags(project="genomics", fund="BIO-1"), tags(project="genomics", fund="BIO-2")
    split = tags(project="proteins", fund="NIH-R01")
    aws = [
        focus("Usage", "", "3.00", "2.00", "1.2345", "a1", "Compute", bio1),
        focus("Usage", "", "", "0", "0.5055", "a2", "Compute", bio1),
        focus("Usage", "", "1.00", "1.00", "0.999", "a3", "Compute", bio2),
        focus("Usage", "", "0.40", "0.40", "0.335", "a4", "Compute", tags(project="genomics", fund="BIO-1",
                                                                            account_code="61000")),
        focus("Usage", "Correction", "0.05", "0.05", "0.05", "a7", "Compute", bio1, start="2025-01-07"),
        focus("Usage", "Correction", "0.206", "0.206", "0.206", "a6", "Compute", bio1, start="2024-11-03"),
        focus("Usage", "Correction", "-0.104", "-0.104", "-0.104", "a5", "Compute", bio1, start="2024-12-10"),
        focus("Usage", "", "12.00", "10.00", "7.005", "p1", "Compute", split, start="2025-01-05"),
        focus("Usage", "", "", "0", "3.0025", "p2", "Compute", split, start="2025-01-06"),
    ]  # fmt: skip
    hpc = [
        focus("Usage", "", "", "0.335", "0.20", "h1", "Slurm", bio1),
        focus("Credit", "", "-0.255", "-0.255", "-0.255", "h2", "Slurm", bio1),
        focus("Usage", "", "0.03", "0.03", "0.03", "p3", "Slurm", split, start="2025-01-06"),
    ]
    for source, rows in (("aws", aws), ("hpc", hpc)):
        path = focus_files.write(f"{source}-2025-01.csv", rows, MIXED_HEADER)
        assert run("ingest", str(path), "-s", source, "-p", "2025-01").code == 0
    assert run("review", "approve", "-p", "2025-01").code == 0  # the credit and the negative correction
    assert run("periods", "close", "2025-01").code == 0
    result = run("generate", "-p", "2025-01")
    assert result.code == 0, result.err

    listed = run("statements", "list", "-p", "2025-01", "--format", "json").json()
    assert [(s["number"], s["project_id"], s["charges"], s["list_total"], s["discount_total"], s["amount_due"])
            for s in listed] == [("2025-01-000001", "proteins", 3, "15.04", "5.00", "10.04"),
                                 ("2025-01-000002", "genomics", 9, "5.14", "1.83", "3.31")]  # fmt: skip

    usage, credit, correction = "usage", "credit", "correction"
    assert shown_lines(run, "2025-01-000002") == [
        (usage, "aws", "Compute", "BIO-1", 2, *d("3.51", "1.77", "1.74"), True, ""),
        (usage, "aws", "Compute", "BIO-1", 1, *d("0.40", "0.06", "0.34"), True, ""),
        (usage, "aws", "Compute", "BIO-2", 1, *d("1.00", "0.00", "1.00"), True, ""),
        (usage, "hpc", "Slurm", "BIO-1", 1, *d("0.33", "0.00", "0.33"), False, ""),
        (credit, "hpc", "Slurm", "BIO-1", 1, *d("-0.26", "0.00", "-0.26"), False, ""),
        (correction, "aws", "Compute", "BIO-1", 1, *d("0.05", "0.00", "0.05"), True, ""),
        (correction, "aws", "Compute", "BIO-1", 1, *d("0.21", "0.00", "0.21"), True, "2024-11"),
        (correction, "aws", "Compute", "BIO-1", 1, *d("-0.10", "0.00", "-0.10"), True, "2024-12"),
    ]
    genomics = Statement.objects.get(number="2025-01-000002")
    assert [ln.account_code for ln in genomics.lines.all()] == ["", "61000", "", "", "", "", "", ""]

    label = "NIH-R01 60% / NSF-CAREER 40%"
    assert shown_lines(run, "2025-01-000001") == [
        (usage, "aws", "Compute", label, 2, *d("15.01", "5.00", "10.01"), True, ""),
        (usage, "hpc", "Slurm", label, 1, *d("0.03", "0.00", "0.03"), False, ""),
    ]
    proteins = Statement.objects.get(number="2025-01-000001")
    assert proteins.fund_orgs == "NIH-R01, NSF-CAREER"
    assert [[(s.fund_org, s.amount) for s in ln.shares.order_by("fund_org")] for ln in proteins.lines.all()] == [
        [("NIH-R01", Decimal("6.01")), ("NSF-CAREER", Decimal("4.00"))],
        [("NIH-R01", Decimal("0.02")), ("NSF-CAREER", Decimal("0.01"))],
    ]
