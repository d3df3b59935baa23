"""Parse a batch's files into chunks of rows, in this process or in a parsing worker process.

Parsing (CSV, numbers, dates, attribution, flags) and writing (SQLite or PostgreSQL) each keep
a core busy on a large file, so above a size threshold a worker process
(`python -m billing.ingest.worker`) parses while this process writes. Both paths run the same
`RowBuilder`; only the transport differs. The worker never touches the database.
"""

from __future__ import annotations

import pickle  # noqa: S403 - frames between this process and its own worker
import queue
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import localcontext
from pathlib import Path
from typing import IO, Any

from .reader import FileReader, IngestError
from .rows import RowBuilder, Tally
from .rules import Attributor, MasterDataEvents, RuleSnapshot


@dataclass
class Job:
    paths: list[str]
    names: list[str]
    flavor: str
    snapshot: RuleSnapshot
    known_pis: set[str]
    chunk_rows: int = 5000


@dataclass
class Chunk:
    rows: list[list[Any]]
    events: MasterDataEvents
    bytes_done: int


@dataclass
class Outcome:
    tally: Tally
    new_pis: set[str] = field(default_factory=set)
    new_projects: set[str] = field(default_factory=set)
    worker_peak_rss_mb: float | None = None  # set when a worker process parsed


def parse_in_process(job: Job) -> Iterator[Chunk | Outcome]:
    """Yield chunks of rows, then the Outcome. Raises IngestError on the first bad line."""
    with localcontext() as ctx:
        ctx.prec = 60
        attributor = Attributor(job.snapshot, known_pis=job.known_pis)
        tally = Tally()
        done = 0
        for index, (path, name) in enumerate(zip(job.paths, job.names, strict=True)):
            with FileReader(Path(path), name) as reader:
                rows: list[list[Any]] = []
                builder: RowBuilder | None = None
                before = tally.rows
                for cells in reader.lines():
                    if builder is None:
                        assert reader.plan is not None
                        builder = RowBuilder(
                            reader, reader.plan, file_index=index, flavor=job.flavor,
                            attributor=attributor, tally=tally,
                        )  # fmt: skip
                    rows.append(builder.build(cells))
                    if len(rows) >= job.chunk_rows:
                        yield Chunk(rows, attributor.take_events(), done + reader.bytes_read)
                        rows = []
                if rows or attributor.events:
                    yield Chunk(rows, attributor.take_events(), done + reader.bytes_read)
                tally.rows_per_file.append(tally.rows - before)
                if reader.plan is not None:
                    tally.focus_versions.append(reader.plan.focus_version)
                done += Path(path).stat().st_size
        yield Outcome(tally, attributor.all_new_pis, attributor.all_new_projects)


def parse(job: Job, *, worker_min_bytes: int) -> Iterator[Chunk | Outcome]:
    """Parse in a worker process when the files add up to `worker_min_bytes` (negative: never)."""
    size = sum(Path(p).stat().st_size for p in job.paths)
    use_worker = 0 <= worker_min_bytes <= size
    return _parse_in_worker(job) if use_worker else parse_in_process(job)


def _parse_in_worker(job: Job) -> Iterator[Chunk | Outcome]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "billing.ingest.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert proc.stdin is not None and proc.stdout is not None
    # A thread drains the pipe into a small queue of frames, so the worker keeps parsing while
    # this process writes (a pipe holds only 64 KiB; a chunk is megabytes).
    frames: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
    stop = threading.Event()

    def drain(pipe: IO[bytes]) -> None:
        try:
            while not stop.is_set():
                header = pipe.read(8)
                if len(header) < 8:
                    break
                frames.put(pipe.read(int.from_bytes(header, "little")))
        finally:
            frames.put(None)

    reader = threading.Thread(target=drain, args=(proc.stdout,), daemon=True)
    try:
        pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        proc.stdin.close()
        reader.start()
        while True:
            frame = frames.get()
            if frame is None:
                code = proc.wait()
                message = f"the parsing worker stopped unexpectedly (exit {code})"
                raise IngestError(job.names[0], None, message)
            kind, payload = pickle.loads(frame)  # noqa: S301 - our own worker
            if kind == "error":
                raise payload
            yield payload
            if kind == "outcome":
                return
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        while reader.is_alive():  # unblock a drain waiting on a full queue
            try:
                frames.get_nowait()
            except queue.Empty:
                reader.join(timeout=0.05)
        proc.stdout.close()


def _send(stdout: IO[bytes], kind: str, payload: Any) -> None:
    frame = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    stdout.write(len(frame).to_bytes(8, "little"))
    stdout.write(frame)


def worker_main(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """The worker process: a Job in on stdin, length-prefixed (kind, payload) frames out on stdout."""
    job: Job = pickle.load(stdin)  # noqa: S301 - sent by the importing process
    try:
        for item in parse_in_process(job):
            if isinstance(item, Outcome):
                item.worker_peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                _send(stdout, "outcome", item)
            else:
                _send(stdout, "chunk", item)
    except IngestError as exc:
        _send(stdout, "error", exc)
    stdout.flush()
    return 0
