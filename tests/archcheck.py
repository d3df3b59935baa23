"""Reads a project's imports with ``ast`` and names the ones that break the floors.

Floors, from the ground up: ``chargeback`` → ``billing`` → ``statements`` → ``journals``. A
module may import its own floor and the ones below it, never one above, not even inside a
function. The project's wiring (urls, admin site, dashboard, cli, commands…) is exempt: it is
where the apps meet. Migrations are never loaded by name outside ``migrations/``, and app
modules form no import circle; the one allowed back-reference is a service queueing its own
app's Celery task (``<app>.services…`` → ``<app>.tasks``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

FLOORS: tuple[str, ...] = ("chargeback", "billing", "statements", "journals")
WIRING: tuple[str, ...] = (
    "chargeback.urls",
    "chargeback.admin_site",
    "chargeback.dashboard",
    "chargeback.wsgi",
    "chargeback.asgi",
    "chargeback.celery",
    "chargeback.cli",
    "chargeback.health",
    "chargeback.management.commands.*",
)
SKIPPED_DIRS = {"var", "node_modules", "__pycache__", "build", "mutants"}  # and hidden folders (.venv, .venv-focus)


@dataclass(frozen=True)
class Import:
    importer: str
    path: Path
    line: int
    imported: str
    in_function: bool
    type_only: bool

    def __str__(self) -> str:
        where = "inside a function" if self.in_function else "at module level"
        return f"{self.path}:{self.line} {self.importer} imports {self.imported} ({where})"


@dataclass
class Report:
    upward: list[Import] = field(default_factory=list)
    migrations_by_name: list[str] = field(default_factory=list)
    circles: list[list[str]] = field(default_factory=list)

    def problems(self) -> list[str]:
        lines = [f"climbs a floor: {imp}" for imp in self.upward]
        lines += [f"loads a migration by name: {where}" for where in self.migrations_by_name]
        lines += ["import circle: " + " → ".join([*circle, circle[0]]) for circle in self.circles]
        return lines


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(root: Path, packages: Iterable[str] | None = None) -> list[Path]:
    tops = [root / name for name in packages] if packages is not None else [root]
    found: list[Path] = []
    for top in tops:
        for path in sorted(top.rglob("*.py")):
            parts = path.relative_to(root).parts
            if not SKIPPED_DIRS.intersection(parts) and not any(p.startswith(".") for p in parts[:-1]):
                found.append(path)
    return found


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, module] if module else base)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def read_imports(root: Path, path: Path, known: set[str]) -> list[Import]:
    """Every import in one file, resolved to the deepest known module it names."""
    importer = module_name(root, path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def add(node: ast.stmt, target: str, in_function: bool, type_only: bool) -> None:
        found.append(Import(importer, path.relative_to(root), node.lineno, target, in_function, type_only))

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(child, alias.name, in_function, type_only)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(importer, is_package, child.level, child.module)
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    add(child, candidate if candidate in known else base, in_function, type_only)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, in_function, True)
            else:
                visit(child, in_function, type_only)

    visit(tree, False, False)
    return found


def migrations_loaded_by_name(root: Path, path: Path) -> list[str]:
    """``importlib.import_module("app.migrations.…")`` and the like, outside ``migrations/``."""
    if "migrations" in path.relative_to(root).parts:
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and ".migrations." in arg.value:
                    hits.append(f"{path.relative_to(root)}:{node.lineno} loads {arg.value}")
    return hits


def floor_of(module: str, floors: Sequence[str]) -> int | None:
    top = module.split(".")[0]
    return floors.index(top) if top in floors else None


def is_wiring(module: str, wiring: Sequence[str]) -> bool:
    return any(fnmatch(module, pattern) for pattern in wiring)


def allowed_back_reference(importer: str, imported: str) -> bool:
    """A service may queue its own app's Celery task."""
    app = importer.split(".")[0]
    return importer.startswith(f"{app}.services") and imported == f"{app}.tasks"


def _cycle_through(start: str, members: set[str], edges: dict[str, set[str]]) -> list[str]:
    """The shortest path from ``start`` back to itself inside one strongly connected component."""
    paths: dict[str, list[str]] = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges.get(node, set()) & members):
            if nxt == start:
                return paths[node]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return sorted(members)


def find_circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as one cycle path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(_cycle_through(min(component), set(component), edges))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return sorted(components)


def check(
    root: Path,
    floors: Sequence[str] = FLOORS,
    wiring: Sequence[str] = WIRING,
) -> Report:
    app_files = python_files(root, [name for name in floors if (root / name).is_dir()])
    known = {module_name(root, path) for path in app_files}
    report = Report()
    edges: dict[str, set[str]] = {}
    for path in app_files:
        for imp in read_imports(root, path, known):
            mine, theirs = floor_of(imp.importer, floors), floor_of(imp.imported, floors)
            if mine is None or theirs is None:
                continue
            if theirs > mine and not is_wiring(imp.importer, wiring):
                report.upward.append(imp)
            if (
                imp.imported in known
                and imp.imported != imp.importer
                and "migrations" not in imp.importer.split(".")
                and not allowed_back_reference(imp.importer, imp.imported)
            ):
                edges.setdefault(imp.importer, set()).add(imp.imported)
    for path in python_files(root):
        report.migrations_by_name += migrations_loaded_by_name(root, path)
    report.circles = find_circles(edges)
    return report
