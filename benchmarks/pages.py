"""Server time of the admin and portal pages over a large period (design budget: under 300 ms).

Imports a focusgen file of N rows (default 1,000,000) into a fresh SQLite database (or the
PostgreSQL given by --postgres-url), then requests each admin page several times through Django's
test client as a finance admin and reports the best and median server time. For the portal, the
period is closed and its statements generated (PDFs are not rendered, except the one downloaded),
and the portal pages are requested as one PI and as a delegate of one of that PI's projects.

It runs with production settings (DEBUG off) in a fresh temporary data directory, without reading
a .env, and makes its requests over HTTPS, as a TLS proxy does. A budget missed is reported, not a
failure; a page that could not be measured (any answer but 200) says so on its line, and the exit
status is then 1.

    .venv/bin/python benchmarks/pages.py [--rows 1000000] [--repeat 5] [--postgres-url URL]
    .venv/bin/python benchmarks/pages.py --only portal
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from focusfiles import DEFAULT_FOCUSGEN, BenchError, focus_file, month_ready, use_app_env  # noqa: E402
from ingest import Postgres  # noqa: E402

BUDGET_MS = 300


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres-url", help="measure on this PostgreSQL database (it is flushed)")
    parser.add_argument("--only", choices=["admin", "portal"], help="measure only the admin or only the portal")
    parser.add_argument("--focusgen", type=Path, default=DEFAULT_FOCUSGEN, help="Path of focusgen.py")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="ocb-pages-"))
    try:
        not_measured = benchmark(args, data_dir)
    except BenchError as exc:
        print(f"pages benchmark: NOT MEASURED, {exc}", file=sys.stderr)
        return 1
    finally:
        from django.conf import settings

        if settings.configured:
            from django.db import connections

            connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)
    if not_measured:
        print(f"NOT MEASURED: {len(not_measured)} pages ({', '.join(not_measured)})")
        return 1
    return 0


def benchmark(args: argparse.Namespace, data_dir: Path) -> list[str]:
    """Build the period, then time the pages; the names of the pages that could not be measured."""
    if args.postgres_url and (why := Postgres(args.postgres_url, "").unreachable()):
        raise BenchError(f"PostgreSQL: {why}")
    path = focus_file(args.rows, args.focusgen)
    # Production settings (no DEBUG): requests are made over HTTPS, as behind the TLS proxy.
    use_app_env(
        data_dir, database_url=args.postgres_url, DEBUG="false", SECRET_KEY="bench-" + "x" * 40,
        ALLOWED_HOSTS="testserver",
    )  # fmt: skip
    import django

    django.setup()
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from billing.models import Charge
    from billing.services.ingest import batch_ingest
    from chargeback.audit import Actor
    from chargeback.errors import BillingError

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    if args.postgres_url:
        call_command("flush", interactive=False, verbosity=0)
        call_command("migrate", verbosity=0)
        # flush also emptied the rows the data migrations seeded (sources, rules, role groups).
        from django.apps import apps

        from billing.defaults import defaults_seed
        from chargeback.roles import roles_sync

        defaults_seed(apps)
        roles_sync(apps)
    started = time.perf_counter()
    try:
        report = batch_ingest(paths=[path], source_name="aws", month="2025-01", actor=Actor.system("bench"))
    except BillingError as exc:
        raise BenchError(f"the import failed: {exc}") from None
    if report.rows != args.rows:
        raise BenchError(f"the import stored {report.rows:,} of {args.rows:,} rows")
    print(f"imported {report.rows:,} rows in {time.perf_counter() - started:.1f} s ({connection.vendor})")
    user = User.objects.create_superuser("bench@example.edu", "bench@example.edu", "x")
    # Superusers reach the admin only with an authenticator app (chargeback.mfa).
    TOTP.activate(user, generate_totp_secret())
    client = Client()
    client.force_login(user)
    some = (
        Charge.objects.filter(pi__isnull=False, project__isnull=False)
        .order_by("-id")
        .values_list("id", "pi__email", "project__code")
        .first()
    )
    if some is None:
        raise BenchError("the import gave no charge with a PI and a project")
    charge_id, pi_email, project = some
    from billing.admin.charges import ChargeAdmin

    # Page 50 of the whole list; a period too small for 50 pages has its last page timed instead.
    last_page = -(-report.rows // ChargeAdmin.list_per_page)
    deep = ("all charges, page 50", 50) if last_page >= 50 else ("all charges, last page", last_page)
    pages = {
        "dashboard": "/admin/",
        "review queue (flagged)": "/admin/billing/charge/",
        "all charges, page 1": "/admin/billing/charge/?review=all",
        deep[0]: f"/admin/billing/charge/?review=all&p={deep[1]}",
        "charges of one PI": f"/admin/billing/charge/?review=all&period=2025-01&pi={pi_email}",
        "charges of one project": f"/admin/billing/charge/?review=all&project={project}",
        "search by resource": "/admin/billing/charge/?review=all&q=aws-res-000000042",
        "charge detail": f"/admin/billing/charge/{charge_id}/change/",
        "import batches": "/admin/billing/importbatch/",
        "audit log": "/admin/chargeback/auditevent/",
    }
    from django.core.cache import cache

    not_measured: list[str] = []
    if args.only != "portal":
        cache.clear()
        t = time.perf_counter()
        response = client.get("/admin/", secure=True)
        cold_ms = (time.perf_counter() - t) * 1000
        if response.status_code == 200:
            print(f"dashboard with an empty cache (first view after new data): {cold_ms:.0f} ms")
        else:
            print(f"dashboard with an empty cache: NOT MEASURED, HTTP {response.status_code}{_where(response)}")
            not_measured.append("dashboard with an empty cache")
        not_measured += measure(client, pages, args.repeat)
    if args.only != "admin":
        not_measured += portal_pages(pi_email, args.repeat)
    return not_measured


def measure(client: Any, pages: dict[str, str], repeat: int) -> list[str]:
    """Time each page over HTTPS; print a line per page; the names of the pages not measured."""
    print(f"{'page':<32} {'best ms':>8} {'median ms':>10}  budget {BUDGET_MS} ms")
    not_measured = []
    for name, url in pages.items():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            response = client.get(url, secure=True)
            if getattr(response, "streaming", False):
                for _chunk in response.streaming_content:  # a download's time includes its whole body
                    pass
            times.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                print(f"{name:<32} NOT MEASURED, HTTP {response.status_code}{_where(response)}")
                not_measured.append(name)
                break
        else:
            verdict = "PASS" if statistics.median(times) < BUDGET_MS else "FAIL"
            print(f"{name:<32} {min(times):>8.0f} {statistics.median(times):>10.0f}  {verdict}")
    return not_measured


def _where(response: Any) -> str:
    location = response.headers.get("Location")
    return f" to {location}" if location else ""


def portal_pages(pi_email: str, repeat: int) -> list[str]:
    """Close the period, generate its statements (without PDFs), then time the portal as a PI and a delegate."""
    from unittest import mock

    from allauth.account.models import EmailAddress
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from billing.models import PI, Charge
    from billing.services.periods import period_transition
    from chargeback.audit import Actor
    from chargeback.errors import BillingError
    from statements.models import PortalDelegate, Statement
    from statements.services.generate import statements_generate
    from statements.services.render import statement_render

    actor = Actor.system("bench")
    started = time.perf_counter()
    try:
        month_ready("2025-01", actor)
        period_transition(month="2025-01", to_status="closed", actor=actor)
        with mock.patch("statements.tasks.render_statement.delay"):
            report = statements_generate(month="2025-01", actor=actor)
    except BillingError as exc:
        raise BenchError(f"the statements could not be generated: {exc}") from None
    print(f"generated {report.statements:,} statements (no PDFs) in {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql":
        # What autovacuum does some time after a bulk import: without statistics the planner
        # guesses one row per PI and walks whole indexes (seconds instead of milliseconds).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print("ANALYZE run (fresh planner statistics, as autovacuum would after the import)")
    pi = PI.objects.get(email=pi_email)
    pi.user = User.objects.create_user(pi_email, pi_email)
    pi.save()
    statement = Statement.objects.filter(pi=pi).exclude(project=None).order_by("pk").first()
    if statement is None or statement.project is None:
        raise BenchError(f"{pi_email} has no project statement to show in the portal")
    if not statement_render(statement_id=statement.pk):
        raise BenchError(f"statement {statement.number} was not rendered, so its PDF cannot be downloaded")
    project = statement.project
    delegate = User.objects.create_user("delegate@example.edu", "delegate@example.edu")
    EmailAddress.objects.create(user=delegate, email=delegate.email, verified=True, primary=True)
    PortalDelegate.objects.create(pi=pi, email=delegate.email).projects.set([project])
    charge = Charge.objects.filter(pi=pi, active=True).order_by("-id").values_list("id", "resource_id").first()
    if charge is None:
        raise BenchError(f"{pi_email} has no charge to show in the portal")
    charge_id, resource = charge
    charges = Charge.objects.filter(pi=pi, active=True).count()
    print(f"portal as {pi_email}: {charges:,} of the charges, {Statement.objects.filter(pi=pi).count()} statements")
    client = Client()
    client.force_login(pi.user)
    not_measured = measure(client, {
        "portal home": "/portal/",
        "portal projects": "/portal/projects/",
        "portal project detail": f"/portal/projects/{project.pk}/",
        "portal statements": "/portal/statements/",
        "portal statements of a period": f"/portal/statements/?period=2025-01&project={project.pk}",
        "portal statement detail": f"/portal/statements/{statement.pk}/",
        "portal statement PDF": f"/portal/statements/{statement.pk}/pdf/",
        "portal charges, page 1": "/portal/charges/",
        "portal charges, page 20": "/portal/charges/?page=20",
        "portal charges by service": "/portal/charges/?period=2025-01&service=Amazon+EC2",
        "portal charges by resource": f"/portal/charges/?resource={resource[-8:]}",
        "portal charge detail": f"/portal/charges/{charge_id}/",
        "portal charges CSV (all)": "/portal/charges.csv",
        "portal delegates": "/portal/delegates/",
    }, repeat)  # fmt: skip
    client = Client()
    client.force_login(delegate)
    return not_measured + measure(client, {
        "delegate home": "/portal/",
        "delegate charges": "/portal/charges/",
        "delegate statements": "/portal/statements/",
    }, repeat)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
