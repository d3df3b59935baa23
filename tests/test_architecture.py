"""Imports run one way: chargeback → billing → statements → journals, with no circles.

The checker (tests/archcheck.py) reads every module's imports with `ast`, at module level and
inside functions. The first test holds the project to it; the rest show, on a tiny package
written to a temporary folder, that it catches each kind of mistake and names where it is.
"""

from __future__ import annotations

from pathlib import Path

from tests.archcheck import check

ROOT = Path(__file__).resolve().parent.parent


def test_the_project_imports_run_one_way_with_no_circles_and_no_migration_loaded_by_name() -> None:
    problems = check(ROOT).problems()
    assert not problems, "\n".join(problems)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in {p.parent for p in root.rglob("*.py")}:
        (folder / "__init__.py").touch()
    return root


def test_an_import_of_a_higher_floor_inside_a_function_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {
        "chargeback/money.py": "X = 1\n",
        "billing/services/periods.py": "def finalize():\n    from journals.services import check\n    check()\n",
        "journals/services.py": "from billing.services.periods import finalize\n\ndef check():\n    pass\n",
    })  # fmt: skip

    assert check(tmp_path).problems() == [
        "climbs a floor: billing/services/periods.py:2 billing.services.periods imports journals.services "
        "(inside a function)",
        "import circle: billing.services.periods → journals.services → billing.services.periods",
    ]


def test_a_module_level_climb_from_the_ground_floor_is_refused_but_the_wiring_may_import_the_apps(
    tmp_path: Path,
) -> None:
    write(tmp_path, {
        "chargeback/command.py": "from statements.render import RenderError\n",
        "chargeback/urls.py": "from statements import views\n",
        "chargeback/management/commands/demo.py": "import billing.models\n",
        "billing/models.py": "",
        "statements/render.py": "class RenderError(Exception):\n    pass\n",
        "statements/views.py": "from .render import RenderError\n",
    })  # fmt: skip

    assert check(tmp_path).problems() == [
        "climbs a floor: chargeback/command.py:1 chargeback.command imports statements.render (at module level)",
    ]


def test_a_migration_loaded_by_name_outside_migrations_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {
        "chargeback/migrations/0002_roles.py": "ROLES = ()\n",
        "tests/conftest.py": (
            "import importlib\n\n"
            "roles = importlib.import_module('chargeback.migrations.0002_roles')\n"
        ),
    })  # fmt: skip

    assert check(tmp_path).problems() == [
        "loads a migration by name: tests/conftest.py:3 loads chargeback.migrations.0002_roles",
    ]


def test_a_circle_inside_one_app_is_refused_even_through_relative_and_type_only_imports(tmp_path: Path) -> None:
    write(tmp_path, {
        "billing/services/ingest.py": "from .carry_over import carry\n\nclass Report:\n    pass\n",
        "billing/services/carry_over.py": (
            "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .ingest import Report\n\n"
            "def carry(report: 'Report') -> None:\n    pass\n"
        ),
    })  # fmt: skip

    assert check(tmp_path).problems() == [
        "import circle: billing.services.carry_over → billing.services.ingest → billing.services.carry_over",
    ]


def test_a_service_may_queue_its_own_apps_task_though_the_task_calls_the_service(tmp_path: Path) -> None:
    write(tmp_path, {
        "statements/services/delivery.py": "def queue():\n    from statements.tasks import send\n    send()\n",
        "statements/tasks.py": "from statements.services.delivery import queue\n\ndef send():\n    pass\n",
    })  # fmt: skip

    assert check(tmp_path).problems() == []
