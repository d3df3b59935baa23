"""A file that replaces a batch keeps the review decisions of identical rows, each on its own line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import Charge, FlagPattern, ImportBatch
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


def in_file_order(resource):
    return list(Charge.objects.filter(active=True, resource_id=resource).order_by("file_index", "line_number"))


def test_identical_lines_in_two_files_keep_their_own_decisions_file_by_file(run, focus_files):
    """A batch of two files: the copy in a.csv (its line 3) is approved, the copy in b.csv (its line 2)
    rejected, and job-8 (2.50, no PI) is left flagged. The new batch has the copy once in a2.csv and
    twice in b2.csv, job-8 again and a new job-9 (0.75, no PI). In file order the first copy gets the
    approval, the second the rejection and the third nothing: the dry run counts 2 decisions, not 3.
    Flagged afterwards, in the new batch only: the third copy 12.3456789012 + job-8 2.50 + job-9 0.75
    = 15.5956789012 in 3 rows, all missing their PI (the replaced batch's flagged job-8 is not counted)."""
    stays = minimal_row("2.50", resource="job-8", service="HPC", tag_json=tags(pi=None))
    a = focus_files.write("a.csv", [minimal_row("1"), ORPHAN])
    b = focus_files.write("b.csv", [ORPHAN, stays])
    assert run("ingest", str(a), str(b), "-s", "aws", "-p", "2025-01").code == 0
    in_a, in_b = in_file_order("job-7")
    assert (in_a.line_number, in_b.line_number) == (3, 2)
    assert run("review", "approve", "--id", str(in_a.pk), "--note", "lab confirmed").code == 0
    assert run("review", "reject", "--id", str(in_b.pk), "--note", "duplicate").code == 0

    newcomer = minimal_row("0.75", resource="job-9", service="HPC", tag_json=tags(pi=None))
    a2 = focus_files.write("a2.csv", [minimal_row("1"), ORPHAN, minimal_row("3", resource="i-3")])
    b2 = focus_files.write("b2.csv", [ORPHAN, ORPHAN, stays, newcomer])
    args = ["ingest", str(a2), str(b2), "-s", "aws", "-p", "2025-01"]
    assert "2 review decisions will carry over" in run(*args, "--dry-run").out
    report = run(*args, "--replace", "--format", "json").json()

    assert report["carried_decisions"] == 2
    assert [(c.file_index, c.line_number, c.review_state) for c in in_file_order("job-7")] == [
        (0, 3, "approved"), (1, 2, "rejected"), (1, 3, "flagged"),
    ]  # fmt: skip
    # Each carried decision says where it came from, what it changed and who carried it.
    for new, old in zip(in_file_order("job-7"), (in_a, in_b), strict=False):
        carried, taken = new.decisions.get(), old.decisions.get()
        assert (carried.decision, carried.state_before, carried.state_after, carried.actor) == (
            "carried_over", "flagged", taken.state_after, taken.actor,
        )  # fmt: skip
        assert carried.note == f"carried over from charge {old.pk} of batch {old.batch_id}"
    assert (report["flagged_rows"], report["flagged_cost"], report["flag_counts"]) == (
        3, "15.5956789012", {"missing_pi": 3},
    )  # fmt: skip


def test_a_replaced_batch_without_decisions_carries_none(run, focus_files):
    run("ingest", str(focus_files.write("v1.csv", [minimal_row("1")])), "-s", "aws", "-p", "2025-01")
    v2 = focus_files.write("v2.csv", [minimal_row("1"), minimal_row("2", resource="i-2")])
    report = run("ingest", str(v2), "-s", "aws", "-p", "2025-01", "--replace", "--format", "json").json()
    assert (report["rows"], report["carried_decisions"]) == (2, 0)


def test_the_decision_taken_on_the_replacing_batch_is_the_one_that_carries_next(run, focus_files):
    """v1's copy is approved; v2 carries the approval and a reviewer then rejects it there; v3 must
    carry the rejection, not v1's older approval."""
    run("ingest", str(focus_files.write("v1.csv", [minimal_row("1"), ORPHAN])), "-s", "aws", "-p", "2025-01")
    (first,) = active("job-7")
    assert run("review", "approve", "--id", str(first.pk), "--note", "lab confirmed").code == 0
    v2 = focus_files.write("v2.csv", [minimal_row("1"), ORPHAN, minimal_row("2", resource="i-2")])
    assert run("ingest", str(v2), "-s", "aws", "-p", "2025-01", "--replace").code == 0
    (second,) = active("job-7")
    assert second.review_state == "approved"
    assert run("review", "reject", "--id", str(second.pk), "--note", "not ours after all").code == 0
    v3 = focus_files.write("v3.csv", [minimal_row("1"), ORPHAN, minimal_row("3", resource="i-3")])
    report = run("ingest", str(v3), "-s", "aws", "-p", "2025-01", "--replace", "--format", "json").json()
    assert report["carried_decisions"] == 1
    assert [c.review_state for c in active("job-7")] == ["rejected"]


def test_after_a_carry_over_rows_flagged_by_two_patterns_count_under_one_reason(run, focus_files):
    """Two flag patterns, gpu and spot, each flag one row (gpu-node-1 8.00, spot-1 0.25); the orphan
    copy is approved. The replacing file adds i-2 (2.00, nothing to flag): the approval carries over,
    so the flagged figures are counted again from the new batch's charges: 2 rows, 8.00 + 0.25 = 8.25,
    both for the reason pattern_match (the pattern's name after the colon is not a reason of its own)."""
    FlagPattern.objects.create(name="gpu", pattern="gpu", fields="resource_name")
    FlagPattern.objects.create(name="spot", pattern="spot", fields="resource_name")
    rows = [
        minimal_row("1"),
        ORPHAN,
        minimal_row("8.00", resource="gpu-node-1"),
        minimal_row("0.25", resource="spot-1"),
    ]
    assert run("ingest", str(focus_files.write("v1.csv", rows)), "-s", "aws", "-p", "2025-01").code == 0
    (orphan,) = active("job-7")
    assert run("review", "approve", "--id", str(orphan.pk), "--note", "lab confirmed").code == 0

    v2 = focus_files.write("v2.csv", [*rows, minimal_row("2.00", resource="i-2")])
    report = run("ingest", str(v2), "-s", "aws", "-p", "2025-01", "--replace", "--format", "json").json()

    assert report["carried_decisions"] == 1
    assert (report["flagged_rows"], report["flagged_cost"], report["flag_counts"]) == (
        2, "8.2500000000", {"pattern_match": 2},
    )  # fmt: skip
    batch = ImportBatch.objects.get(pk=report["batch_id"])
    assert (batch.flagged_rows, batch.flagged_cost, batch.flag_counts) == (2, Decimal("8.25"), {"pattern_match": 2})
