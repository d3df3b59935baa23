"""Parse a batch's files, in this process and, for large batches, a worker process alongside.

Parsing (CSV, numbers, dates, tags, fingerprints, row flags) is the bulk of an import's work.
Above a size threshold the batch is cut in two at a record boundary (see `reader.split_point`):
this process parses the first part (MY_SHARE of the bytes) into its sink while a worker process
(`python -m billing.ingest.worker`) parses the rest into a sequence of staging files
(`stage.StageFiles`), announcing each as soon as it is finished, so the importer loads it while
the worker parses on. Both run the same `RowBuilder`. Attribution needs the rows in file order
(the first PI that claims a project owns it), so rows carry only the number of their combination
of tag values; each combination is announced with the first staging file that has it, and the
importer attributes them in that order, which is exactly the order a single pass would take.

If this process's part hits a bad line, the batch is parsed again in one piece here, so the
error reported is always the first one in file order, named as a single pass names it (a bad
line in the worker's part is already the first: everything before it parsed).
"""

from __future__ import annotations

import pickle  # noqa: S403 - frames between this process and its own worker
import queue
import resource
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import localcontext
from pathlib import Path
from typing import IO, Any

from .builder import RowBuilder
from .reader import FileReader, IngestError, Limits, split_point
from .rows import Combo, Tally
from .rules import Attributor, RuleSnapshot
from .stage import NullSink, Sink, StageFiles


@dataclass
class Job:
    paths: list[str]
    names: list[str]
    flavor: str
    snapshot: RuleSnapshot
    chunk_rows: int = 5000
    limits: Limits = field(default_factory=Limits)


@dataclass
class Part:
    """A byte range of one file of the batch (the whole file unless the batch was cut there)."""

    index: int  # position in the batch; combination numbers (`ck`) start at index << 32
    file_index: int
    start: int = 0
    end: int | None = None
    lines_before: int = 0


@dataclass
class Parsed:
    """A step of parsing the batch: parts' tallies (in batch order) or a worker's staging file."""

    tallies: list[tuple[Part, Tally, str]] = field(default_factory=list)  # part, tally, FOCUS version
    stages: list[Path] = field(default_factory=list)
    combos: list[tuple[int, Combo]] = field(default_factory=list)  # (ck, combination) first seen in `stages`
    worker_peak_rss_mb: float | None = None  # set when a worker process parsed


ProgressCallback = Callable[[int], None]  # bytes read so far by this process
# The importer's share of a split batch: it also loads its part while the worker parses the rest.
MY_SHARE = 0.33


def parse_parts(
    job: Job, parts: list[Part], sink: Sink, progress: ProgressCallback | None = None
) -> list[tuple[Part, Tally, str]]:
    """Parse `parts` in order into `sink`. Raises IngestError."""
    out: list[tuple[Part, Tally, str]] = []
    if True:
        with localcontext() as ctx:
            ctx.prec = 60
            attributor = Attributor(job.snapshot)
            done = 0
            for part in parts:
                path, name = Path(job.paths[part.file_index]), job.names[part.file_index]
                tally = Tally()
                with FileReader(
                    path, name, start=part.start, end=part.end, lines_before=part.lines_before, limits=job.limits
                ) as reader:
                    rows: list[list[Any]] = []
                    builder: RowBuilder | None = None
                    for cells in reader.lines():
                        if builder is None:
                            assert reader.plan is not None
                            builder = RowBuilder(
                                reader, reader.plan, file_index=part.file_index, ck_base=part.index << 32,
                                flavor=job.flavor, attributor=attributor, tally=tally,
                            )  # fmt: skip
                        rows.append(builder.build(cells))
                        if len(rows) >= job.chunk_rows:
                            _write(sink, rows, name, tally, part)
                            rows = []
                            if progress is not None:
                                progress(done + reader.bytes_read)
                    _write(sink, rows, name, tally, part)
                    version = reader.plan.focus_version if reader.plan is not None else ""
                    done += reader.bytes_read
                out.append((part, tally, version))
    return out


def _write(sink: Any, rows: list[list[Any]], name: str, tally: Tally, part: Part) -> None:
    if rows:
        try:
            sink.write(rows, tally.combos, part.index << 32)
        except ValueError as exc:
            raise IngestError(name, None, str(exc)) from None


def plan_parts(job: Job, *, split: bool) -> tuple[list[Part], list[Part]]:
    """The batch as parts for this process and (when `split`) for the worker (MY_SHARE of the bytes here)."""
    sizes = [Path(p).stat().st_size for p in job.paths]
    if not split:
        return [Part(i, i) for i in range(len(sizes))], []
    target, acc = int(sum(sizes) * MY_SHARE), 0
    mine: list[Part] = []
    theirs: list[Part] = []
    for i, size in enumerate(sizes):
        if theirs or acc >= target:
            theirs.append(Part(len(mine) + len(theirs), i))
        elif acc + size <= target:
            mine.append(Part(len(mine), i))
        else:
            cut = split_point(Path(job.paths[i]), target - acc)
            if cut is None or cut[0] >= size:
                mine.append(Part(len(mine), i))
            else:
                mine.append(Part(len(mine), i, end=cut[0]))
                theirs.append(Part(len(mine), i, start=cut[0], lines_before=cut[1]))
        acc += size
    return mine, theirs


def parse(
    job: Job,
    *,
    worker_min_bytes: int,
    sink: Sink,
    stage_dir: Path | None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Parsed]:
    """Parse the batch, with a worker when it adds up to `worker_min_bytes` (negative: never).

    Yields what this process parsed into `sink`, then, once the worker runs, each staging file
    it finished (in `stage_dir`; None: a dry run keeps nothing) with the combinations first seen
    in it, as soon as it is finished, and last the worker's tallies.
    """
    total = sum(Path(p).stat().st_size for p in job.paths)
    split = 0 <= worker_min_bytes <= total
    mine, theirs = plan_parts(job, split=split)
    report = (lambda done: progress(done, total)) if progress is not None else None
    if not theirs:
        yield Parsed(parse_parts(job, mine, sink, report))
        return
    worker = _Worker(job, theirs, stage_dir)
    try:
        try:
            first = parse_parts(job, mine, sink, report)
        except IngestError:
            worker.stop()
            # Parsed again in one piece: the first bad line is named as a single pass names it
            # (and a cut inside a quoted field, which ends this part early, is undone).
            sink.reset()
            yield Parsed(parse_parts(job, plan_parts(job, split=False)[0], sink, report))
            return
        # This part ended on a record boundary, so the worker's part reads exactly as one pass would.
        yield Parsed(first)
        mine_bytes = sum(_part_bytes(job, part) for part in mine)
        for kind, payload in worker.frames():
            if kind == "stage":
                path, combos, done = payload
                if progress is not None:
                    progress(mine_bytes + done, total)
                yield Parsed(stages=[Path(path)], combos=combos)
            else:
                second, rss = payload
    finally:
        worker.stop()
    if progress is not None:
        progress(total, total)
    yield Parsed(second, worker_peak_rss_mb=rss)


def _part_bytes(job: Job, part: Part) -> int:
    end = part.end if part.end is not None else Path(job.paths[part.file_index]).stat().st_size
    return end - part.start


WORKER_COMMAND = (sys.executable, "-m", "billing.ingest.worker")


class _Worker:
    """The worker process; its frames are read by a thread as they come, so it never waits on us."""

    def __init__(self, job: Job, parts: list[Part], stage_dir: Path | None) -> None:
        self.name = job.names[parts[0].file_index]  # errors of the worker itself name its first file
        self.proc = subprocess.Popen(
            [*WORKER_COMMAND],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
        assert self.proc.stdin is not None
        pickle.dump((job, parts, stage_dir), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.close()
        self.queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.reader = threading.Thread(target=self._read, name="parse-worker-frames", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            header = stdout.read(8)
            if len(header) < 8:
                self.queue.put(("lost", None))
                return
            frame = pickle.loads(stdout.read(int.from_bytes(header, "little")))  # noqa: S301
            self.queue.put(frame)
            if frame[0] != "stage":
                return

    def frames(self) -> Iterator[tuple[str, Any]]:
        """("stage", (path, combos, bytes done)) for each finished staging file, then ("done", …)."""
        while True:
            kind, payload = self.queue.get()
            if kind == "lost":
                code = self.proc.wait()
                raise IngestError(self.name, None, f"the parsing worker stopped unexpectedly (exit status {code})")
            if kind == "error":
                raise payload
            yield kind, payload
            if kind == "done":
                return

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _send(stdout: IO[bytes], kind: str, payload: Any) -> None:
    frame = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    stdout.write(len(frame).to_bytes(8, "little"))
    stdout.write(frame)
    stdout.flush()


# A worker's rows go to at most this many staging files (SQLite attaches each: it allows ten).
WORKER_STAGE_FILES = 6


def worker_main(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """The worker process: (job, parts, staging folder) in on stdin; out, a frame for each finished
    staging file, then its tallies (or the error)."""
    job, parts, stage_dir = pickle.load(stdin)  # noqa: S301 - sent by the importing process
    sink: Sink
    if stage_dir is None:
        sink = NullSink()
    else:
        step = max(1, sum(_part_bytes(job, part) for part in parts) // WORKER_STAGE_FILES + 1)
        sink = StageFiles(
            job.flavor, Path(stage_dir), step_bytes=step,
            announce=lambda path, combos, done: _send(stdout, "stage", (str(path), combos, done)),
        )  # fmt: skip
    try:
        tallies = parse_parts(job, parts, sink, getattr(sink, "mark", None))
        sink.close()
        _send(stdout, "done", (tallies, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    except IngestError as exc:
        _send(stdout, "error", exc)
    return 0
