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

    .venv/bin/python benchmarks/statement_pdfs.py [--statements 1000] [--sample 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER_WORKER_BUDGET = 5.0  # PDFs per second per worker
PERIOD_BUDGET_S = 120.0


def setup_django(data_dir: Path) -> None:
    os.environ.update({
        "DEBUG": "false", "SECRET_KEY": "bench-" + "x" * 40, "OPENCHARGEBACK_DATA_DIR": str(data_dir),
        "CELERY_BROKER_URL": "memory://", "DJANGO_SETTINGS_MODULE": "chargeback.settings",
    })  # fmt: skip
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def render_all(data_dir: str) -> int:
    """A worker: render drafts until none is left (claims make two workers share the period)."""
    setup_django(Path(data_dir))
    from django.db import connection

    from statements.models import Statement
    from statements.services.render import statement_render

    done = 0
    ids = list(Statement.objects.filter(status="draft").order_by("?").values_list("pk", flat=True))
    for pk in ids:
        done += statement_render(statement_id=pk)
    connection.close()
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--statements", type=int, default=1000, help="projects (statements) in the period")
    parser.add_argument("--sample", type=int, default=40, help="statements rendered by the single worker")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="ocb-statements-"))
    setup_django(data_dir)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import subprocess

    from django.core.management import call_command

    from billing.services.ingest import batch_ingest
    from billing.services.periods import period_close
    from billing.services.review import charges_approve
    from chargeback.audit import Actor
    from statements.models import Statement
    from statements.services.generate import statements_generate
    from statements.services.render import statement_render

    call_command("migrate", verbosity=0)
    rows = args.statements * 20
    pis = max(1, args.statements // 3)
    csv_path = data_dir / "focus.csv"
    with csv_path.open("wb") as fh:
        subprocess.run(
            [sys.executable, str(ROOT.parent / "shared" / "focusgen.py"), str(rows), "--pis", str(pis),
             "--period", "2025-01", "--untagged", "0"],
            stdout=fh, check=True,
        )  # fmt: skip
    actor = Actor.system("bench")
    report = batch_ingest(paths=[csv_path], source_name="aws", period="2025-01", actor=actor)
    charges_approve(period="2025-01", actor=actor)
    period_close(period="2025-01", actor=actor)
    t = time.perf_counter()
    gen = statements_generate(period="2025-01", actor=actor)
    freeze_s = time.perf_counter() - t
    print(f"{report.rows:,} charges -> {gen.statements:,} statements for {gen.pis:,} PIs; frozen in {freeze_s:.2f} s")

    sample = list(Statement.objects.order_by("pk").values_list("pk", flat=True)[: args.sample])
    t = time.perf_counter()
    for pk in sample:
        statement_render(statement_id=pk)
    one = len(sample) / (time.perf_counter() - t)
    pages = sorted(Statement.objects.filter(pk__in=sample).values_list("pdf_pages", flat=True))
    verdict = "PASS" if one >= PER_WORKER_BUDGET else "FAIL"
    print(
        f"one worker: {one:.2f} PDFs/s (pages per statement {pages[0]}-{pages[-1]})  "
        f"budget >= {PER_WORKER_BUDGET}  {verdict}"
    )

    from django.db import connection

    connection.close()
    left = Statement.objects.filter(status="draft").count()
    t = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        rendered = sum(pool.map(render_all, [str(data_dir)] * args.workers))
    period_s = time.perf_counter() - t
    total = gen.statements
    projected = period_s * total / max(left, 1)
    verdict = "PASS" if projected < PERIOD_BUDGET_S else "FAIL"
    print(
        f"{args.workers} workers: {rendered:,} PDFs in {period_s:.1f} s ({rendered / period_s:.2f}/s); "
        f"the whole period of {total:,} would take {projected:.0f} s  budget < {PERIOD_BUDGET_S:.0f} s  {verdict}"
    )
    assert Statement.objects.filter(status="draft").count() == 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
