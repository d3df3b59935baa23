from __future__ import annotations

import os
import signal
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand, Error


class Command(ChargebackCommand):
    help = (
        "Run the web server: gunicorn with the app's own static files (WhiteNoise) in production, or "
        "Django's development server when DEBUG is on. It prints the address and how to sign in, and "
        "stops cleanly on Ctrl+C or SIGTERM. In production the static files are collected first if they "
        "never were. The address defaults to OPENCHARGEBACK_SERVE_HOST and OPENCHARGEBACK_SERVE_PORT "
        "(127.0.0.1:8000)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="Address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=None, help="Port to listen on (default 8000)")
        parser.add_argument(
            "--workers", type=int, default=2, help="gunicorn worker processes (production only; default 2)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"] or settings.OPENCHARGEBACK_SERVE_HOST
        port = options["port"] or settings.OPENCHARGEBACK_SERVE_PORT
        if not 0 < port < 65536:
            raise Error(f"--port {port} is not a port number (1-65535)")
        if options["workers"] < 1:
            raise Error("--workers must be at least 1")
        shown = f"[{host}]" if ":" in host else host
        mode = "development server (DEBUG)" if settings.DEBUG else f"gunicorn, {options['workers']} workers"
        self.stdout.write(
            f"OpenChargeback at http://{shown}:{port}/admin/ ({mode})\n"
            "Staff sign in with their email and password (the first account: 'openchargeback createsuperuser'); "
            f"PIs sign in at http://{shown}:{port}/portal/ with a code sent to their email.\n"
            "Stop with Ctrl+C."
        )
        self.stdout.flush()
        if settings.DEBUG:
            # SIGTERM stops the development server the way Ctrl+C does: cleanly, exit status 0.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            call_command("runserver", f"{shown}:{port}", use_reloader=False, skip_checks=True)
            return
        if not (settings.STATIC_ROOT / "staticfiles.json").exists():
            call_command("collectstatic", interactive=False, verbosity=0)
        sys.stdout.flush()
        sys.stderr.flush()
        argv = [
            sys.executable, "-m", "gunicorn", "chargeback.wsgi:application", "--bind", f"{shown}:{port}",
            "--workers", str(options["workers"]), "--access-logfile", "-",
        ]  # fmt: skip
        os.execv(sys.executable, argv)  # noqa: S606 - gunicorn takes over this process (and its signals)
