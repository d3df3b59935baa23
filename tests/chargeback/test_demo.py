"""`load_demo` loads the shipped demo: rules, a user per role and every sample FOCUS file, once."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User

from billing.models import PI, Charge, FlagPattern, FundOrgPattern, ImportBatch, Source
from chargeback.models import AuditEvent, Organization
from chargeback.money import round_cents
from tests.conftest import Result

pytestmark = pytest.mark.django_db

FOCUS_DIR = Path(settings.BASE_DIR) / "fixtures" / "focus"

# What each shipped file holds: its lines, and the lines deliberately left for review.
EXPECTED_ROWS = {
    "aws-2025-01.csv": 42,
    "aws-2025-02.csv": 45,
    "hpc-2025-01.csv": 36,
    "hpc-2025-02.csv": 33,
    "storage-2025-01.csv.gz": 27,
}
EXPECTED_FLAGS = {
    "aws-2025-01.csv": {"missing_pi": 1, "missing_project": 1, "negative_amount": 1, "pattern_match": 2},
    "aws-2025-02.csv": {"invalid_fund_org": 1, "missing_fund_org": 1, "negative_amount": 1, "pattern_match": 2},
    "hpc-2025-01.csv": {"invalid_fund_org": 1, "pattern_match": 3},
    "hpc-2025-02.csv": {"missing_fund_org": 1, "pattern_match": 3},
    "storage-2025-01.csv.gz": {"missing_pi": 1, "missing_project": 1},
}
# Amount due per file, to the cent (the exact sums are checked against the CSVs below).
EXPECTED_BILLED = {
    "aws-2025-01.csv": Decimal("10261.92"),
    "aws-2025-02.csv": Decimal("12079.88"),
    "hpc-2025-01.csv": Decimal("2105.31"),
    "hpc-2025-02.csv": Decimal("2034.76"),
    "storage-2025-01.csv.gz": Decimal("2760.36"),
}
INTENDED_REASONS = {
    "missing_pi", "missing_project", "missing_fund_org", "invalid_fund_org", "pattern_match", "negative_amount",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _demo_site(settings: Any) -> None:
    settings.DEBUG = True  # the test runner turns it off; the demo refuses without it
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins


@pytest.fixture
def demo(run: Callable[..., Result]) -> Result:
    result = run("load_demo")
    assert result.code == 0, result.err
    return result


def test_load_demo_and_its_older_spelling_load_the_same_demo(run: Callable[..., Result]) -> None:
    first = run("load-demo")
    assert first.code == 0, first.err
    assert Charge.objects.count() == sum(EXPECTED_ROWS.values())

    again = run("load_demo")
    assert again.code == 0, again.err
    assert "Files: 0 imported, 5 already imported" in again.out
    assert Charge.objects.count() == sum(EXPECTED_ROWS.values())


def read_rows(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def batch_for(name: str) -> ImportBatch:
    return ImportBatch.objects.get(files__name=name, status=ImportBatch.Status.APPLIED)


def test_the_shipped_files_are_the_ones_described_here() -> None:
    assert sorted(p.name for p in FOCUS_DIR.iterdir()) == sorted(EXPECTED_ROWS)
    for name, rows in EXPECTED_ROWS.items():
        assert len(read_rows(FOCUS_DIR / name)) == rows, name


def test_the_shipped_money_adds_up() -> None:
    for path in FOCUS_DIR.iterdir():
        for line, row in enumerate(read_rows(path), start=2):
            listed, contracted = Decimal(row["ListCost"]), Decimal(row["ContractedCost"])
            billed, effective = Decimal(row["BilledCost"]), Decimal(row["EffectiveCost"])
            assert billed == effective, f"{path.name}:{line}"
            assert -billed.as_tuple().exponent <= 10, f"{path.name}:{line}"  # type: ignore[operator]
            if row.get("ChargeCategory", "Usage") == "Usage":
                assert listed >= contracted >= billed >= 0, f"{path.name}:{line}"
            else:
                assert row["ChargeCategory"] == "Credit" and billed < 0, f"{path.name}:{line}"


def test_it_imports_every_shipped_file_with_all_its_lines(demo: Result) -> None:
    for name, rows in EXPECTED_ROWS.items():
        batch = batch_for(name)
        source, _, rest = name.partition("-")
        assert (batch.source.name, batch.period.period) == (source, rest[:7])
        assert batch.row_count == rows
        assert Charge.objects.filter(batch=batch).count() == rows
    assert ImportBatch.objects.count() == len(EXPECTED_ROWS)
    assert "Files: 5 imported, 0 already imported; 183 rows, 20 flagged for review." in demo.out


def test_billed_totals_match_the_files_to_the_cent(demo: Result) -> None:
    for name in EXPECTED_ROWS:
        expected = sum((Decimal(row["BilledCost"]) for row in read_rows(FOCUS_DIR / name)), Decimal(0))
        batch = batch_for(name)
        stored = sum(Charge.objects.filter(batch=batch).values_list("billed_cost", flat=True), Decimal(0))
        assert batch.billed_total == stored == expected, name
        assert round_cents(stored) == round_cents(expected) == EXPECTED_BILLED[name], name
    everything = sum((b.billed_total for b in ImportBatch.objects.all()), Decimal(0))
    assert round_cents(everything) == Decimal("29242.23")


def test_each_file_flags_exactly_the_lines_left_for_review(demo: Result) -> None:
    seen: set[str] = set()
    for name, flags in EXPECTED_FLAGS.items():
        batch = batch_for(name)
        assert batch.flag_counts == flags, name
        decided = Charge.objects.filter(batch=batch, review_state__in=["approved", "rejected"]).count()
        still_flagged = Charge.objects.filter(batch=batch, review_state="flagged").count()
        if batch.period.period == "2025-01":  # decided by the demo's reviewer before January closed
            assert (still_flagged, decided) == (0, batch.flagged_rows), name
        else:
            assert (still_flagged, decided) == (batch.flagged_rows, 0), name
        seen |= set(flags)
    assert seen == INTENDED_REASONS


def test_the_flagged_lines_are_the_deliberate_ones(demo: Result) -> None:
    flagged = {c.resource_name: c.flag_reason_list for c in Charge.objects.exclude(flag_reasons="")}
    assert flagged["neuro-gpu-fmriprep"] == ["pattern_match:gpu"]
    assert flagged["climate-ingest-noaa"] == ["missing_pi"]
    assert flagged["kowalska-license-server"] == ["missing_project"]
    assert flagged["eeg-pilot-collector"] == ["missing_fund_org"]
    assert flagged["econ-nlp-ws-2"] == ["invalid_fund_org"]
    credits = Charge.objects.filter(charge_category="Credit")
    assert [(c.billed_cost, c.flag_reason_list) for c in credits] == [(Decimal("-250"), ["negative_amount"])] * 2


def test_a_second_run_changes_nothing(run: Callable[..., Result], demo: Result) -> None:
    charges, events = Charge.objects.count(), AuditEvent.objects.count()
    again = run("load_demo", "--format", "json")
    assert again.code == 0, again.err
    data = again.json()
    assert [f["status"] for f in data["files"]] == ["already_imported"] * len(EXPECTED_ROWS)
    assert data["files_imported"] == 0 and data["changes"] == []
    assert (Charge.objects.count(), AuditEvent.objects.count()) == (charges, events)
    assert ImportBatch.objects.count() == len(EXPECTED_ROWS)
    assert User.objects.count() == 5 and Group.objects.count() == 3
    assert (Source.objects.count(), FlagPattern.objects.count(), FundOrgPattern.objects.count()) == (5, 1, 1)


def test_it_sets_up_the_organization_rules_and_sources(demo: Result) -> None:
    assert Organization.objects.get().name == "Example University Research Computing"
    assert FundOrgPattern.objects.get().pattern == r"^[A-Z]+-\d{4}-\d{3}$"
    gpu = FlagPattern.objects.get(name="gpu")
    assert gpu.fields == "service_name,resource_name,resource_type"
    aws = Source.objects.get(name="aws")
    assert (aws.display_name, aws.credit_fund_org, aws.gl_account) == ("Amazon Web Services", "RC-CLOUD-AWS", "54100")
    assert sorted(Source.objects.values_list("name", flat=True)) == ["aws", "azure", "gcp", "hpc", "storage"]


def test_it_creates_the_users_in_their_roles(demo: Result) -> None:
    def groups(email: str) -> list[str]:
        return list(User.objects.get(username=email).groups.values_list("name", flat=True))

    finance = User.objects.get(username="finance@example.edu")
    assert finance.email == "finance@example.edu" and finance.is_staff and finance.is_superuser
    assert groups("finance@example.edu") == ["Finance admin"]
    assert groups("reviewer@example.edu") == ["Reviewer"]
    assert groups("viewer@example.edu") == ["Viewer"]
    assert not User.objects.get(username="reviewer@example.edu").is_superuser
    for email in ("alice.chen@example.edu", "jose.nunez@example.edu"):
        pi_user = User.objects.get(username=email)
        assert not pi_user.is_staff and groups(email) == []
        assert PI.objects.get(email=email).user == pi_user
    assert PI.objects.get(email="jose.nunez@example.edu").name == "José Núñez"
    assert "finance@example.edu" in demo.out and "demo-finance" in demo.out


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("finance@example.edu", "demo-finance"),
        ("reviewer@example.edu", "demo-reviewer"),
        ("viewer@example.edu", "demo-viewer"),
    ],
)
def test_staff_sign_in_to_the_admin_with_their_email(client: Any, demo: Result, email: str, password: str) -> None:
    assert client.login(username=email, password=password)
    assert client.get("/admin/").status_code == 200


def test_the_roles_grant_what_each_role_needs(demo: Result) -> None:
    finance = User.objects.get(username="finance@example.edu")
    reviewer = User.objects.get(username="reviewer@example.edu")
    viewer = User.objects.get(username="viewer@example.edu")
    assert reviewer.has_perms(["billing.approve_charge", "billing.change_charge", "billing.view_charge"])
    assert not reviewer.has_perm("billing.finalize_period")
    assert not reviewer.has_perm("billing.import_charges")
    assert viewer.has_perms(["billing.view_charge", "chargeback.view_auditevent", "chargeback.view_organization"])
    assert not viewer.has_perm("billing.approve_charge")
    assert not viewer.has_perm("billing.change_charge")
    assert finance.has_perm("billing.finalize_period")


def test_the_roles_exist_after_migrate_alone() -> None:
    def perms(role: str) -> set[str]:
        group = Group.objects.get(name=role)
        return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}

    finance, reviewer, viewer = perms("Finance admin"), perms("Reviewer"), perms("Viewer")
    custom = {"approve_charge", "close_period", "finalize_period", "import_charges", "manage_rules"}
    assert {f"billing.{c}" for c in custom} <= finance
    assert {"chargeback.view_auditevent", "chargeback.change_organization"} <= finance
    assert "chargeback.delete_auditevent" not in finance  # the audit trail is append-only
    assert all(p.split(".")[1].startswith("view_") for p in viewer)
    assert {"billing.view_charge", "chargeback.view_auditevent", "chargeback.view_organization"} <= viewer
    assert reviewer - viewer == {
        "billing.approve_charge", "billing.change_charge", "statements.send_statement", "statements.resolve_dispute",
    }  # fmt: skip
    assert {"statements.generate_statement", "statements.send_statement"} <= finance
    assert "billing.finalize_period" not in reviewer


def test_it_refuses_without_debug_unless_forced(run: Callable[..., Result], settings: Any) -> None:
    settings.DEBUG = False
    refused = run("load_demo")
    assert refused.code == 1 and "--force" in refused.err
    assert not User.objects.exists() and not ImportBatch.objects.exists()
    forced = run("load_demo", "--force")
    assert forced.code == 0, forced.err
    assert ImportBatch.objects.count() == len(EXPECTED_ROWS)
