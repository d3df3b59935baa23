"""A file that replaces a batch keeps the review decisions of identical rows, each on its own line."""

from __future__ import annotations

import pytest

from billing.models import Charge, ImportBatch
from tests.billing.test_admin_review import post_action
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db

# Three identical lines (same fingerprint) of a job without a PI: each is flagged missing_pi.
ORPHAN = minimal_row("12.3456789012", resource="job-7", service="HPC", tag_json=tags(pi=None))


def active(resource):
    return list(Charge.objects.filter(active=True, resource_id=resource).order_by("line_number"))


def test_an_approval_a_rejection_and_a_reattribution_carry_over_to_identical_lines_in_order(
    run, focus_files, client, reviewer
):
    """The first copy is approved, the second rejected, the third given to Bob (project astro, fund
    PHYS-9). A new file puts a new flagged line first (so the copies move down one line) and imports
    again: in file order, the copies get the approval, the rejection and the reattribution; the new
    flagged line (4.0000000001, missing its PI) is the only one left in the review queue."""
    v1 = focus_files.write("aws-2025-01.csv", [minimal_row("1"), ORPHAN, ORPHAN, ORPHAN])
    assert run("ingest", str(v1), "-s", "aws", "-p", "2025-01").code == 0
    first, second, third = active("job-7")
    assert run("review", "approve", "--id", str(first.pk), "--note", "lab confirmed").code == 0
    assert run("review", "reject", "--id", str(second.pk), "--note", "duplicate").code == 0
    client.force_login(reviewer)
    post_action(client, "reattribute_selected", [third.pk], confirm="yes", pi_email="bob@example.edu",
                project_code="astro", fund_org="PHYS-9", reason="Bob's job")  # fmt: skip
    third.refresh_from_db()
    assert (third.pi.email, third.project.code, third.fund_org, third.review_state) == (
        "bob@example.edu", "astro", "PHYS-9", "ok",
    )  # fmt: skip

    newcomer = minimal_row("4.0000000001", resource="job-9", service="HPC", tag_json=tags(pi=None))
    v2 = focus_files.write("aws-2025-01-v2.csv", [newcomer, minimal_row("1"), ORPHAN, ORPHAN, ORPHAN])
    report = run("ingest", str(v2), "-s", "aws", "-p", "2025-01", "--replace", "--format", "json").json()

    assert report["carried_decisions"] == 3
    assert ImportBatch.objects.get(status="applied").pk == report["batch_id"]
    carried = [
        (c.line_number, c.review_state, c.pi.email if c.pi else "", c.project.code, c.fund_org, c.flag_reason_list)
        for c in active("job-7")
    ]
    assert carried == [
        (4, "approved", "", "genomics", "BIO-2025-001", ["missing_pi"]),
        (5, "rejected", "", "genomics", "BIO-2025-001", ["missing_pi"]),
        (6, "ok", "bob@example.edu", "astro", "PHYS-9", []),
    ]
    assert [c.decisions.get().decision for c in active("job-7")] == ["carried_over"] * 3
    # Only the new line is held: 4.0000000001, exact.
    assert (report["flagged_rows"], report["flagged_cost"], report["flag_counts"]) == (
        1, "4.0000000001", {"missing_pi": 1},
    )  # fmt: skip
