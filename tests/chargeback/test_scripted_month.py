"""A whole month on a fresh database through commands only (the script of docs/cli.md).

The HPC source gets its credit side, the master data and rates come from CSV files (each checked
by a dry run first), a sacct file is converted and imported, the month is closed, its statements
generated and emailed, and the GL journal exported: it balances against the statements to the cent.

sacct-2025-01.txt with these rates (tests/billing/test_convert_slurm.py works them out by hand):
chen-lab (genomics-core) 26.88 list of which 0.08 is the free debug partition, diaz-lab
(climate-model) 11.52, sandbox 0.08 (no mapping: flagged, left out). The start-up subsidy pays
at most 5.00 of genomics-core a month.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from billing.models import SubsidyUsage
from tests.conftest import Result

pytestmark = pytest.mark.django_db

SACCT = Path(settings.BASE_DIR) / "fixtures" / "samples" / "sacct-2025-01.txt"
FILES = {
    "pis": "email,name\nalice.chen@example.edu,Alice Chen\nbob.diaz@example.edu,Bob Díaz\n",
    "projects": (
        "code,pi_email,title,fund_org,active\n"
        "genomics-core,alice.chen@example.edu,Genomics core,BIO-2025-001,yes\n"
        "climate-model,bob.diaz@example.edu,Climate model,GEO-2025-014,yes\n"
    ),
    "mappings": (
        "kind,value,project_code,note\n"
        "slurm_account,chen-lab,genomics-core,Chen lab allocation\n"
        "slurm_account,diaz-lab,climate-model,Diaz lab allocation\n"
    ),
    "rates": (
        "name,kind,applies_to,unit,price,multiplier,effective_from\n"
        "cpu-su,slurm,cpu,SU,0.01,1,2024-07-01\n"
        "gpu-a100-su,slurm,gpu,SU,2.50,1,2024-07-01\n"
        "debug-su,slurm,debug,SU,0.01,1,2024-07-01\n"
        "largemem-su,slurm,largemem,SU,0.01,2,2024-07-01\n"
    ),
    "subsidies": (
        "code,label,source,partition,project_code,percent,cap,cap_period,priority,effective_from\n"
        "debug-free,Debug partition free of charge,hpc,debug,,100,,month,0,2024-07-01\n"
        "chen-startup,Start-up subsidy,hpc,,genomics-core,,5.00,month,1,2024-07-01\n"
    ),
}


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


def test_a_month_runs_from_the_command_line_and_the_journal_matches_the_statements(
    run: Callable[..., Result], tmp_path: Path, django_capture_on_commit_callbacks: Any, mailoutbox: list[Any]
) -> None:
    ok(run("sources", "set", "hpc", "--credit-fund-org", "RC-HPC-OPS", "--gl-account", "54200"))
    for kind, text in FILES.items():
        path = tmp_path / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        dry = ok(run("data", "import", kind, str(path), "--dry-run", "--format", "json")).json()
        assert dry["created"] == text.count("\n") - 1 and dry["dry_run"]
        assert ok(run("data", "import", kind, str(path), "--format", "json")).json()["created"] == dry["created"]

    ingest = ok(run("ingest", "--from", "slurm", str(SACCT), "-s", "hpc", "-p", "2025-01", "--format", "json"))
    conversion = ingest.json()["conversion"]
    assert conversion["subsidies"] == {"chen-startup": "5", "debug-free": "0.08"}
    assert SubsidyUsage.objects.get(rule__code="chen-startup").amount == Decimal("5.00")
    # The unmapped sandbox job is flagged: a reviewer rejects it (not recharged) before the close.
    flagged = ok(run("review", "list", "-p", "2025-01", "--format", "json")).json()["charges"]
    assert len(flagged) == 1
    ok(run("review", "reject", "--id", str(flagged[0]["id"]), "--note", "sandbox: not recharged"))
    ok(run("periods", "close", "2025-01"))
    with django_capture_on_commit_callbacks(execute=True):  # the PDFs and emails, after the commit
        generated = ok(run("generate", "-p", "2025-01", "--send", "--format", "json")).json()
    journal = ok(run("export-journal", "-p", "2025-01", "-f", "gl", "--format", "json")).json()
    statements = ok(run("statements", "list", "-p", "2025-01", "--format", "json")).json()

    due = sum((Decimal(s["amount_due"]) for s in statements), Decimal(0))
    assert due == Decimal("33.32")  # 38.48 list - 0.08 debug - 5.00 start-up - 0.08 sandbox (rejected)
    assert Decimal(journal["debit_total"]) == Decimal(journal["credit_total"]) == due
    assert Decimal(journal["statements_due"]) == due
    assert generated["statements"] == 2 and generated["rejected_charges"] == 1
    assert sorted(m.to[0] for m in mailoutbox) == ["alice.chen@example.edu", "bob.diaz@example.edu"]
    assert all(len(m.attachments) == 1 for m in mailoutbox)
