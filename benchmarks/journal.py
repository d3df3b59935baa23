"""Journal export benchmark: a 1,000,000-charge period exported in under 10 s (design §9).

The period is built the quick way, through the real services in this process: a synthetic FOCUS
file from ../shared/focusgen.py is ingested into a fresh database, the period is closed and its
statements are generated. Celery is pointed at the in-memory broker without a worker, so no PDF
is rendered (the statements benchmark measures that); the statements are then marked final, as
the render workers would. What is timed is `journal_export` itself — the checks, the lines from
the statements, the file and its record — for each built-in format, and `period_reconciliation`.
Benchmarks report, they do not gate.

    .venv/bin/python benchmarks/journal.py                          # 1M charges, SQLite
    .venv/bin/python benchmarks/journal.py --rows 100000 --db postgres
    .venv/bin/python benchmarks/journal.py --format json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from focusfiles import DEFAULT_FOCUSGEN, PERIOD, REPO, SOURCE, BenchError, focus_file, log
from ingest import DEFAULT_POSTGRES_URL, Postgres, sqlite_url

BUDGET_SECONDS = 10.0
BUDGET_AT = 1_000_000
FORMATS = ("gl", "summary", "detail")


def timed(what: str, fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    log(f"{what}: {seconds:.2f} s")
    return seconds, result


def build_and_measure(path: Path, repeat: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    from billing.models import Charge, Source
    from billing.services.ingest import batch_ingest
    from billing.services.periods import period_close
    from chargeback.audit import Actor
    from journals.models import JournalExport
    from journals.selectors import period_reconciliation
    from journals.services import journal_export
    from statements.models import Statement, StatementLine
    from statements.services.generate import statements_generate

    actor = Actor.system("benchmark")
    setup: dict[str, float] = {}
    setup["migrate"], _ = timed("migrate", lambda: call_command("migrate", verbosity=0))
    Source.objects.filter(name=SOURCE).update(credit_fund_org="RC-CLOUD-AWS", gl_account="54100")
    rows = Charge.objects.filter(period__period=PERIOD).count()
    if rows:  # a database kept by an earlier --keep run: measure the export only
        log(f"reusing the {rows:,} charges of the kept database")
        generated_count = Statement.objects.filter(period__period=PERIOD).exclude(status="superseded").count()
    else:
        setup["ingest"], report = timed(
            "ingest", lambda: batch_ingest(paths=[path], source_name=SOURCE, period=PERIOD, actor=actor)
        )
        rows = report.rows
        setup["close"], _ = timed("close", lambda: period_close(period=PERIOD, actor=actor))
        setup["generate"], generated = timed("generate", lambda: statements_generate(period=PERIOD, actor=actor))
        generated_count = generated.statements
        # What the render workers do for each statement, without the PDFs.
        Statement.objects.filter(period__period=PERIOD, status=Statement.Status.DRAFT).update(
            status=Statement.Status.FINAL
        )
    results: dict[str, Any] = {
        "charges": Charge.objects.filter(period__period=PERIOD).count(),
        "rows": rows,
        "statements": generated_count,
        "statement_lines": StatementLine.objects.filter(statement__period__period=PERIOD).count(),
        "setup_seconds": {k: round(v, 2) for k, v in setup.items()},
        "exports": {},
    }
    for name in FORMATS:
        best: tuple[float, Any] | None = None
        for _ in range(repeat):
            seconds, exported = timed(
                f"export {name}", lambda n=name: journal_export(period=PERIOD, format_name=n, actor=actor)
            )
            if best is None or seconds < best[0]:
                best = (seconds, exported)
        assert best is not None
        seconds, exported = best
        assert exported.debit_total == exported.credit_total == exported.statements_due
        results["exports"][name] = {
            "seconds": round(seconds, 3), "lines": exported.lines, "debit_total": format(exported.debit_total, "f"),
            "credit_total": format(exported.credit_total, "f"), "statements_due": format(exported.statements_due, "f"),
        }  # fmt: skip
    seconds, rec = timed("reconciliation", lambda: period_reconciliation(rec_period()))
    results["reconciliation"] = {
        "seconds": round(seconds, 3), "approved_billed": format(rec.approved_billed, "f"),
        "statements_due": format(rec.statements_due, "f"), "balanced": rec.balanced,
    }  # fmt: skip
    results["exports_recorded"] = JournalExport.objects.count()
    return results


def rec_period() -> Any:
    from billing.models import BillingPeriod

    return BillingPeriod.objects.get(period=PERIOD)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=BUDGET_AT, help="Charges in the period (default 1,000,000)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="Server for the scratch database")
    parser.add_argument("--focusgen", type=Path, default=DEFAULT_FOCUSGEN, help="Path of focusgen.py")
    parser.add_argument("--repeat", type=int, default=1, help="Export each format K times; keep the fastest")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR",
        help="SQLite: build the period in DIR and keep it; a later run with the same DIR measures the export only",
    )  # fmt: skip
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")
    args = parser.parse_args(argv)
    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="ocb-journal-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = Postgres(args.postgres_url, "ocb_bench_journal") if args.db == "postgres" else None
    try:
        path = focus_file(args.rows, args.focusgen)
        if postgres is not None:
            why = postgres.unreachable()
            if why:
                raise BenchError(f"PostgreSQL: {why}")
            postgres.recreate()
        os.environ.update(
            DEBUG="1", OPENCHARGEBACK_DATA_DIR=str(data_dir), OPENCHARGEBACK_ENV_FILE=os.devnull,
            DJANGO_SETTINGS_MODULE="chargeback.settings",
            DATABASE_URL=postgres.bench_url if postgres else sqlite_url(data_dir),
            # A broker and no worker: generating queues the PDF renders and nothing runs them.
            CELERY_BROKER_URL="memory://",
        )  # fmt: skip
        sys.path.insert(0, str(REPO))
        results = {"database": args.db, **build_and_measure(path, args.repeat)}
    except BenchError as exc:
        print(f"journal benchmark: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        if postgres is not None:
            from django.db import connections

            connections.close_all()  # a no-op when Django was never set up
            postgres.drop()
    gl = results["exports"]["gl"]["seconds"]
    results["budget"] = {"seconds": BUDGET_SECONDS, "at_charges": BUDGET_AT, "met": gl < BUDGET_SECONDS}
    if args.output_format == "json":
        print(json.dumps(results, indent=2))
        return 0
    print(f"Journal export, {results['charges']:,} charges, {results['statements']:,} statements "
          f"({results['statement_lines']:,} lines), {args.db}")  # fmt: skip
    print("setup: " + ", ".join(f"{k} {v:.1f} s" for k, v in results["setup_seconds"].items()))
    for name, r in results["exports"].items():
        print(f"export {name:<8} {r['seconds']:>7.2f} s  {r['lines']:>6} lines  debits = credits = {r['debit_total']}")
    rec = results["reconciliation"]
    print(f"reconciliation   {rec['seconds']:>7.2f} s  balanced: {rec['balanced']}")
    met = "met" if gl < BUDGET_SECONDS else "NOT met"
    print(f"budget: export under {BUDGET_SECONDS:.0f} s at {BUDGET_AT:,} charges: {met} ({gl:.2f} s, gl)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
