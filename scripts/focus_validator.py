"""The FinOps Foundation's FOCUS validator (`focus-validator` 2.2.1 from PyPI), in its own virtualenv.

It needs Python 3.12 or later and NumPy below 2 (and so a pyarrow built for NumPy 1), which the
project's Python 3.11 environment cannot hold: it lives in `.venv-focus/` (gitignored), created by
`make focus-validator` or by the first test that needs it. It runs offline: `--block-download`
keeps it on the FOCUS 1.2 model bundled with the package, and the ISO 4217 currency codes are a
file we give it (it reads `focus_validator/rules/currency_codes.csv` from its working folder).

    python scripts/focus_validator.py setup
    python scripts/focus_validator.py FILE.csv --currency-codes CODES.csv
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-focus"
VERSION = "2.2.1"
REQUIREMENTS = (f"focus-validator=={VERSION}", "numpy<2", "pyarrow<21")
FOCUS_VERSION = "1.2"
# Validator 2.2.1 also reports, on their own, the two alternatives of InvoiceId's nullability
# rule (InvoiceId-C-003-C: "null when not invoiced" OR "not null when invoiced"); one of them
# fails for any file. Such a leaf counts only when the rule it is an alternative of fails too.
ALTERNATIVES = {"InvoiceId-C-004-C": "InvoiceId-C-003-C", "InvoiceId-C-005-C": "InvoiceId-C-003-C"}
LINE_RE = re.compile(r"^\S+\s+(?P<rule>[A-Za-z]+-[A-Z]-\d{3}-[A-Z]): (?P<status>PASS|FAIL|SKIPPED)\b(?P<rest>.*)$")


class SetupError(Exception):
    """The validator cannot be set up here; the message says why."""


@dataclass
class Outcome:
    passed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # rule -> the validator's message
    excused: set[str] = field(default_factory=set)  # alternatives whose rule passed
    output: str = ""


def find_python() -> str | None:
    """A Python 3.12 or later: FOCUS_VALIDATOR_PYTHON, python3.12, python3.13, or a pyenv version."""
    candidates = [os.environ.get("FOCUS_VALIDATOR_PYTHON", ""), "python3.12", "python3.13"]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(str(pyenv / "versions" / "3.1[2-9]*" / "bin" / "python3")))
    for candidate in filter(None, candidates):
        path = shutil.which(candidate)
        if path is None:
            continue
        check = subprocess.run(  # noqa: S603 - a Python interpreter found above
            [path, "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True, text=True
        )
        if check.returncode == 0 and check.stdout.strip() == "True":
            return path
    return None


def executable() -> Path:
    return VENV / "bin" / "focus-validator"


def ensure_venv() -> Path:
    """The validator's executable, installing it into .venv-focus/ first if needed."""
    marker = VENV / f".installed-{VERSION}"
    if marker.exists() and executable().exists():
        return executable()
    python = find_python()
    if python is None:
        raise SetupError("no Python 3.12 or later (set FOCUS_VALIDATOR_PYTHON to one)")
    if not (VENV / "bin" / "python").exists():
        created = subprocess.run([python, "-m", "venv", str(VENV)], capture_output=True, text=True)  # noqa: S603
        if created.returncode != 0:
            raise SetupError(f"cannot create {VENV.name}: {created.stderr.strip()[-300:]}")
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    installed = subprocess.run([*pip, *REQUIREMENTS], capture_output=True, text=True)  # noqa: S603
    if installed.returncode != 0:
        raise SetupError(f"cannot install {' '.join(REQUIREMENTS)}: {installed.stderr.strip()[-300:]}")
    marker.touch()
    return executable()


def validate(path: Path, *, currency_codes: Path) -> Outcome:
    """Run the validator on one FOCUS 1.2 CSV, offline; what passed and what failed."""
    with tempfile.TemporaryDirectory(prefix="focus-validator-") as work:
        rules = Path(work) / "focus_validator" / "rules"
        rules.mkdir(parents=True)
        shutil.copy(currency_codes, rules / "currency_codes.csv")
        command = [str(ensure_venv()), "--data-file", str(path.resolve()), "--validate-version", FOCUS_VERSION,
                   "--block-download"]  # fmt: skip
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600)  # noqa: S603
    outcome = Outcome(output=result.stdout + result.stderr)
    if result.returncode != 0 or "=== Validation Results ===" not in result.stdout:
        raise SetupError(f"the validator did not run: {outcome.output.strip()[-500:]}")
    for line in result.stdout.splitlines():
        match = LINE_RE.match(line)
        if match is None:
            continue
        if match["status"] == "PASS":
            outcome.passed.add(match["rule"])
        elif match["status"] == "FAIL":
            outcome.failed[match["rule"]] = match["rest"].strip()
    for leaf, rule in ALTERNATIVES.items():
        if leaf in outcome.failed and rule in outcome.passed:
            outcome.excused.add(leaf)
            del outcome.failed[leaf]
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="*", help="FOCUS 1.2 CSV files to validate ('setup' only installs)")
    parser.add_argument("--currency-codes", type=Path, default=ROOT / "tests/billing/data/iso4217_currency_codes.csv")
    args = parser.parse_args()
    try:
        ensure_venv()
        if args.files == ["setup"]:
            print(f"focus-validator {VERSION} is in {VENV}")
            return 0
        failures = 0
        for name in args.files:
            outcome = validate(Path(name), currency_codes=args.currency_codes)
            print(f"{name}: {len(outcome.passed)} rules passed, {len(outcome.failed)} failed")
            for rule, message in sorted(outcome.failed.items()):
                print(f"  {rule}: {message}")
            failures += len(outcome.failed)
    except SetupError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
