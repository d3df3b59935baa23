"""The converters' FOCUS files pass the FinOps Foundation's validator (`focus-validator` 2.2.1,
its bundled FOCUS 1.2 model, offline), run from its own virtualenv (scripts/focus_validator.py).

The fixtures' Slurm conversion (per account and partition, and per job) and storage conversion
are validated. Without Python 3.12 or the package the test is skipped with the reason, except
under CI=true, where that fails it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from billing.converters.focus import conformance_problems

from .test_convert_slurm import SACCT, cluster  # noqa: F401 - the Slurm rates and accounts
from .test_convert_storage import REPORT, storage  # noqa: F401 - the storage rates and projects

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
CURRENCY_CODES = Path(__file__).parent / "data" / "iso4217_currency_codes.csv"


def _load_runner():
    spec = importlib.util.spec_from_file_location("focus_validator_runner", ROOT / "scripts" / "focus_validator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


@pytest.fixture(scope="session")
def official_validator():
    try:
        runner.ensure_venv()
    except runner.SetupError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the FOCUS validator is needed in CI: {exc}")
        pytest.skip(f"the FOCUS validator is not available here: {exc}")
    return runner


def assert_passes(validator, path: Path) -> None:
    outcome = validator.validate(path, currency_codes=CURRENCY_CODES)
    assert outcome.failed == {}, f"{path.name}: {outcome.failed}"
    assert len(outcome.passed) > 100  # the rules ran (about 136 apply to these files)
    assert conformance_problems(path) == []  # and our own checker agrees


def test_the_slurm_conversions_pass_the_official_validator(run, cluster, official_validator, tmp_path):  # noqa: F811
    for options in ([], ["--per-job"]):
        out = tmp_path / f"hpc-2025-01{''.join(options)}.csv"
        result = run("convert", "slurm", str(SACCT), "-p", "2025-01", "-o", str(out), *options)
        assert result.code == 0, result.err
        assert_passes(official_validator, out)


def test_the_storage_conversion_passes_the_official_validator(run, storage, official_validator, tmp_path):  # noqa: F811
    out = tmp_path / "storage-2025-01.csv"
    result = run("convert", "storage", str(REPORT), "-p", "2025-01", "-o", str(out))
    assert result.code == 0, result.err
    assert_passes(official_validator, out)


def test_our_own_checker_finds_what_the_official_validator_found(run, cluster, tmp_path):  # noqa: F811
    import csv

    out = tmp_path / "hpc.csv"
    assert run("convert", "slurm", str(SACCT), "-p", "2025-01", "-o", str(out)).code == 0
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    # Written the way the converters once wrote it: the cluster as provider of a billed charge,
    # whole quantities, a unit outside the FOCUS format, and no InvoiceId or ServiceSubcategory.
    first = rows[0] | {"ProviderName": "HPC cluster", "PricingQuantity": "960", "PricingUnit": "TB-month"}
    old = [{k: v for k, v in row.items() if k not in ("InvoiceId", "ServiceSubcategory")} for row in [first]]
    bad = tmp_path / "old.csv"
    with bad.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(old[0]))
        writer.writeheader()
        writer.writerows(old)
    assert conformance_problems(bad) == [
        "missing recommended column InvoiceId",
        "missing recommended column ServiceSubcategory",
        "2: PricingQuantity '960' has no decimal point (read as an integer, not a decimal)",
        "2: PricingUnit 'TB-month' is not in the FOCUS unit format (e.g. TB-Months, GB/Hour, Requests)",
        "2: ProviderName differs from InvoiceIssuerName (a marketplace charge) but BilledCost is not 0",
    ]
