"""Statement PDFs per second per worker, and a 1,000-statement period with two workers.

Budgets (design §9, a 2-core machine): at least 5 PDF statements per second per worker; a
period of 1,000 statements rendered in under two minutes by two workers.

A fresh SQLite database gets a focusgen export with about 20 charges per project (each charge
its own resource, so a statement has ~20 detail lines and two pages, like a busy project), its
flagged rows approved and the period closed. `generate` then freezes the statements without
rendering (no worker listens on its in-process broker). Two measurements follow:

1. one worker: `statement_render` of the first N statements, one after the other;
2. two workers: two processes rendering the whole period's remaining drafts, claiming work the
   way Celery workers do (the render service's conditional update), timed end to end.

A budget missed is reported, not a failure; a case that could not be measured (a statement not
rendered, a failed setup step) says so on its line and the exit status is 1. The data directory
is a fresh temporary one, removed at the end; no .env is read.

    .venv/bin/python benchmarks/statement_pdfs.py [--statements 1000] [--sample 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from focusfiles import DEFAULT_FOCUSGEN, BenchError, month_ready, use_app_env  # noqa: E402

PER_WORKER_BUDGET = 5.0  # PDFs per second per worker
PERIOD_BUDGET_S = 120.0


def setup_django(data_dir: Path) -> None:
    # Production settings (no DEBUG); a broker no worker listens on, so generating renders nothing.
    use_app_env(data_dir, DEBUG="false", SECRET_KEY="bench-" + "x" * 40, CELERY_BROKER_URL="memory://")
    import django

    django.setup()


def render_all(data_dir: str) -> tuple[int, str]:
    """A worker: render drafts until none is left (claims make two workers share the period).

    The PDFs it rendered, and why it stopped early ("" when it did not)."""
    setup_django(Path(data_dir))
    from django.db import connection

    from statements.models import Statement
    from statements.services.render import RenderError, statement_render

    done = 0
    ids = list(Statement.objects.filter(status="draft").order_by("?").values_list("pk", flat=True))
    try:
        for pk in ids:
            done += statement_render(statement_id=pk)
    except RenderError as exc:
        return done, str(exc)
    finally:
        connection.close()
    return done, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--statements", type=int, default=1000, help="projects (statements) in the period")
    parser.add_argument("--sample", type=int, default=40, help="statements rendered by the single worker")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--focusgen", type=Path, default=DEFAULT_FOCUSGEN, help="Path of focusgen.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ocb-statements-") as tmp:
        try:
            not_measured = benchmark(args, Path(tmp))
        except BenchError as exc:
            print(f"statements benchmark: NOT MEASURED, {exc}", file=sys.stderr)
            return 1
        finally:
            from django.conf import settings

            if settings.configured:
                from django.db import connections

                connections.close_all()
    return 1 if not_measured else 0


def build_period(args: argparse.Namespace, data_dir: Path) -> None:
    """A closed period of about `args.statements` project statements of ~20 lines, frozen, not rendered."""
    from django.core.management import call_command

    from billing.services.ingest import batch_ingest
    from billing.services.periods import period_close
    from chargeback.audit import Actor
    from chargeback.errors import BillingError
    from statements.services.generate import statements_generate

    call_command("migrate", verbosity=0)
    if not args.focusgen.is_file():
        raise BenchError(f"FOCUS generator not found at {args.focusgen}; give its path with --focusgen PATH")
    rows = args.statements * 20
    pis = max(1, args.statements // 2)  # focusgen gives a PI about two projects
    csv_path = data_dir / "focus.csv"
    with csv_path.open("wb") as fh:
        proc = subprocess.run(
            [sys.executable, str(args.focusgen), str(rows), "--pis", str(pis), "--period", "2025-01",
             "--untagged", "0"],
            stdout=fh, stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"{args.focusgen} failed: {proc.stderr.decode(errors='replace').strip()}")
    actor = Actor.system("bench")
    try:
        report = batch_ingest(paths=[csv_path], source_name="aws", month="2025-01", actor=actor)
        month_ready("2025-01", actor)
        period_close(month="2025-01", actor=actor)
        t = time.perf_counter()
        gen = statements_generate(month="2025-01", actor=actor)
    except BillingError as exc:
        raise BenchError(f"the period could not be built: {exc}") from None
    freeze_s = time.perf_counter() - t
    print(f"{report.rows:,} charges -> {gen.statements:,} statements for {gen.pis:,} PIs; frozen in {freeze_s:.2f} s")


def benchmark(args: argparse.Namespace, data_dir: Path) -> list[str]:
    """Build the period, then time one worker and then `args.workers`; the cases not measured."""
    setup_django(data_dir)
    from django.db import connection

    from statements.models import Statement
    from statements.services.render import RenderError, statement_render

    build_period(args, data_dir)
    total = Statement.objects.exclude(status="superseded").count()
    not_measured = []
    sample = list(Statement.objects.order_by("pk").values_list("pk", flat=True)[: args.sample])
    t = time.perf_counter()
    try:
        rendered = sum(statement_render(statement_id=pk) for pk in sample)
        error = "" if rendered == len(sample) and sample else f"{rendered} of {len(sample)} statements rendered"
    except RenderError as exc:
        error = str(exc)
    one = len(sample) / (time.perf_counter() - t)
    if error:
        print(f"one worker: NOT MEASURED, {error}")
        not_measured.append("one worker")
    else:
        pages = sorted(Statement.objects.filter(pk__in=sample).values_list("pdf_pages", flat=True))
        verdict = "PASS" if one >= PER_WORKER_BUDGET else "FAIL"
        print(
            f"one worker: {one:.2f} PDFs/s (pages per statement {pages[0]}-{pages[-1]})  "
            f"budget >= {PER_WORKER_BUDGET}  {verdict}"
        )

    connection.close()
    left = Statement.objects.filter(status="draft").count()
    t = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        done = pool.map(render_all, [str(data_dir)] * args.workers)
    period_s = time.perf_counter() - t
    rendered = sum(n for n, _ in done)
    errors = sorted({e for _, e in done if e})
    still = Statement.objects.filter(status="draft").count()
    if errors or still or not left:
        why = "; ".join(errors) or (f"{still:,} statements left unrendered" if still else "no statement left to render")
        print(f"{args.workers} workers: NOT MEASURED, {why}")
        return [*not_measured, f"{args.workers} workers"]
    projected = period_s * total / left
    verdict = "PASS" if projected < PERIOD_BUDGET_S else "FAIL"
    print(
        f"{args.workers} workers: {rendered:,} PDFs in {period_s:.1f} s ({rendered / period_s:.2f}/s); "
        f"the whole period of {total:,} would take {projected:.0f} s  budget < {PERIOD_BUDGET_S:.0f} s  {verdict}"
    )
    return not_measured


if __name__ == "__main__":
    sys.exit(main())
