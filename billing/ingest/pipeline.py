"""Parse a batch's files into staging files, in this process and, for large batches, a worker.

Parsing (CSV, numbers, dates, tags, fingerprints, row flags) is the bulk of an import's work.
Above a size threshold the batch is cut in two at a record boundary (see `reader.split_point`):
this process parses the first half while a worker process (`python -m billing.ingest.worker`)
parses the second, each into its own staging file (`stage`). Both run the same `RowBuilder`.
Attribution needs the rows in file order (the first PI that claims a project owns it), so the
parts only report the distinct combinations of tag values they saw, in order of first sight; the
importer attributes those in part order, which is exactly the order a single pass would take.

If either half hits a bad line, the batch is parsed again in one piece in this process, so the
error reported is always the first one in file order, named as a single pass names it.
"""

from __future__ import annotations

import pickle  # noqa: S403 - frames between this process and its own worker
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import localcontext
from pathlib import Path
from typing import IO, Any

from .reader import FileReader, IngestError, split_point
from .rows import RowBuilder, Tally
from .rules import Attributor, RuleSnapshot
from .stage import Sink, open_sink, stage_suffix


@dataclass
class Job:
    paths: list[str]
    names: list[str]
    flavor: str
    snapshot: RuleSnapshot
    chunk_rows: int = 5000


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
    """What parsing the batch gave: each part's tally, in batch order, and the staging files."""

    tallies: list[tuple[Part, Tally, str]] = field(default_factory=list)  # part, tally, FOCUS version
    stages: list[Path] = field(default_factory=list)
    worker_peak_rss_mb: float | None = None  # set when a worker process parsed


ProgressCallback = Callable[[int], None]  # bytes read so far by this process
# The importer's share of a split batch: it also loads its part while the worker parses the rest.
MY_SHARE = 0.45


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
                with FileReader(path, name, start=part.start, end=part.end, lines_before=part.lines_before) as reader:
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
                            _write(sink, rows, name)
                            rows = []
                            if progress is not None:
                                progress(done + reader.bytes_read)
                    _write(sink, rows, name)
                    version = reader.plan.focus_version if reader.plan is not None else ""
                    done += reader.bytes_read
                out.append((part, tally, version))
    return out


def _write(sink: Any, rows: list[list[Any]], name: str) -> None:
    if rows:
        try:
            sink.write(rows)
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

    Yields what this process parsed into `sink` (the caller loads it while the worker goes on),
    then what the worker parsed into a staging file in `stage_dir` (None: a dry run keeps nothing).
    """
    total = sum(Path(p).stat().st_size for p in job.paths)
    split = 0 <= worker_min_bytes <= total
    mine, theirs = plan_parts(job, split=split)
    report = (lambda done: progress(done, total)) if progress is not None else None
    if not theirs:
        yield Parsed(parse_parts(job, mine, sink, report))
        return
    stage = stage_dir / f"worker{stage_suffix(job.flavor)}" if stage_dir is not None else None
    worker = _Worker(job, theirs, stage)
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
        second, rss = worker.result()
    finally:
        worker.stop()
    if progress is not None:
        progress(total, total)
    yield Parsed(second, [stage] if stage is not None else [], rss)


class _Worker:
    def __init__(self, job: Job, parts: list[Part], stage: Path | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "billing.ingest.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
        assert self.proc.stdin is not None
        pickle.dump((job, parts, stage), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.close()

    def result(self) -> tuple[list[tuple[Part, Tally, str]], float]:
        assert self.proc.stdout is not None
        header = self.proc.stdout.read(8)
        if len(header) < 8:
            code = self.proc.wait()
            raise IngestError("", None, f"the parsing worker stopped unexpectedly (exit {code})")
        kind, payload = pickle.loads(self.proc.stdout.read(int.from_bytes(header, "little")))  # noqa: S301
        if kind == "error":
            raise payload
        return payload

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _send(stdout: IO[bytes], kind: str, payload: Any) -> None:
    frame = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    stdout.write(len(frame).to_bytes(8, "little"))
    stdout.write(frame)


def worker_main(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """The worker process: (job, parts, staging file) in on stdin, one (kind, payload) frame out."""
    job, parts, stage = pickle.load(stdin)  # noqa: S301 - sent by the importing process
    sink = open_sink(job.flavor if stage is not None else None, stage)
    try:
        tallies = parse_parts(job, parts, sink)
        sink.close()
        _send(stdout, "done", (tallies, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    except IngestError as exc:
        _send(stdout, "error", exc)
    stdout.flush()
    return 0
