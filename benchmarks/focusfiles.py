"""Benchmark inputs: synthetic FOCUS files from ../shared/focusgen.py, cached in benchmarks/out/."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
DEFAULT_FOCUSGEN = REPO.parent / "shared" / "focusgen.py"
SOURCE, PERIOD = "aws", "2025-01"


class BenchError(Exception):
    """Something could not be measured; the message says what and why."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
