"""Copy a whole installation's database into an empty PostgreSQL database (SQLite → PostgreSQL).

Every row of every table keeps its id; afterwards each table's row count and every money
column's exact total are compared between the two databases. The copy is one transaction on
the target: it either completes with matching figures or leaves the target as it was found.
The tables the copy created there (by migrating an empty database) are dropped again after a
failure, so an empty target is empty again; a target that already had the schema keeps it,
without any copied row. A value PostgreSQL refuses (SQLite does not check lengths) is named
with its table and row id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

import dj_database_url
from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from chargeback.errors import CopyError
from chargeback.money import MoneyField

TARGET = "copy_target"
Progress = Callable[[str, int], None]  # (table, rows copied)


@dataclass
class TableFigures:
    table: str
    rows: int
    totals: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class CopyReport:
    source: str
    target: str
    tables: list[TableFigures] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "rows": self.rows,
            "tables": [
                {"table": t.table, "rows": t.rows, "totals": {k: str(v) for k, v in t.totals.items()}}
                for t in self.tables
            ],
        }


def copied_models() -> list[type[models.Model]]:
    """Every table Django manages, many-to-many tables included, in a stable order."""
    found = [m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy]
    return sorted(found, key=lambda m: m._meta.db_table)


def _describe(conn: BaseDatabaseWrapper) -> str:
    """The database without its password: `postgresql db@host`, `sqlite /path`."""
    s = conn.settings_dict
    if conn.vendor == "sqlite":
        return f"sqlite {s['NAME']}"
    return f"{conn.vendor} {s['NAME']}@{s.get('HOST') or 'localhost'}"


def _connect_target(url: str) -> BaseDatabaseWrapper:
    try:
        parsed = dj_database_url.parse(url)
    except Exception as exc:
        raise CopyError(f"cannot read the target database URL ({exc})") from None
    if parsed.get("ENGINE") != "django.db.backends.postgresql":
        raise CopyError("the target must be a PostgreSQL database (postgres://user:password@host:5432/name)")
    connections.settings[TARGET] = connections.configure_settings({DEFAULT_DB_ALIAS: parsed})[DEFAULT_DB_ALIAS]
    target = connections[TARGET]
    try:
        target.ensure_connection()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CopyError(f"cannot connect to the target database {_describe(target)} ({first})") from None
    return target


# Tables that only ever hold an installation's own data (migrations create rows elsewhere:
# role groups, default rules, content types).
OWN_DATA = ("auth_user", "billing_importbatch", "billing_charge", "billing_billingperiod", "chargeback_auditevent")


def _refuse_unless_empty(target: BaseDatabaseWrapper) -> None:
    existing = set(target.introspection.table_names())
    with target.cursor() as cursor:
        for table in OWN_DATA:
            if table in existing:
                cursor.execute(f"SELECT 1 FROM {target.ops.quote_name(table)} LIMIT 1")  # noqa: S608
                if cursor.fetchone() is not None:
                    raise CopyError(f"the target database already holds data ({table}); give an empty database")


def _copy_table(
    model: type[models.Model],
    source: BaseDatabaseWrapper,
    target: BaseDatabaseWrapper,
    chunk_rows: int,
    progress: Progress | None,
) -> int:
    fields = list(model._meta.concrete_fields)
    quote = target.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    # Read through the ORM (values as Python objects, whatever the source's storage), written
    # as the target stores them; bypassing save() keeps auto_now timestamps as they were.
    rows = model._base_manager.using(source.alias).order_by("pk").values_list(*[f.attname for f in fields])
    copied = 0
    batch: list[list[Any]] = []
    for row in rows.iterator(chunk_size=chunk_rows):
        batch.append([f.get_db_prep_save(v, connection=target) for f, v in zip(fields, row, strict=True)])
        if len(batch) >= chunk_rows:
            _insert(model, target, sql, batch)
            copied += len(batch)
            batch.clear()
            if progress is not None:
                progress(model._meta.db_table, copied)
    if batch:
        _insert(model, target, sql, batch)
        copied += len(batch)
    return copied


def _insert(model: type[models.Model], target: BaseDatabaseWrapper, sql: str, batch: list[list[Any]]) -> None:
    """Insert a chunk; if the target refuses it, find and name the row it refused."""
    # psycopg logs the aborted pipeline of a refused chunk as a warning of its own; the refusal is
    # reported once, below, with the row it is about.
    psycopg_log = logging.getLogger("psycopg")
    level = psycopg_log.level
    psycopg_log.setLevel(logging.ERROR)
    try:
        with transaction.atomic(using=target.alias), target.cursor() as cursor:
            cursor.executemany(sql, batch)
    except (DatabaseError, ValueError):
        pk_index = [f.attname for f in model._meta.concrete_fields].index(model._meta.pk.attname)
        for values in batch:
            try:
                with transaction.atomic(using=target.alias), target.cursor() as cursor:
                    cursor.execute(sql, values)
            except (DatabaseError, ValueError) as exc:
                raise CopyError(
                    f"{model._meta.db_table} row id {values[pk_index]}: PostgreSQL refused a value "
                    f"({_first_line(exc)}); nothing was kept"
                ) from None
        raise
    finally:
        psycopg_log.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _drop_created(target: BaseDatabaseWrapper, before: set[str]) -> None:
    """Drop the tables that were not in the target before the copy (its migrations made them)."""
    created = [t for t in target.introspection.table_names() if t not in before]
    if created:
        with target.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(target.ops.quote_name(t) for t in created)} CASCADE")


def table_figures(model: type[models.Model], alias: str) -> TableFigures:
    """Row count and the exact total of every money column of one table in one database."""
    queryset = model._base_manager.using(alias)
    money = [f for f in model._meta.concrete_fields if isinstance(f, MoneyField | models.DecimalField)]
    figures = TableFigures(table=model._meta.db_table, rows=queryset.count())
    if money and figures.rows:
        totals = dict.fromkeys((f.attname for f in money), Decimal(0))
        with localcontext() as ctx:
            ctx.prec = 80  # a sum of millions of 38-digit amounts stays exact
            for row in queryset.order_by().values_list(*totals).iterator(chunk_size=20_000):
                for name, value in zip(totals, row, strict=True):
                    if value is not None:
                        totals[name] += value
        figures.totals = totals
    return figures


def database_copy(*, target_url: str, chunk_rows: int = 5000, progress: Progress | None = None) -> CopyReport:
    """Copy the `default` database into the empty PostgreSQL database at `target_url`.

    Applies the migrations on the target, then in one transaction empties what they created,
    copies every table with its ids, resets the id sequences and compares row counts and money
    totals table by table. Raises CopyError (and keeps nothing) on any difference or refused value;
    the tables the migrations created are dropped again then.
    """
    source = connections[DEFAULT_DB_ALIAS]
    target = _connect_target(target_url)
    if target.settings_dict["NAME"] == source.settings_dict["NAME"] and target.vendor == source.vendor:
        raise CopyError("the target is the database being copied")
    models_ = copied_models()
    report = CopyReport(source=_describe(source), target=_describe(target))
    try:
        _refuse_unless_empty(target)
        before = set(target.introspection.table_names())
        try:
            _migrate_and_copy(target, source, models_, chunk_rows, progress, report)
        except BaseException as exc:
            _drop_created(target, before)
            if isinstance(exc, DatabaseError):
                raise CopyError(f"the copy failed ({_first_line(exc)}); nothing was kept") from None
            raise
    finally:
        target.close()
        del connections[TARGET]
        connections.settings.pop(TARGET, None)
    return report


def _migrate_and_copy(
    target: BaseDatabaseWrapper,
    source: BaseDatabaseWrapper,
    models_: list[type[models.Model]],
    chunk_rows: int,
    progress: Progress | None,
    report: CopyReport,
) -> None:
    """Migrate the target, then copy and compare every table in one transaction."""
    call_command("migrate", database=TARGET, interactive=False, verbosity=0)
    with transaction.atomic(using=TARGET):
        quote = target.ops.quote_name
        tables = ", ".join(quote(m._meta.db_table) for m in models_)
        with target.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        for model in models_:
            _copy_table(model, source, target, chunk_rows, progress)
        with target.cursor() as cursor:
            for statement in target.ops.sequence_reset_sql(no_style(), models_):
                cursor.execute(statement)
        for model in models_:
            before, after = table_figures(model, DEFAULT_DB_ALIAS), table_figures(model, TARGET)
            if (before.rows, before.totals) != (after.rows, after.totals):
                raise CopyError(
                    f"{before.table} differs after the copy: {before.rows} rows {before.totals} "
                    f"in the source, {after.rows} rows {after.totals} in the target; nothing was kept"
                )
            report.tables.append(before)
