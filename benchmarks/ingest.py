"""Ingest benchmark: the real `manage.py ingest` measured against the budgets of design §9.

For every size and database the import runs in a fresh child process on a fresh database, the
way an operator runs it; wall time and the child's own peak RSS (`os.wait4`) are recorded. Next
to it a bare parse loop (csv + json + Decimal, nothing else) over the same file gives the floor
the engine is compared with. Benchmarks report, they do not gate on a budget: the exit status is
non-zero only when a case could not be measured (a failed step, an unreachable PostgreSQL), and
that case's line says why.

    .venv/bin/python benchmarks/ingest.py                      # 100k and 1M rows, SQLite + PostgreSQL
    .venv/bin/python benchmarks/ingest.py --rows 100000 --db sqlite --format json
    .venv/bin/python benchmarks/ingest.py --profile            # cProfile of one SQLite import (100k)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from focusfiles import DEFAULT_FOCUSGEN, PERIOD, REPO, SOURCE, BenchError, app_env, focus_file, log, sqlite_url

DEFAULT_SIZES = (100_000, 1_000_000)
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"

# Design §9 (on a 2-core machine).
BUDGET_ROWS_PER_S = 50_000  # SQLite, 100k-row file
BUDGET_ROWS_PER_S_AT = 100_000
BUDGET_RATIO = 3.0  # ingest time / bare parse loop time
BUDGET_RSS_MB = 300.0  # peak RSS of the import of a 1M-row file
BUDGET_RSS_AT = 1_000_000


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Result:
    database: str
    rows: int
    seconds: float
    rows_per_s: float
    peak_rss_mb: float
    bare_seconds: float
    ratio: float
    startup_seconds: float
    engine_seconds: float = 0.0  # the import itself, as timed by the service (no start-up)
    worker_rss_mb: float = 0.0  # the parsing worker process's peak RSS (0: parsed in-process)
    store_seconds: float = 0.0  # SQLite: storing the same rows again, parsed already (the floor)
    budgets: dict[str, bool | None] = field(default_factory=dict)


# -- measuring -------------------------------------------------------------------------------------
def run_measured(cmd: Sequence[str], *, env: dict[str, str] | None = None) -> Measured:
    """Run `cmd` to completion; wall time and the peak RSS of that one child (not of all children)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=REPO, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting
        out.seek(0)
        err.seek(0)
        # ru_maxrss is in KiB on Linux, in bytes on macOS.
        rss_bytes = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
        return Measured(
            seconds=seconds,
            peak_rss_mb=rss_bytes / (1024 * 1024),
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def check(step: str, m: Measured) -> Measured:
    if m.returncode != 0:
        tail = "\n".join((m.stderr or m.stdout).strip().splitlines()[-15:])
        raise BenchError(f"{step} failed with exit status {m.returncode}:\n{tail}")
    return m


# -- the bare parse loop (runs in a child: `ingest.py --bare-loop FILE`) -------------------------------
def bare_loop(path: Path) -> int:
    """csv.reader over the text, json.loads of Tags, Decimal of the four costs. Nothing else."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        index = {name.lower(): i for i, name in enumerate(next(reader))}
        tags = index["tags"]
        lc, cc, bc, ec = (index[c] for c in ("listcost", "contractedcost", "billedcost", "effectivecost"))
        loads = json.loads
        rows = 0
        for cells in reader:
            loads(cells[tags])
            Decimal(cells[lc])
            Decimal(cells[cc])
            Decimal(cells[bc])
            Decimal(cells[ec])
            rows += 1
    return rows


def measure_bare(path: Path, rows: int, python: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        m = check("bare parse loop", run_measured([python, str(Path(__file__).resolve()), "--bare-loop", str(path)]))
        counted = json.loads(m.stdout)["rows"]
        if counted != rows:
            raise BenchError(f"bare parse loop read {counted} rows from {path.name}, expected {rows}")
        best = min(best, m.seconds)
    return best


# -- the database's own share (runs in a child: `ingest.py --store-floor DB`) ---------------------------
def store_floor(database: Path) -> float:
    """SQLite storing an imported batch's rows once more, with nothing to parse: one INSERT … SELECT
    from the table into itself and its commit, on the connection settings the application uses.
    The part of an import no engine can avoid."""
    import sqlite3

    db = sqlite3.connect(str(database), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        db.execute(f"PRAGMA {pragma}")
    columns = ", ".join(r[1] for r in db.execute("PRAGMA table_info(billing_charge)") if r[1] != "id")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    start = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.execute(f"INSERT INTO billing_charge ({columns}) SELECT {columns} FROM billing_charge")  # noqa: S608
    db.execute("COMMIT")
    seconds = time.perf_counter() - start
    db.close()
    return seconds


# -- databases ---------------------------------------------------------------------------------------------
def child_env(database_url: str, data_dir: Path) -> dict[str, str]:
    return app_env(data_dir, database_url=database_url)


class Postgres:
    """Creates and drops the scratch database `name` on the server at `url`."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        parts = urlsplit(url)
        self.bench_url = urlunsplit(parts._replace(path=f"/{name}"))

    def unreachable(self) -> str | None:
        """None when usable, else why not."""
        try:
            import psycopg
        except ImportError:
            return "psycopg is not installed in this interpreter (run with .venv/bin/python)"
        try:
            psycopg.connect(self._libpq(self.url), connect_timeout=3).close()
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"server unreachable at {self.url} ({first})"
        return None

    def recreate(self) -> None:
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", "CREATE DATABASE {}")

    def drop(self) -> None:
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")

    def _admin(self, *statements: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self._libpq(self.url), autocommit=True, connect_timeout=5) as conn:
            for statement in statements:
                conn.execute(sql.SQL(statement).format(sql.Identifier(self.name)))

    @staticmethod
    def _libpq(url: str) -> str:
        return url.replace("postgres://", "postgresql://", 1)


def measure_import(
    *, database: str, path: Path, rows: int, python: str, pg: Postgres | None
) -> tuple[Measured, dict[str, Any]]:
    """Migrate a fresh database, then time `manage.py ingest` in its own process."""
    with tempfile.TemporaryDirectory(prefix="ocb-bench-") as tmp:
        data_dir = Path(tmp)
        if database == "postgresql":
            assert pg is not None
            pg.recreate()
            url = pg.bench_url
        else:
            url = sqlite_url(data_dir)
        env = child_env(url, data_dir)
        try:
            check("manage.py migrate", run_measured([python, "manage.py", "migrate", "-v0"], env=env))
            m = check(
                "manage.py ingest",
                run_measured(
                    [python, "manage.py", "ingest", str(path), "-s", SOURCE, "-p", PERIOD, "--format", "json"],
                    env=env,
                ),
            )
            store = 0.0
            if database == "sqlite":
                database_file = str(data_dir / "openchargeback.sqlite3")
                floor = [python, str(Path(__file__).resolve()), "--store-floor", database_file]
                store = json.loads(check("store floor", run_measured(floor)).stdout)["seconds"]
        finally:
            if pg is not None:
                pg.drop()
    try:
        report = json.loads(m.stdout)
    except json.JSONDecodeError:
        raise BenchError(f"manage.py ingest printed no JSON report:\n{m.stdout[-2000:]}") from None
    if report.get("status") != "applied" or report.get("rows") != rows:
        raise BenchError(f"import did not apply {rows} rows: status={report.get('status')} rows={report.get('rows')}")
    report["store_seconds"] = store
    return m, report


def measure_startup(*, database: str, python: str, pg: Postgres | None) -> float:
    """Interpreter + Django start-up for the ingest command (included in every import's seconds)."""
    with tempfile.TemporaryDirectory(prefix="ocb-bench-") as tmp:
        url = pg.bench_url if database == "postgresql" and pg is not None else sqlite_url(Path(tmp))
        env = child_env(url, Path(tmp))
        best = float("inf")
        for _ in range(3):
            m = check("manage.py ingest --help", run_measured([python, "manage.py", "ingest", "--help"], env=env))
            best = min(best, m.seconds)
        return best


# -- budgets and output -----------------------------------------------------------------------------------
BUDGET_LABELS = {
    "sqlite_rows_per_s": f">={BUDGET_ROWS_PER_S // 1000}k/s",
    "ratio": f"<={BUDGET_RATIO:g}x",
    "peak_rss": f"<{BUDGET_RSS_MB:.0f}MB",
    "pg_vs_sqlite": "PG>=SQLite",
}
BUDGET_TEXT = {
    "sqlite_rows_per_s": f"SQLite imports >= {BUDGET_ROWS_PER_S:,} rows/s for the {BUDGET_ROWS_PER_S_AT:,}-row file",
    "ratio": f"import time <= {BUDGET_RATIO:g}x the bare csv+json+Decimal loop over the same file",
    "peak_rss": f"peak RSS (importer + parsing worker) < {BUDGET_RSS_MB:.0f} MB for the {BUDGET_RSS_AT:,}-row file",
    "pg_vs_sqlite": "PostgreSQL rows/s >= SQLite rows/s for the same file",
}


def judge(results: list[Result]) -> None:
    sqlite_speed = {r.rows: r.rows_per_s for r in results if r.database == "sqlite"}
    for r in results:
        r.budgets = {
            "sqlite_rows_per_s": (
                r.rows_per_s >= BUDGET_ROWS_PER_S if r.database == "sqlite" and r.rows == BUDGET_ROWS_PER_S_AT else None
            ),
            "ratio": r.ratio <= BUDGET_RATIO,
            "peak_rss": r.peak_rss_mb + r.worker_rss_mb < BUDGET_RSS_MB if r.rows >= BUDGET_RSS_AT else None,
            "pg_vs_sqlite": (
                r.rows_per_s >= sqlite_speed[r.rows] if r.database == "postgresql" and r.rows in sqlite_speed else None
            ),
        }


def table(results: list[Result]) -> str:
    head = ["database", "rows", "seconds", "rows/s", "engine s", "engine rows/s", "peak MB", "worker MB", "bare s",
            "ratio", "startup s", "store s"]  # fmt: skip
    head += list(BUDGET_LABELS.values())
    body = []
    for r in results:
        cells = [
            r.database, f"{r.rows:,}", f"{r.seconds:.2f}", f"{r.rows_per_s:,.0f}", f"{r.engine_seconds:.2f}",
            f"{r.rows / r.engine_seconds:,.0f}" if r.engine_seconds else "-", f"{r.peak_rss_mb:.0f}",
            f"{r.worker_rss_mb:.0f}", f"{r.bare_seconds:.2f}", f"{r.ratio:.2f}", f"{r.startup_seconds:.2f}",
            f"{r.store_seconds:.2f}" if r.store_seconds else "-",
        ]  # fmt: skip
        cells += ["-" if ok is None else ("PASS" if ok else "FAIL") for ok in r.budgets.values()]
        body.append(cells)
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [head, *body]]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def environment(python: str, focusgen: Path) -> dict[str, Any]:
    return {"python": python, "cpus": os.cpu_count(), "platform": sys.platform, "focusgen": str(focusgen)}


# -- main -------------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    venv_python = REPO / ".venv" / "bin" / "python"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--rows",
        type=int,
        action="append",
        metavar="N",
        help=f"file size in rows; repeat for several (default: {' and '.join(map(str, DEFAULT_SIZES))})",
    )
    p.add_argument(
        "--db",
        action="append",
        choices=["sqlite", "postgresql"],
        help="database to measure; repeat for both (default: sqlite and postgresql)",
    )
    p.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help=f"an existing database on the server to connect to (default: {DEFAULT_POSTGRES_URL})",
    )
    p.add_argument(
        "--bench-db-name",
        default="ocb_bench",
        help="scratch database created and dropped on that server (default: ocb_bench)",
    )
    p.add_argument(
        "--focusgen",
        type=Path,
        default=DEFAULT_FOCUSGEN,
        metavar="PATH",
        help="the FOCUS generator (default: ../shared/focusgen.py next to the repository)",
    )
    p.add_argument(
        "--python",
        default=str(venv_python) if venv_python.exists() else sys.executable,
        help="interpreter for the child processes (default: the repository's .venv)",
    )
    p.add_argument(
        "--repeat", type=int, default=1, metavar="K", help="measure each case K times and keep the fastest (default: 1)"
    )
    p.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        dest="output_format",
        help="a table for people (text) or JSON for tools (default: text)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="profile one in-process SQLite import of the smallest size instead (cProfile, by tottime)",
    )
    p.add_argument("--top", type=int, default=25, help="functions to list with --profile (default: 25)")
    p.add_argument(
        "--sort",
        choices=["tottime", "cumtime"],
        default="tottime",
        help="order of the --profile listing (default: tottime)",
    )
    p.add_argument("--bare-loop", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    p.add_argument("--store-floor", type=Path, metavar="DB", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.rows = sorted(set(args.rows or DEFAULT_SIZES))
    args.db = [d for d in ("sqlite", "postgresql") if d in (args.db or ("sqlite", "postgresql"))]
    if min(args.rows) < 1 or args.repeat < 1:
        p.error("--rows and --repeat must be at least 1")
    return args


def benchmark(args: argparse.Namespace) -> int:
    pg: Postgres | None = None
    not_measured: list[dict[str, Any]] = []
    databases = list(args.db)
    if "postgresql" in databases:
        pg = Postgres(args.postgres_url, args.bench_db_name)
        reason = pg.unreachable()
        if reason is not None:
            not_measured += [{"database": "postgresql", "rows": rows, "reason": reason} for rows in args.rows]
            log(f"postgresql: NOT MEASURED, {reason}")
            databases.remove("postgresql")
            pg = None

    results: list[Result] = []
    startup = {db: measure_startup(database=db, python=args.python, pg=pg) for db in databases} if databases else {}
    for rows in args.rows:
        path = focus_file(rows, args.focusgen.resolve())
        bare = measure_bare(path, rows, args.python, args.repeat)
        log(f"{rows:,} rows: bare parse loop {bare:.2f} s")
        for db in databases:
            try:
                runs = [
                    measure_import(database=db, path=path, rows=rows, python=args.python, pg=pg)
                    for _ in range(args.repeat)
                ]
            except BenchError as exc:
                not_measured.append({"database": db, "rows": rows, "reason": str(exc)})
                log(f"{db}, {rows:,} rows: NOT MEASURED, {exc}")
                continue
            seconds = min(m.seconds for m, _ in runs)
            rss = max(m.peak_rss_mb for m, _ in runs)
            engine = min(float(report.get("seconds") or 0) for _, report in runs)
            worker_rss = max(float(report.get("worker_peak_rss_mb") or 0) for _, report in runs)
            store = min(float(report.get("store_seconds") or 0) for _, report in runs)
            results.append(
                Result(
                    database=db,
                    rows=rows,
                    seconds=seconds,
                    rows_per_s=rows / seconds,
                    peak_rss_mb=rss,
                    bare_seconds=bare,
                    ratio=seconds / bare,
                    startup_seconds=startup[db],
                    engine_seconds=engine,
                    worker_rss_mb=worker_rss,
                    store_seconds=store,
                )  # fmt: skip
            )
            log(f"{rows:,} rows: {db} import {seconds:.2f} s (engine {engine:.2f} s), peak RSS {rss:.0f} MB")
    judge(results)

    if args.output_format == "json":
        doc = {
            "environment": environment(args.python, args.focusgen),
            "budgets": BUDGET_TEXT,
            "results": [asdict(r) for r in results],
            "not_measured": not_measured,
        }
        print(json.dumps(doc, indent=2))
    else:
        print(table(results) if results else "nothing measured")
        print()
        print("seconds: wall time of `manage.py ingest` in a fresh process (includes startup s, the")
        print("interpreter + Django start-up); engine s: the import as timed by the service itself;")
        print("peak MB: the importing process's max RSS; worker MB: the parsing worker's (it runs alongside);")
        print("ratio: seconds / bare s; store s (SQLite): the database alone storing the same rows again,")
        print("already parsed (one INSERT ... SELECT and its commit). startup s + store s is what any import")
        print(f"costs before it parses a line; next to {BUDGET_RATIO:g} x bare s it shows what that budget leaves")
        print("for parsing.")
        for key, text in BUDGET_TEXT.items():
            print(f"  {BUDGET_LABELS[key]:<11} {text}")
        for case in not_measured:
            print(f"NOT MEASURED  {case['database']}, {case['rows']:,} rows: {case['reason']}")
    return 1 if not_measured else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.store_floor is not None:
            print(json.dumps({"seconds": store_floor(args.store_floor)}))
            return 0
        if args.bare_loop is not None:
            start = time.perf_counter()
            rows = bare_loop(args.bare_loop)
            print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start}))
            return 0
        if args.profile:
            rows = args.rows[0]
            path = focus_file(rows, args.focusgen.resolve())
            from ingest_profile import profile

            return profile(path, rows, args.top, args.sort, args.output_format)
        return benchmark(args)
    except BenchError as exc:
        print(f"benchmarks/ingest.py: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
