"""pytest plugin for `make mutate`: each mutant's tests start from a copy of the migrated database.

mutmut runs the tests once in its own process, then forks a child per mutant that starts a new
pytest session; on SQLite each session would migrate a fresh in-memory database again (about two
seconds of CPU, most of a killed mutant's cost). Here the first session of the process migrates
as usual and keeps the database's bytes; every later session, in particular each forked child,
loads those bytes into a new in-memory database of its own instead of migrating.

A mutant's session runs only the tests of its own module's feature (`OWN_TESTS`) among those mutmut
chose for it: every test that merely passes through the code (a journal test generates statements
on the way, say) would otherwise run before the one that checks the figure, and all of them for a
mutant that survives.

Only `[tool.mutmut]`'s `pytest_add_cli_args` loads it (`-p tests.mutation`); ordinary test runs
never do. Schema and data migrations run on the unmutated code, so code that only runs while
migrating is not something mutation testing here can judge (none of the mutated functions is).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Generator
from typing import Any

import pytest

_snapshot: list[bytes] = []  # the migrated database, taken in the process's first session

# The test files that check each mutated module's figures.
OWN_TESTS = {
    "chargeback.money": ("tests/chargeback/test_money.py", "tests/statements/test_statement_lines.py"),
    "statements.services.plan": ("tests/statements/test_statement_lines.py", "tests/statements/test_generate.py"),
    "statements.services.generate": ("tests/statements/test_statement_lines.py", "tests/statements/test_generate.py"),
    "statements.services.render": ("tests/statements/test_statement_lines.py", "tests/statements/test_pdf.py"),
    "statements.services.pdf": ("tests/statements/test_pdf.py", "tests/statements/test_statement_lines.py"),
    "journals.services.build": ("tests/journals/",),
    "billing.services.carry_over": ("tests/billing/test_carry_over.py", "tests/billing/test_ingest.py"),
    "statements.services.funding": ("tests/funding/test_split_statements.py",
                                    "tests/statements/test_statement_lines.py"),
    "billing.pricing": ("tests/billing/test_convert_slurm.py", "tests/billing/test_convert_storage.py",
                        "tests/billing/test_rates.py"),
}  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a mutant's session, keep only the tests of the mutated module's feature (if any)."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if "__mutmut_" not in mutant:
        return
    module = mutant.split("__mutmut_")[0].rsplit(".", 1)[0]
    own = OWN_TESTS.get(module)
    if own is None:
        return
    kept = [item for item in items if item.nodeid.startswith(own)]
    if kept and len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def _is_sqlite() -> bool:
    from django.db import connection

    return connection.vendor == "sqlite"


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> bool | None:
    """Set up `django_db_setup` from the snapshot, when there is one."""
    if fixturedef.argname != "django_db_setup" or not _snapshot or not _is_sqlite():
        return None
    for name in fixturedef.argnames:  # the settings, test environment and blocker it depends on
        request.getfixturevalue(name)
    from django.conf import settings
    from django.db import connection
    from django.db.backends.base.base import BaseDatabaseWrapper

    # Let go of a connection inherited from the parent process (its database stays the parent's)
    # and open a private in-memory database named after this process.
    BaseDatabaseWrapper.close(connection)
    name = f"file:mutant{os.getpid()}?mode=memory&cache=shared"
    settings.DATABASES[connection.alias]["NAME"] = connection.settings_dict["NAME"] = name
    blocker = request.getfixturevalue("django_db_blocker")
    with blocker.unblock():
        connection.ensure_connection()
        source = sqlite3.connect(":memory:")
        try:
            source.deserialize(_snapshot[0])
            source.backup(connection.connection)
        finally:
            source.close()
    fixturedef.cached_result = (None, fixturedef.cache_key(request), None)
    return True


class _Snapshot:
    """Keeps the database the process's first session migrated."""

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Generator[None, Any, Any]:
        result = yield
        if fixturedef.argname == "django_db_setup" and not _snapshot and _is_sqlite():
            from django.db import connection

            with request.getfixturevalue("django_db_blocker").unblock():
                connection.ensure_connection()
                _snapshot.append(connection.connection.serialize())
        return result


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Snapshot(), "mutation-snapshot")
