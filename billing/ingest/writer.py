"""Write parsed rows: PIs and projects created on first sight, then `executemany` on SQLite or
`COPY` on PostgreSQL, chunk by chunk inside the import's transaction (memory stays flat, and a
failure anywhere leaves nothing behind)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from billing.models import PI, Charge, Project

from .columns import DEDICATED
from .rows import PI_SLOT, PROJECT_SLOT, ROW_COLUMNS, Flavor
from .rules import MasterDataEvents

FOCUS_NAME = {target: name for name, (target, _) in DEDICATED.items()}


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

    def resolve(self, rows: list[list[Any]]) -> None:
        pis, projects = self.pis, self.projects
        for row in rows:
            email, code = row[PI_SLOT], row[PROJECT_SLOT]
            if email is not None:
                row[PI_SLOT] = pis[email]
            if code is not None:
                row[PROJECT_SLOT] = projects[code]


class ChargeWriter:
    def __init__(self, *, batch_id: int, period_id: int, source_id: int) -> None:
        self.sqlite = connection.vendor == "sqlite"
        self.head = (batch_id, period_id, source_id, True)
        self.written = 0
        table = Charge._meta.db_table
        if self.sqlite:
            # The batch's constants are literals: fewer values to bind per row.
            marks = ", ".join(["%s"] * len(ROW_COLUMNS))
            self.sql = (
                f"INSERT INTO {table} (batch_id, period_id, source_id, active, {', '.join(ROW_COLUMNS)}) "  # noqa: S608
                f"VALUES ({int(batch_id)}, {int(period_id)}, {int(source_id)}, 1, {marks})"
            )
        else:
            self.sql = f"COPY {table} (batch_id, period_id, source_id, active, {', '.join(ROW_COLUMNS)}) FROM STDIN"

    def write(self, rows: list[list[Any]]) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            if self.sqlite:
                cursor.executemany(self.sql, rows)
            else:
                head = self.head
                with cursor.cursor.copy(self.sql) as copy:
                    for row in rows:
                        copy.write_row((*head, *row))
        self.written += len(rows)
