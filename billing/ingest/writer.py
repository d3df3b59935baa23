"""Write parsed rows into billing_charge inside the import's transaction: PIs and projects created
on first sight, rows staged and copied with `INSERT … SELECT` on SQLite or streamed with `COPY`
on PostgreSQL, chunk by chunk (memory stays flat, and a failure anywhere leaves nothing behind).
Once a large import has committed, `analyze_charges` refreshes PostgreSQL's statistics of the charges."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from billing.models import PI, Charge, Project

from .columns import DEDICATED, MONEY
from .rows import ATTRIBUTION_COLUMNS, STAGE_COLUMNS, Flavor
from .rules import MasterDataEvents
from .stage import STAGE_TABLE, copy_cells, copy_text

FOCUS_NAME = {target: name for name, (target, _) in DEDICATED.items()}
MONEY_COLUMNS = frozenset(target for target, kind in DEDICATED.values() if kind == MONEY)


def flavor() -> str:
    return Flavor.SQLITE if connection.vendor == "sqlite" else Flavor.POSTGRESQL


class MasterData:
    """Email → PI id and code → project id, creating what the parser saw for the first time."""

    def __init__(self) -> None:
        self.pis: dict[str, int] = dict(PI.objects.values_list("email", "id"))
        self.projects: dict[str, int] = dict(Project.objects.values_list("code", "id"))

    def known_emails(self) -> set[str]:
        return set(self.pis)

    @staticmethod
    def emails() -> set[str]:
        return set(PI.objects.values_list("email", flat=True))

    def apply(self, events: MasterDataEvents) -> None:
        if events.new_pis:
            PI.objects.bulk_create([PI(email=e) for e in events.new_pis], ignore_conflicts=True)
            self.pis.update(PI.objects.filter(email__in=events.new_pis).values_list("email", "id"))
        if events.new_projects:
            Project.objects.bulk_create(
                [Project(code=code, pi_id=self.pis.get(owner) if owner else None, fund_org=fund)
                 for code, owner, fund in events.new_projects],
                ignore_conflicts=True,
            )  # fmt: skip
            codes = [code for code, _, _ in events.new_projects]
            self.projects.update(Project.objects.filter(code__in=codes).values_list("code", "id"))
        for code, email in events.owner_claims:
            Project.objects.filter(code=code, pi__isnull=True).update(pi_id=self.pis[email])


_ATTACHED = itertools.count()


@contextmanager
def staging_on_disk() -> Iterator[None]:
    """Around an import's transaction on SQLite: temporary tables on disk, not in memory.

    The connection keeps temporary data in memory (chargeback.apps); the staged half of a
    million-line import would take hundreds of MB there. SQLite only changes this outside a
    transaction, so an import nested in an outer one (tests) keeps the setting it found.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA temp_store")
        before = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA temp_store = FILE")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA temp_store = {before}")


# After an import this large, PostgreSQL's statistics are refreshed at once rather than when
# autovacuum gets to it: until then the planner may not use the charge indexes.
ANALYZE_MIN_ROWS = 50_000
ANALYZE_COLUMNS = (
    "period_id", "active", "review_state", "batch_id", "source_id", "pi_id", "project_id", "resource_id",
    "service_name", "fund_org",
)  # fmt: skip


def analyze_charges(*, rows: int) -> None:
    """After an import of `rows` charges has committed: PostgreSQL's statistics of the charges, if it was large."""
    if rows >= ANALYZE_MIN_ROWS and connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            # The columns the charge indexes and filters use, from a sample of 3,000 rows: enough
            # for the planner to pick the indexes, in a twentieth of the time of a full ANALYZE
            # (50 ms for a million charges); autovacuum refines them with its own full sample.
            cursor.execute("SET LOCAL default_statistics_target = 10")
            cursor.execute(f"ANALYZE billing_charge ({', '.join(ANALYZE_COLUMNS)})")


Decide = Callable[[list[tuple[int, Any]]], list[tuple[Any, ...]]]


class ChargeWriter:
    """Writes a batch's rows into billing_charge, inside the import's transaction.

    Every row carries its combination's number (`ck`); a combination is decided (attributed,
    flagged, its PI and project created) before the first row that has it is written, and its
    columns are joined to the rows as they go in. This process's rows go through `sink()` (SQLite:
    a temporary staging table, copied by `load_own`; PostgreSQL: `COPY` into billing_charge at
    once); a parsing worker's come as staging files (`load`): SQLite attaches each and copies it
    with one `INSERT … SELECT`, PostgreSQL streams it to `COPY` with the combination's columns
    put in front of each line.
    """

    def __init__(self, *, batch_id: int, period_id: int, source_id: int) -> None:
        self.sqlite = connection.vendor == "sqlite"
        self.batch_id = int(batch_id)
        self.attached: list[str] = []
        self.written = 0
        table = self.table = Charge._meta.db_table
        targets = ", ".join(("batch_id", "period_id", "source_id", "active", *STAGE_COLUMNS[1:], *ATTRIBUTION_COLUMNS))
        picks = ", ".join((*(self._pick(c) for c in STAGE_COLUMNS[1:]), *(f"c.{c}" for c in ATTRIBUTION_COLUMNS)))
        head = f"{int(batch_id)}, {int(period_id)}, {int(source_id)}, TRUE"
        self.insert = f"INSERT INTO {table} ({targets}) SELECT {head}, {picks} "  # noqa: S608
        self.join = "CROSS JOIN temp.ocb_combo AS c WHERE c.ck = s.ck"  # SQLite: rows in stage order
        # PostgreSQL: each COPY line starts with the constants and its combination's columns.
        self.copy_head = f"{int(batch_id)}\t{int(period_id)}\t{int(source_id)}\tt"
        columns = ("batch_id", "period_id", "source_id", "active", *ATTRIBUTION_COLUMNS, *STAGE_COLUMNS[1:])
        self.copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        self.heads: dict[int, str] = {}
        self._copy: Any = None
        self._copy_context: Any = None
        self._copy_cursor: Any = None
        if self.sqlite:
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS temp.ocb_stage")
                cursor.execute("DROP TABLE IF EXISTS temp.ocb_combo")
                cursor.execute(f"CREATE TEMP TABLE ocb_stage ({', '.join(STAGE_COLUMNS)})")
                attribution = ", ".join(ATTRIBUTION_COLUMNS)
                cursor.execute(f"CREATE TEMP TABLE ocb_combo (ck INTEGER PRIMARY KEY, {attribution})")
                cursor.execute("PRAGMA temp.cache_size = -16384")  # see `staging_on_disk`

    def _pick(self, column: str) -> str:
        if self.sqlite and column in MONEY_COLUMNS:
            # Staged amounts are checked decimal text (at most 10 decimals, inside int64 as
            # 10^-10 units): drop the point and scale by the missing decimals, exactly.
            x = f"s.{column}"
            return (
                f"CAST(replace({x}, '.', '') AS INTEGER) * CASE instr({x}, '.') WHEN 0 THEN 10000000000 "
                f"ELSE CAST(substr('10000000000', 1, 11 - length({x}) + instr({x}, '.')) AS INTEGER) END"
            )
        return f"s.{column}"

    def sink(self, decide: Decide) -> OwnSink:
        """Where this process's rows go (see `load_own`)."""
        return OwnSink(self, decide)

    def add_combos(self, combos: list[tuple[Any, ...]]) -> None:
        """Decided combinations, rows of (ck, *ATTRIBUTION_COLUMNS), for the rows still to come."""
        if not combos:
            return
        if self.sqlite:
            marks = ", ".join(["%s"] * (len(ATTRIBUTION_COLUMNS) + 1))
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO temp.ocb_combo VALUES ({marks})", combos)  # noqa: S608
        else:
            head = self.copy_head
            self.heads.update((combo[0], "\t".join((head, *copy_cells(combo[1:])))) for combo in combos)

    def load_own(self) -> None:
        """SQLite: copy this process's staged rows into billing_charge (PostgreSQL has them already)."""
        if self.sqlite:
            with connection.cursor() as cursor:
                cursor.execute(f"{self.insert} FROM temp.ocb_stage AS s {self.join}")
                self.written += cursor.rowcount
                cursor.execute("DELETE FROM temp.ocb_stage")

    def load(self, stage: Path, combos: list[tuple[Any, ...]]) -> None:
        """Copy a worker's staging file into billing_charge; `combos` are those first seen in it."""
        self.add_combos(combos)
        if self.sqlite:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA database_list")
                attached = len(cursor.fetchall()) - 2  # not main and temp
                if attached >= connection.connection.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED):
                    # Attached files are detached after the commit; an import inside an outer
                    # transaction that already holds the most SQLite allows copies this one here.
                    self._stage_rows(stage)
                    self.load_own()
                    return
                alias = f"ocb_stage{next(_ATTACHED)}"
                cursor.execute(f"ATTACH DATABASE %s AS {alias}", [str(stage)])
                self.attached.append(alias)
                cursor.execute(f"{self.insert} FROM {alias}.{STAGE_TABLE} AS s {self.join}")
                self.written += cursor.rowcount
                return
        heads, copy = self.heads, self.copy()
        with stage.open(encoding="utf-8", newline="\n") as fh:
            while block := fh.readlines(1 << 20):
                out = []
                for line in block:
                    ck, tab, rest = line.partition("\t")
                    out.append(heads[int(ck)] + tab + rest)
                copy.write("".join(out))
                self.written += len(block)

    def copy(self) -> Any:
        """PostgreSQL: the COPY into billing_charge, opened once and kept open while rows come, so
        the server stores them while this process parses on. `pause` ends it before any other
        statement (creating PIs and projects, the end of the import)."""
        if self._copy is None:
            self._copy_cursor = connection.cursor()
            self._copy_context = self._copy_cursor.cursor.copy(self.copy_sql)
            self._copy = self._copy_context.__enter__()
        return self._copy

    def pause(self, exc: BaseException | None = None) -> None:
        if self._copy is None:
            return
        context, cursor, self._copy = self._copy_context, self._copy_cursor, None
        try:
            if exc is None:
                context.__exit__(None, None, None)
            else:  # the server is told the COPY failed; the transaction rolls back
                context.__exit__(type(exc), exc, exc.__traceback__)
        finally:
            cursor.close()

    def _stage_rows(self, stage: Path) -> None:
        db = sqlite3.connect(str(stage))
        try:
            rows = db.execute(f"SELECT * FROM {STAGE_TABLE}")  # noqa: S608
            sql = f"INSERT INTO temp.ocb_stage VALUES ({', '.join(['?'] * len(STAGE_COLUMNS))})"  # noqa: S608
            while chunk := rows.fetchmany(5000):
                connection.connection.executemany(sql, chunk)
        finally:
            db.close()

    def finish(self) -> None:
        self.pause()
        if self.sqlite:
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE temp.ocb_stage")
                cursor.execute("DROP TABLE temp.ocb_combo")

    def detach(self) -> None:
        """Detach the worker's staging files. SQLite allows it only outside a transaction: when the
        import ran inside an outer one, that waits for its commit."""
        if not self.attached:
            return
        aliases, self.attached = self.attached, []

        def detach() -> None:
            with connection.cursor() as cursor:
                for alias in aliases:
                    cursor.execute(f"DETACH DATABASE {alias}")

        if connection.in_atomic_block:
            transaction.on_commit(detach)
        else:
            detach()


class OwnSink:
    """This process's rows: each chunk's new combinations decided first (`decide` gives their
    rows of (ck, *ATTRIBUTION_COLUMNS) in the order asked), then the rows staged (SQLite) or
    copied into billing_charge (PostgreSQL)."""

    def __init__(self, writer: ChargeWriter, decide: Decide) -> None:
        self.writer, self.decide = writer, decide
        self.seen: dict[int, int] = {}  # part base -> combinations decided so far
        self.sql = f"INSERT INTO temp.ocb_stage VALUES ({', '.join(['?'] * len(STAGE_COLUMNS))})"  # noqa: S608

    def write(self, rows: list[list[Any]], combos: list[Any], base: int) -> None:
        start = self.seen.get(base, 0)
        if start < len(combos):
            self.writer.add_combos(self.decide([(base + k, combos[k]) for k in range(start, len(combos))]))
            self.seen[base] = len(combos)
        if self.writer.sqlite:
            # The raw connection: Django's debug cursor would log every chunk.
            connection.connection.executemany(self.sql, rows)
        else:
            self.writer.copy().write(copy_text(rows, self.writer.heads))
            self.writer.written += len(rows)

    def reset(self) -> None:
        """Forget what was written: the batch is parsed again from its first line."""
        self.writer.pause()
        with connection.cursor() as cursor:
            if self.writer.sqlite:
                cursor.execute("DELETE FROM temp.ocb_stage")
                cursor.execute("DELETE FROM temp.ocb_combo")
            else:
                cursor.execute(f"DELETE FROM {self.writer.table} WHERE batch_id = %s", [self.writer.batch_id])  # noqa: S608
        self.writer.heads.clear()
        self.writer.written = 0
        self.seen.clear()

    def close(self) -> None:
        pass
