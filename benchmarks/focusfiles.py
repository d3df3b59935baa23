"""What every benchmark needs: synthetic FOCUS files from ../shared/focusgen.py (cached in
benchmarks/out/) and the environment of a fresh installation of its own."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
DEFAULT_FOCUSGEN = Path(os.environ.get("OPENCHARGEBACK_FOCUSGEN", REPO.parent / "shared" / "focusgen.py"))
SOURCE, PERIOD = "aws", "2025-01"


class BenchError(Exception):
    """Something could not be measured; the message says what and why."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the environment -------------------------------------------------------------------------------
def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'openchargeback.sqlite3'}"


def app_env(data_dir: Path, *, database_url: str | None = None, **settings: str) -> dict[str, str]:
    """The environment of a fresh installation in `data_dir` (SQLite there unless `database_url`).

    Every setting documented in .env.example is dropped from the inherited environment, and no
    .env file is read, so a developer's shell or .env never changes what is measured; `settings`
    (e.g. DEBUG="false") are the benchmark's own choices.
    """
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.MULTILINE))
    env = {name: value for name, value in os.environ.items() if name not in documented}
    env.update(
        DEBUG="true", OPENCHARGEBACK_DATA_DIR=str(data_dir), OPENCHARGEBACK_ENV_FILE=os.devnull,
        DATABASE_URL=database_url or sqlite_url(data_dir), DJANGO_SETTINGS_MODULE="chargeback.settings",
    )  # fmt: skip
    env.update(settings)
    return env


def use_app_env(data_dir: Path, *, database_url: str | None = None, **settings: str) -> None:
    """Make this process a fresh installation in `data_dir` (call before django.setup())."""
    env = app_env(data_dir, database_url=database_url, **settings)
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(REPO))


# -- input files ---------------------------------------------------------------------------------------
def focus_file(rows: int, focusgen: Path) -> Path:
    """A FOCUS file of `rows` lines, cached under benchmarks/out/ (keyed by the generator's content)."""
    if not focusgen.is_file():
        raise BenchError(
            f"FOCUS generator not found at {focusgen}; it lives in the shared folder next to the "
            "repository (../shared/focusgen.py), or give its path with --focusgen PATH"
        )
    digest = hashlib.sha256(focusgen.read_bytes()).hexdigest()[:10]
    target = OUT / f"focus-{SOURCE}-{PERIOD}-{rows}rows-{digest}.csv"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / ".gitignore").write_text("# generated benchmark inputs, hundreds of MB\n*\n")
    if target.is_file():
        return target
    partial = target.with_suffix(".partial")
    log(f"generating {rows:,} FOCUS rows -> {target.relative_to(REPO)}")
    with partial.open("wb") as fh:
        proc = subprocess.run(
            [sys.executable, str(focusgen), str(rows), "--period", PERIOD, "--source", SOURCE],
            stdout=fh, stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BenchError(f"{focusgen} failed: {proc.stderr.decode(errors='replace').strip()}")
    partial.replace(target)
    return target


def month_ready(month: str, actor: Any) -> None:
    """What a finance office does before it closes a month, so `periods check` finds no blocker:
    each source has its journal credit side, and the flagged charges are decided (approved here)."""
    from billing.models import Source
    from billing.services.review import charges_approve

    Source.objects.filter(credit_fund_org="").update(credit_fund_org="RC-OPS")
    Source.objects.filter(gl_account="").update(gl_account="54000")
    charges_approve(month=month, actor=actor, note="benchmark: decided before the close")
