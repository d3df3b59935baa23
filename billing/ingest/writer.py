"""Write parsed rows: PIs and projects created on first sight, then `executemany` on SQLite or
`COPY` on PostgreSQL, chunk by chunk inside the import's transaction (memory stays flat, and a
failure anywhere leaves nothing behind)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from billing.models import PI, Charge, Project

from .columns import DEDICATED, MONEY
from .rows import ATTRIBUTION_COLUMNS, STAGE_COLUMNS, Flavor
from .rules import MasterDataEvents
from .stage import STAGE_TABLE, Sink, copy_text

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


class ChargeWriter:
    """Loads a batch's staged rows into billing_charge.

    This process's rows go to a temporary table (`sink()`), the worker's come as a staging file;
    `load` copies both with one `INSERT … SELECT` each, joining each row's combination (`ck`) to
    its attribution, review state and flag reasons (decided by the importer, see `ingest`).
    """

    def __init__(self, *, batch_id: int, period_id: int, source_id: int) -> None:
        self.sqlite = connection.vendor == "sqlite"
        self.attached: list[str] = []
        self.written = 0
        table = Charge._meta.db_table
        head = f"{int(batch_id)}, {int(period_id)}, {int(source_id)}, TRUE"
        targets = ", ".join(("batch_id", "period_id", "source_id", "active", *STAGE_COLUMNS[1:], *ATTRIBUTION_COLUMNS))
        picks = ", ".join((*(self._pick(c) for c in STAGE_COLUMNS[1:]), *(f"c.{c}" for c in ATTRIBUTION_COLUMNS)))
        self.insert = f"INSERT INTO {table} ({targets}) SELECT {head}, {picks} "  # noqa: S608
        attribution = ", ".join(ATTRIBUTION_COLUMNS)
        with connection.cursor() as cursor:
            if self.sqlite:
                cursor.execute("DROP TABLE IF EXISTS temp.ocb_stage")
                cursor.execute("DROP TABLE IF EXISTS temp.ocb_combo")
                cursor.execute(f"CREATE TEMP TABLE ocb_stage ({', '.join(STAGE_COLUMNS)})")
                cursor.execute(f"CREATE TEMP TABLE ocb_combo (ck INTEGER PRIMARY KEY, {attribution})")
                cursor.execute("PRAGMA temp.cache_size = -16384")  # see `staging_on_disk`
            else:
                cursor.execute("DROP TABLE IF EXISTS pg_temp.ocb_stage, pg_temp.ocb_combo")
                cursor.execute(
                    f"CREATE TEMP TABLE ocb_stage AS SELECT 0::bigint AS ck, {', '.join(STAGE_COLUMNS[1:])} "  # noqa: S608
                    f"FROM {table} WITH NO DATA"
                )
                cursor.execute(
                    f"CREATE TEMP TABLE ocb_combo AS SELECT 0::bigint AS ck, {attribution} "  # noqa: S608
                    f"FROM {table} WITH NO DATA"
                )

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

    def sink(self) -> Sink:
        """Where this process's rows go: the temporary staging table."""
        return _TableSink(self.sqlite)

    def load(self, stage: Path | None, combos: list[tuple[Any, ...]]) -> None:
        """Copy staged rows into billing_charge: those of the staging table (`stage` None) or of a
        worker's staging file. `combos` are the new combinations, rows of (ck, *ATTRIBUTION_COLUMNS)."""
        with connection.cursor() as cursor:
            if self.sqlite:
                marks = ", ".join(["%s"] * (len(ATTRIBUTION_COLUMNS) + 1))
                cursor.executemany(f"INSERT INTO temp.ocb_combo VALUES ({marks})", combos)  # noqa: S608
                source = "temp.ocb_stage"
                if stage is not None:
                    alias = f"ocb_stage{next(_ATTACHED)}"
                    cursor.execute(f"ATTACH DATABASE %s AS {alias}", [str(stage)])
                    self.attached.append(alias)
                    source = f"{alias}.{STAGE_TABLE}"
                cursor.execute(f"{self.insert} FROM {source} AS s CROSS JOIN temp.ocb_combo AS c WHERE c.ck = s.ck")
                self.written += cursor.rowcount
                if stage is None:
                    cursor.execute("DELETE FROM temp.ocb_stage")
            else:
                raw = cursor.cursor
                with raw.copy(f"COPY ocb_combo (ck, {', '.join(ATTRIBUTION_COLUMNS)}) FROM STDIN") as copy:
                    for combo in combos:
                        copy.write_row(combo)
                if stage is not None:
                    with raw.copy("COPY ocb_stage FROM STDIN") as copy, stage.open("rb") as fh:
                        while block := fh.read(1 << 20):
                            copy.write(block)
                # Fresh temporary tables have no statistics: without them the planner may scan the
                # combinations once per row. A hash join reads each table once.
                cursor.execute("ANALYZE ocb_combo")
                # JIT compiling this one statement costs more than it saves.
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL enable_nestloop = off")
                cursor.execute(f"{self.insert} FROM ocb_stage AS s JOIN ocb_combo AS c ON c.ck = s.ck")
                cursor.execute("SET LOCAL enable_nestloop = on")
                cursor.execute("SET LOCAL jit = default")
                self.written += cursor.rowcount
                cursor.execute("TRUNCATE ocb_stage")

    def finish(self) -> None:
        with connection.cursor() as cursor:
            if self.sqlite:
                cursor.execute("DROP TABLE temp.ocb_stage")
                cursor.execute("DROP TABLE temp.ocb_combo")
            else:
                cursor.execute("DROP TABLE ocb_stage, ocb_combo")

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


class _TableSink:
    """This process's rows into the temporary staging table."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self.sql = f"INSERT INTO temp.ocb_stage VALUES ({', '.join(['%s'] * len(STAGE_COLUMNS))})"  # noqa: S608

    def write(self, rows: list[list[Any]]) -> None:
        with connection.cursor() as cursor:
            if self.sqlite:
                cursor.executemany(self.sql, rows)
            else:
                with cursor.cursor.copy("COPY ocb_stage FROM STDIN") as copy:
                    copy.write(copy_text(rows))

    def reset(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM temp.ocb_stage" if self.sqlite else "TRUNCATE ocb_stage")

    def close(self) -> None:
        pass
