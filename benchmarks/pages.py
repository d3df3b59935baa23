"""Server time of the admin pages over a large period (design budget: under 300 ms).

Imports a focusgen file of N rows (default 1,000,000) into a fresh SQLite database (or the
PostgreSQL given by --postgres-url), then requests each page several times through Django's
test client as a finance admin and reports the best and median server time.

    .venv/bin/python benchmarks/pages.py [--rows 1000000] [--repeat 5] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 300


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres-url", help="measure on this PostgreSQL database (it is flushed)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from focusfiles import focus_file  # the same cached focusgen files as the ingest benchmark

    data_dir = Path(tempfile.mkdtemp(prefix="ocb-pages-"))
    os.environ.update({"DEBUG": "false", "SECRET_KEY": "bench-" + "x" * 40, "OPENCHARGEBACK_DATA_DIR": str(data_dir)})
    os.environ["ALLOWED_HOSTS"] = "testserver"
    if args.postgres_url:
        os.environ["DATABASE_URL"] = args.postgres_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeback.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from billing.models import Charge
    from billing.services.ingest import batch_ingest
    from chargeback.audit import Actor

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    if args.postgres_url:
        call_command("flush", interactive=False, verbosity=0)
        call_command("migrate", verbosity=0)
    path = focus_file(args.rows, ROOT.parent / "shared" / "focusgen.py")
    started = time.perf_counter()
    report = batch_ingest(paths=[path], source_name="aws", period="2025-01", actor=Actor.system("bench"))
    print(f"imported {report.rows:,} rows in {time.perf_counter() - started:.1f} s ({connection.vendor})")
    user = User.objects.create_superuser("bench@example.edu", "bench@example.edu", "x")
    client = Client()
    client.force_login(user)
    some = Charge.objects.order_by("-id").values_list("id", "pi__email", "project__code").first()
    assert some is not None
    charge_id, pi_email, project = some
    pages = {
        "dashboard": "/admin/",
        "review queue (flagged)": "/admin/billing/charge/",
        "all charges, page 1": "/admin/billing/charge/?review=all",
        "all charges, page 50": "/admin/billing/charge/?review=all&p=50",
        "charges of one PI": f"/admin/billing/charge/?review=all&period=2025-01&pi={pi_email}",
        "charges of one project": f"/admin/billing/charge/?review=all&project={project}",
        "search by resource": "/admin/billing/charge/?review=all&q=aws-res-000000042",
        "charge detail": f"/admin/billing/charge/{charge_id}/change/",
        "import batches": "/admin/billing/importbatch/",
        "audit log": "/admin/chargeback/auditevent/",
    }
    from django.core.cache import cache

    cache.clear()
    t = time.perf_counter()
    client.get("/admin/")
    cold_ms = (time.perf_counter() - t) * 1000
    print(f"dashboard with an empty cache (first view after new data): {cold_ms:.0f} ms")
    print(f"{'page':<28} {'best ms':>8} {'median ms':>10}  budget {BUDGET_MS} ms")
    for name, url in pages.items():
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                print(f"{name:<28} HTTP {response.status_code}")
                break
        else:
            verdict = "PASS" if statistics.median(times) < BUDGET_MS else "FAIL"
            print(f"{name:<28} {min(times):>8.0f} {statistics.median(times):>10.0f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
