"""Journal export benchmark: a 1,000,000-charge period exported in under 10 s (design §9).

The period is built the quick way, through the real services in this process: a synthetic FOCUS
file from ../shared/focusgen.py is ingested into a fresh database, the period is closed and its
statements are generated. Celery is pointed at the in-memory broker without a worker, so no PDF
is rendered (the statements benchmark measures that); the statements are then marked final, as
the render workers would. What is timed is `journal_export` itself — the checks, the lines from
the statements, the file and its record — for each built-in format, and `period_reconciliation`.
Benchmarks report, they do not gate on a budget: the exit status is non-zero only when a case could
not be measured (an export refused or unbalanced, an unreachable PostgreSQL), and that line says why.

    .venv/bin/python benchmarks/journal.py                          # 1M charges, SQLite
    .venv/bin/python benchmarks/journal.py --rows 100000 --db postgres
    .venv/bin/python benchmarks/journal.py --format json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from focusfiles import DEFAULT_FOCUSGEN, PERIOD, SOURCE, BenchError, focus_file, log, month_ready, use_app_env
from ingest import DEFAULT_POSTGRES_URL, Postgres

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
    from chargeback.errors import BillingError
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
        try:
            setup["ingest"], report = timed(
                "ingest", lambda: batch_ingest(paths=[path], source_name=SOURCE, month=PERIOD, actor=actor)
            )
            month_ready(PERIOD, actor)
            setup["close"], _ = timed("close", lambda: period_close(month=PERIOD, actor=actor))
            setup["generate"], generated = timed("generate", lambda: statements_generate(month=PERIOD, actor=actor))
        except BillingError as exc:
            raise BenchError(f"the period could not be built: {exc}") from None
        rows = report.rows
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
        "not_measured": {},
    }
    for name in FORMATS:
        best: tuple[float, Any] | None = None
        try:
            for _ in range(repeat):
                seconds, exported = timed(
                    f"export {name}", lambda n=name: journal_export(month=PERIOD, format_name=n, actor=actor)
                )
                if best is None or seconds < best[0]:
                    best = (seconds, exported)
        except BillingError as exc:
            results["not_measured"][f"export {name}"] = f"refused: {exc}"
            continue
        assert best is not None
        seconds, exported = best
        if not exported.debit_total == exported.credit_total == exported.statements_due:
            results["not_measured"][f"export {name}"] = (
                f"unbalanced: debits {exported.debit_total}, credits {exported.credit_total}, "
                f"statements due {exported.statements_due}"
            )
            continue
        results["exports"][name] = {
            "seconds": round(seconds, 3), "lines": exported.lines, "debit_total": format(exported.debit_total, "f"),
            "credit_total": format(exported.credit_total, "f"), "statements_due": format(exported.statements_due, "f"),
        }  # fmt: skip
    seconds, rec = timed("reconciliation", lambda: period_reconciliation(rec_period()))
    if not rec.balanced:
        results["not_measured"]["reconciliation"] = (
            f"unbalanced: approved billed {rec.approved_billed}, statements due {rec.statements_due}"
        )
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
    parser.add_argument(
        "--bench-db-name", default="ocb_bench_journal",
        help="Scratch database created and dropped on that server (default: ocb_bench_journal)",
    )  # fmt: skip
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
    postgres = Postgres(args.postgres_url, args.bench_db_name) if args.db == "postgres" else None
    created = False
    try:
        path = focus_file(args.rows, args.focusgen)
        if postgres is not None:
            why = postgres.unreachable()
            if why:
                raise BenchError(f"PostgreSQL: {why}")
            postgres.recreate()
            created = True
        # A broker and no worker: generating queues the PDF renders and nothing runs them.
        use_app_env(data_dir, database_url=postgres.bench_url if postgres else None, CELERY_BROKER_URL="memory://")
        results = {"database": args.db, **build_and_measure(path, args.repeat)}
    except BenchError as exc:
        print(f"journal benchmark: NOT MEASURED, {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        if postgres is not None and created:
            from django.db import connections

            connections.close_all()
            postgres.drop()
    gl = results["exports"].get("gl", {}).get("seconds")
    met = None if gl is None else gl < BUDGET_SECONDS
    results["budget"] = {"seconds": BUDGET_SECONDS, "at_charges": BUDGET_AT, "met": met}
    failed = 1 if results["not_measured"] else 0
    if args.output_format == "json":
        print(json.dumps(results, indent=2))
        return failed
    print(f"Journal export, {results['charges']:,} charges, {results['statements']:,} statements "
          f"({results['statement_lines']:,} lines), {args.db}")  # fmt: skip
    print("setup: " + ", ".join(f"{k} {v:.1f} s" for k, v in results["setup_seconds"].items()))
    for name in FORMATS:
        if name in results["exports"]:
            r = results["exports"][name]
            print(f"export {name:<8} {r['seconds']:>7.2f} s  {r['lines']:>6} lines  "
                  f"debits = credits = {r['debit_total']}")  # fmt: skip
        else:
            print(f"export {name:<8} NOT MEASURED: {results['not_measured'][f'export {name}']}")
    rec = results["reconciliation"]
    if "reconciliation" in results["not_measured"]:
        print(f"reconciliation   NOT MEASURED: {results['not_measured']['reconciliation']}")
    else:
        print(f"reconciliation   {rec['seconds']:>7.2f} s  balanced: {rec['balanced']}")
    verdict = "not measured" if met is None else f"{'met' if met else 'NOT met'} ({gl:.2f} s, gl)"
    print(f"budget: export under {BUDGET_SECONDS:.0f} s at {BUDGET_AT:,} charges: {verdict}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
