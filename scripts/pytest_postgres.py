"""Run the test suite against PostgreSQL (the production database).

Uses TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test). When the server cannot
be reached the run is skipped with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


def main() -> int:
    import psycopg

    # The test database (test_<name>) is created through the server's maintenance database, so
    # only the server has to answer; the named database itself need not exist.
    server = urlsplit(URL.replace("postgres://", "postgresql://", 1))._replace(path="/postgres").geturl()
    try:
        psycopg.connect(server, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0]
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            print(f"PostgreSQL suite: FAILED, server unreachable under CI ({reason})", file=sys.stderr)
            return 1
        print(f"PostgreSQL suite: SKIPPED, server unreachable at {URL} ({reason})")
        return 0
    env = dict(os.environ, DATABASE_URL=URL)
    print(f"PostgreSQL suite: running against {URL}")
    return subprocess.call([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *sys.argv[1:]], env=env)


if __name__ == "__main__":
    sys.exit(main())
