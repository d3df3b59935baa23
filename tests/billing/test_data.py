"""`openchargeback data export|import KIND`: master data and rules as files, all or nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import models

from billing.models import (
    PI,
    AccountMapping,
    BillingPeriod,
    Budget,
    FlagPattern,
    Fund,
    FundOrgPattern,
    Project,
    ProjectFunding,
    ProviderInvoice,
    Rate,
    Source,
    SubsidyRule,
    TagMapping,
)
from billing.services.data import KINDS
from chargeback.models import AuditEvent
from tests.conftest import Result

pytestmark = pytest.mark.django_db
Run = Callable[..., Result]

MODELS: dict[str, type[models.Model]] = {
    "sources": Source,
    "pis": PI,
    "projects": Project,
    "funds": Fund,
    "funding": ProjectFunding,
    "mappings": AccountMapping,
    "rates": Rate,
    "subsidies": SubsidyRule,
    "tag-mappings": TagMapping,
    "flag-patterns": FlagPattern,
    "fund-org-patterns": FundOrgPattern,
    "invoices": ProviderInvoice,
    "budgets": Budget,
}
# A text field of each kind that a round trip must restore, and a value to overwrite it with.
EDITED = {
    "sources": "display_name",
    "pis": "name",
    "projects": "title",
    "funds": "title",
    "funding": "percent",
    "mappings": "note",
    "rates": "description",
    "subsidies": "label",
    "tag-mappings": "priority",
    "flag-patterns": "description",
    "fund-org-patterns": "description",
    "invoices": "issuer",
    "budgets": "thresholds",
}


@pytest.fixture
def configuration(db: Any) -> None:
    """One or more records of every kind, with text a spreadsheet would take for a formula."""
    hpc = Source.objects.get(name="hpc")
    hpc.display_name, hpc.credit_fund_org, hpc.gl_account = '=HYPERLINK("http://x")', "RC-HPC-OPS", "54200"
    hpc.save()
    Source.objects.create(name="tape", display_name="'quoted", file_pattern="-tape*", enabled=False)
    alice = PI.objects.create(email="alice.chen@example.edu", name="+Alice Chen")
    bob = PI.objects.create(email="bob.diaz@example.edu", name="Bob Díaz")
    genomics = Project.objects.create(
        code="genomics-core", pi=alice, title="@SUM(A1:A9)", fund_org="BIO-2025-001", fund_end_date=date(2026, 6, 30)
    )
    Project.objects.create(code="climate", pi=bob, title="Climate", fund_org="GEO-2025-014", active=False)
    Project.objects.create(code="orphan", title="No PI yet")
    AccountMapping.objects.create(kind="slurm_account", value="chen-lab", project=genomics, note="-lab account")
    AccountMapping.objects.create(kind="sub_account", value="123456789012", project=genomics, fund_org="BIO-2025-002")
    Rate.objects.create(
        name="cpu-su", kind="slurm", applies_to="cpu", unit="SU", price=Decimal("0.0123456789"),
        multiplier=Decimal("1.5"), effective_from=date(2024, 7, 1), effective_to=date(2025, 6, 30),
        description="-CPU",
    )  # fmt: skip
    Rate.objects.create(
        name="tier1", kind="storage", applies_to="tier1", unit="TB-month", price=Decimal("12345678.1234567891"),
        free_quantity=Decimal("0.5"), basis="quota", effective_from=date(2024, 7, 1),
    )  # fmt: skip
    SubsidyRule.objects.create(
        code="provost-hpc", label="Provost HPC subsidy", source=hpc, project=genomics, pi=alice,
        cap=Decimal("500.00"), cap_period="fiscal_year", effective_from=date(2024, 7, 1), priority=2,
    )  # fmt: skip
    SubsidyRule.objects.create(
        code="debug-free", label="=debug", partition="debug", percent=Decimal("100"), effective_from=date(2024, 7, 1)
    )
    TagMapping.objects.create(field="project_id", tag_key="project", priority=1)
    FlagPattern.objects.create(name="gpu", pattern="-?gpu", fields="service_name,resource_name", description="GPU")
    FundOrgPattern.objects.create(pattern=r"^[A-Z]+-\d{4}-\d{3}$", description="=department")
    nih = Fund.objects.create(
        fund_org="BIO-2025-001", title="=Genome grant", sponsor="NIH", federal=True,
        award_start=date(2024, 7, 1), award_end=date(2026, 6, 30),
    )  # fmt: skip
    dept = Fund.objects.create(fund_org="BIO-2025-002", title="Start-up")
    ProjectFunding.objects.create(project=genomics, fund=nih, percent=Decimal(60), effective_from=date(2025, 1, 1))
    ProjectFunding.objects.create(project=genomics, fund=dept, percent=Decimal(40), effective_from=date(2025, 1, 1))
    march = BillingPeriod.objects.create(period="2025-03")
    ProviderInvoice.objects.create(
        source=Source.objects.get(name="aws"), invoice_id="EUINV-25-1", period=march, currency="EUR",
        total=Decimal("98765432.1234567891"), issuer="=AWS EMEA SARL", billing_account="123456789012",
    )  # fmt: skip
    Budget.objects.create(project=genomics, amount=Decimal("1234.5678901234"), currency="USD", thresholds=[75, 100])
    Budget.objects.create(fund_org="GEO-2025-014", amount=Decimal("50000"), currency="EUR", span="award")


def snapshot(kind: str) -> list[dict[str, Any]]:
    model = MODELS[kind]
    fields = [f.attname for f in model._meta.concrete_fields if f.name not in ("created_at", "match_value")]
    return list(model._default_manager.order_by("pk").values(*fields))


def export(run: Run, kind: str, path: Path, *more: str) -> Path:
    result = run("data", "export", kind, "-o", str(path), *more)
    assert result.code == 0, result.err
    return path


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_export_imports_back_unchanged(run: Run, configuration: None, tmp_path: Path, kind: str) -> None:
    before = snapshot(kind)
    path = export(run, kind, tmp_path / f"{kind}.csv")
    field = EDITED[kind]
    MODELS[kind]._default_manager.update(**{field: {"priority": 9, "percent": 50}.get(field, "edited")})

    restored = run("data", "import", kind, str(path), "--format", "json")

    assert restored.code == 0, restored.err
    assert restored.json()["updated"] == len(before) and restored.json()["created"] == 0
    assert snapshot(kind) == before
    again = run("data", "import", kind, str(path), "--format", "json").json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, len(before))


@pytest.mark.parametrize("file_format", ["xlsx", "json"])
def test_spreadsheets_and_json_round_trip_exact_amounts(
    run: Run, configuration: None, tmp_path: Path, file_format: str
) -> None:
    before = snapshot("rates")
    path = export(run, "rates", tmp_path / f"rates.{file_format}")
    Rate.objects.update(price=Decimal("1"), description="edited")

    result = run("data", "import", "rates", str(path))

    assert result.code == 0, result.err
    assert snapshot("rates") == before
    assert Rate.objects.get(name="tier1").price == Decimal("12345678.1234567891")


def test_an_export_escapes_formulae_and_keeps_amounts_as_numbers(run: Run, configuration: None) -> None:
    sources = run("data", "export", "sources").out
    assert "'=HYPERLINK" in sources and "''quoted" in sources and ",'-tape*," in sources
    assert "'+Alice Chen" in run("data", "export", "pis").out
    rates = list(csv.DictReader(io.StringIO(run("data", "export", "rates").out)))
    cpu = rates[0]
    assert (cpu["name"], cpu["price"], cpu["effective_to"], cpu["description"]) == (
        "cpu-su", "0.0123456789", "2025-06-30", "'-CPU",
    )  # fmt: skip
    assert Decimal(cpu["multiplier"]) == Decimal("1.5")
    assert rates[1]["price"] == "12345678.1234567891"


def test_a_dry_run_reports_and_writes_nothing(run: Run, db: Any, tmp_path: Path) -> None:
    pis = tmp_path / "pis.csv"
    pis.write_text("email,name\nAlice.Chen@Example.edu,Alice Chen\nbob@example.edu,Bob\n")
    PI.objects.create(email="bob@example.edu", name="Bob")

    result = run("data", "import", "pis", str(pis), "--dry-run")

    assert result.code == 0, result.err
    assert result.out.strip() == (
        "Dry run (nothing written): pis.csv (pis): 2 rows, 1 would create, 0 would update, 1 unchanged"
    )
    assert list(PI.objects.values_list("email", flat=True)) == ["bob@example.edu"]
    assert not AuditEvent.objects.filter(action="pi.import").exists()
    imported = run("data", "import", "pis", str(pis))
    assert imported.out.strip() == "Imported: pis.csv (pis): 2 rows, 1 created, 0 updated, 1 unchanged"
    assert PI.objects.get(name="Alice Chen").email == "alice.chen@example.edu"
    event = AuditEvent.objects.get(action="pi.import")
    assert event.actor.startswith("cli:") and event.after == {"file": "pis.csv", "new": 1, "skip": 1}


# A good first row, then a bad one: the file is refused whole, naming the bad row and column.
BAD_ROWS = {
    "sources": (
        "name,display_name,enabled\nlab,Lab cluster,yes\nlab2,Lab 2,perhaps\n",
        "sources.csv, row 3, column enabled: 'perhaps' is not yes or no",
    ),
    "pis": ("email,name\nnew@example.edu,New\nnot-an-email,B\n", "pis.csv, row 3, column email: Enter a valid email"),
    "projects": (
        "code,pi_email,title\nnew-project,,New\nx,nobody@example.edu,X\n",
        "projects.csv, row 3, column pi_email: no PI with email nobody@example.edu",
    ),
    "mappings": (
        "kind,value,project_code\nslurm_account,new-lab,genomics-core\nslurm_account,other,nope\n",
        "mappings.csv, row 3, column project_code: no project with code nope",
    ),
    "rates": (
        "name,kind,applies_to,unit,price,effective_from\nnew-su,slurm,new,SU,1,2025-01-01\n"
        "gpu-su,slurm,gpu,SU,abc,2025-01-01\n",
        "rates.csv, row 3, column price: 'abc' is not an amount",
    ),
    "subsidies": (
        "code,label,cap,effective_from\nnew-cap,New,10,2025-01-01\nno-amount,No amount,,2025-01-01\n",
        "subsidies.csv, row 3: Give a percent, a cap, or both.",
    ),
    "tag-mappings": (
        "field,tag_key,priority\npi_email,owner,1\nowner_email,owner,1\n",
        "tag-mappings.csv, row 3, column field: Value 'owner_email' is not a valid choice.",
    ),
    "flag-patterns": (
        "name,pattern\nnew-pattern,sandbox\nbroken,(unclosed\n",
        "flag-patterns.csv, row 3, column pattern: not a valid regular expression",
    ),
    "funds": (
        "fund_org,title,start,end\nBIO-2025-003,New grant,2025-01-01,2025-12-31\n"
        "BIO-2025-004,Backwards,2025-06-01,2025-01-31\n",
        "funds.csv, row 3, column end: the award ends before it starts",
    ),
    "funding": (
        "project_code,fund_org,percent,effective_from\nclimate,BIO-2025-001,100,2025-01-01\n"
        "climate,NO-SUCH,50,2025-02-01\n",
        "funding.csv, row 3: no fund NO-SUCH; add it (data import funds FILE) first",
    ),
    "fund-org-patterns": (
        "pattern,enabled\n^NEW-\\d+$,yes\n[a-,yes\n",
        "fund-org-patterns.csv, row 3, column pattern: not a valid regular expression",
    ),
    "invoices": (
        "source,invoice_id,month,currency,total\naws,INV-2,2025-03,USD,1.00\naws,INV-3,2025-02,USD,1.00\n",
        "invoices.csv, row 3, column month: no billing period '2025-02'",
    ),
    "budgets": (
        "project_code,fund_org,amount,currency,span,thresholds\nclimate,,10,USD,month,\ngenomics-core,,-5,USD,month,\n",
        "budgets.csv, row 3, column amount: Ensure this value is greater than or equal to 0.01.",
    ),
}


def counts() -> dict[str, int]:
    return {kind: model._default_manager.count() for kind, model in MODELS.items()}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_bad_row_refuses_the_whole_file(run: Run, configuration: None, tmp_path: Path, kind: str) -> None:
    text, error = BAD_ROWS[kind]
    path = tmp_path / f"{kind}.csv"
    path.write_text(text)
    before, events = counts(), AuditEvent.objects.count()

    result = run("data", "import", kind, str(path))

    assert result.code == 1
    assert result.err.startswith(error), result.err
    assert "\n" not in result.err
    assert (counts(), AuditEvent.objects.count()) == (before, events)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("email,nmae\na@example.edu,A\n", "pis.csv: unknown column nmae (columns of pis: email, name)"),
        ("name\nAlice\n", "pis.csv: missing column email, which identifies a row of pis"),
        ("", "pis.csv: the file is empty"),
    ],
)
def test_a_file_with_wrong_columns_is_refused(run: Run, db: Any, tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "pis.csv"
    path.write_text(text)
    result = run("data", "import", "pis", str(path))
    assert result.code == 1 and result.err.startswith(error), result.err
    assert not PI.objects.exists()


def test_a_missing_key_column_is_named(run: Run, db: Any, tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("kind,unit,price\nslurm,SU,1\n")
    result = run("data", "import", "rates", str(path))
    error = "rates.csv: missing column name, effective_from, which identifies a row of rates"
    assert (result.code, result.err) == (1, error)


def test_the_whole_configuration_goes_to_a_folder_and_back(run: Run, configuration: None, tmp_path: Path) -> None:
    folder = tmp_path / "config"
    assert run("data", "export", "all", "-o", str(folder)).code == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{kind}.csv" for kind in KINDS)
    before = {kind: snapshot(kind) for kind in KINDS}

    result = run("data", "import", "all", str(folder), "--format", "json")

    assert result.code == 0, result.err
    assert [f["kind"] for f in result.json()["files"]] == list(KINDS)
    assert all(f["created"] == f["updated"] == 0 for f in result.json()["files"])
    assert {kind: snapshot(kind) for kind in KINDS} == before


def test_a_folder_is_applied_in_dependency_order_in_one_transaction(run: Run, db: Any, tmp_path: Path) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "projects.csv").write_text("code,pi_email,fund_org\ngenomics-core,alice@example.edu,BIO-2025-001\n")
    (folder / "pis.csv").write_text("email,name\nalice@example.edu,Alice\n")
    (folder / "mappings.csv").write_text("kind,value,project_code\nslurm_account,chen-lab,genomics-core\n")

    dry = run("data", "import", "all", str(folder), "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.out.splitlines()[0].startswith("Dry run (nothing written): pis.csv (pis): 1 rows, 1 would create")
    assert not PI.objects.exists()

    (folder / "mappings.csv").write_text("kind,value,project_code\nslurm_account,chen-lab,nope\n")
    refused = run("data", "import", "all", str(folder))
    assert refused.code == 1 and refused.err.startswith("mappings.csv, row 2, column project_code: no project")
    assert not PI.objects.exists() and not Project.objects.exists()


def test_an_unknown_file_in_the_folder_is_refused(run: Run, db: Any, tmp_path: Path) -> None:
    (tmp_path / "pis.csv").write_text("email\na@example.edu\n")
    (tmp_path / "rate.csv").write_text("name\n")
    result = run("data", "import", "all", str(tmp_path))
    assert result.code == 1 and "rate.csv not a kind" in result.err
    assert not PI.objects.exists()
