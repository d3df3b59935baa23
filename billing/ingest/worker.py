"""Entry point of the parsing worker process (see `billing.ingest.pipeline`)."""

import sys

from billing.ingest.pipeline import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(sys.stdin.buffer, sys.stdout.buffer))
