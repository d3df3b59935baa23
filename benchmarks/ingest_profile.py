"""`benchmarks/ingest.py --profile`: one SQLite import under cProfile, the top functions."""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from focusfiles import PERIOD, REPO, SOURCE, BenchError, use_app_env


def profile(path: Path, rows: int, top: int, sort: str, output_format: str) -> int:
    """One SQLite import of `path` in this process under cProfile; the top functions by `sort`."""
    with tempfile.TemporaryDirectory(prefix="ocb-profile-") as tmp:
        use_app_env(Path(tmp))
        try:
            import django
        except ImportError:
            raise BenchError("Django is not importable here; run the profile with .venv/bin/python") from None
        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        out = io.StringIO()
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        call_command("ingest", str(path), source=SOURCE, period=PERIOD, output_format="json", stdout=out)
        profiler.disable()
        seconds = time.perf_counter() - start
        connections.close_all()
    report = json.loads(out.getvalue())
    if report.get("rows") != rows:
        raise BenchError(f"profiled import read {report.get('rows')} rows, expected {rows}")
    stats = pstats.Stats(profiler)
    column = 2 if sort == "tottime" else 3  # stats values: (primitive calls, calls, tottime, cumtime, callers)
    entries = sorted(stats.stats.items(), key=lambda item: -item[1][column])  # type: ignore[attr-defined]
    total_tt = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    top_rows = [
        {
            "function": _where(file, line, func),
            "ncalls": nc,
            "tottime": round(tt, 3),
            "tottime_share": round(tt / total_tt, 3) if total_tt else 0.0,
            "cumtime": round(ct, 3),
        }
        for (file, line, func), (_, nc, tt, ct, _) in entries[:top]
    ]
    if output_format == "json":
        doc = {"rows": rows, "seconds_under_profiler": round(seconds, 3), "sort": sort, "top": top_rows}
        print(json.dumps(doc, indent=2))
        return 0
    print(f"SQLite import of {rows:,} rows under cProfile: {seconds:.2f} s ({rows / seconds:,.0f} rows/s profiled)")
    what = "own time, excluding callees" if sort == "tottime" else "including callees"
    print(f"top {top} functions by {sort} ({what}):\n")
    print(f"{'ncalls':>10}  {'tottime':>8}  {'share':>6}  {'cumtime':>8}  function")
    for e in top_rows:
        share = f"{e['tottime_share']:.1%}"
        print(f"{e['ncalls']:>10}  {e['tottime']:>8.3f}  {share:>6}  {e['cumtime']:>8.3f}  {e['function']}")
    return 0


def _where(file: str, line: int, func: str) -> str:
    if file == "~":
        return func  # a builtin, e.g. <method 'executemany' of 'sqlite3.Cursor' objects>
    for base in (str(REPO) + os.sep, *(p + os.sep for p in sys.path if "-packages" in p)):
        if file.startswith(base):
            file = file[len(base) :]
            break
    return f"{file}:{line}({func})"
