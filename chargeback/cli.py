"""The `openchargeback` console script: every Django management command with our settings.

`openchargeback ingest …`, `openchargeback migrate`, `openchargeback createsuperuser`, …
Run without arguments (or with --help) to list the commands. Every command also takes
`-c/--config FILE` (before or after the command name): a .env file or the older tool's
config.yaml, read before Django starts (chargeback/config_file.py). `--import-rules` with a YAML
loads its rules into a database that has none yet (`import-config`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

OWN_APPS = ("billing", "statements", "journals", "chargeback")
# A command's summary is its help's first sentence ("e.g. " and "i.e. " do not end one).
# Older spellings kept working but not listed: the list shows each command once, by its name.
ALIASES = {"load_demo": "load-demo"}
FIRST_SENTENCE = re.compile(r"(?<!\be\.g)(?<!\bi\.e)\.\s")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "openchargeback"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeback.settings")
    try:
        argv, config_path, import_rules = take_config_options(argv)
    except ValueError as exc:
        print(f"openchargeback: error: {exc}", file=sys.stderr)
        return 2
    config = None
    if config_path is not None:
        from chargeback.config_file import ConfigFileError, config_apply

        try:
            config = config_apply(Path(config_path))
        except ConfigFileError as exc:
            print(f"openchargeback: configuration error: {exc}", file=sys.stderr)
            return 2
        if config.unmapped:
            print(
                f"openchargeback: {config.path.name}: not used here (no setting of this product): "
                + ", ".join(config.unmapped),
                file=sys.stderr,
            )
    try:
        import django
        from django.core.exceptions import ImproperlyConfigured

        try:
            django.setup()
        except ImproperlyConfigured as exc:
            print(f"openchargeback: configuration error: {exc}", file=sys.stderr)
            return 2
    except ImportError as exc:  # pragma: no cover - broken install
        print(f"openchargeback: cannot import Django ({exc}); is the virtualenv active?", file=sys.stderr)
        return 2

    from django.core.management import ManagementUtility, get_commands, load_command_class

    if len(argv) < 2 or argv[1] in {"-h", "--help", "help"} and len(argv) == 2:
        commands = get_commands()
        summaries = {
            name: FIRST_SENTENCE.split(load_command_class(app, name).help, maxsplit=1)[0].rstrip(".")
            for name, app in commands.items()
            if app in OWN_APPS
        }
        print(_overview(commands, summaries))
        return 0
    if config is not None and config.yaml and config.has_rules and len(argv) > 1:
        code = first_use(config.path, argv[1], import_rules)
        if code:
            return code
    argv = legacy_import(argv)
    utility = ManagementUtility(argv)
    utility.prog_name = "openchargeback"
    try:
        if argv[1] == "version":  # Django answers `version` itself with its own version only
            utility.fetch_command("version").run_from_argv(argv)
        else:
            utility.execute()
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def take_config_options(argv: list[str]) -> tuple[list[str], str | None, bool]:
    """`-c/--config FILE` and `--import-rules` taken out of the arguments, wherever they are.

    `-c` after `shell` stays the shell's own option (a command to run); `--config` always works.
    """
    rest, config, import_rules = [argv[0]], None, False
    command = next((a for a in argv[1:] if not a.startswith("-")), "")
    args = iter(argv[1:])
    for arg in args:
        if arg == "--import-rules":
            import_rules = True
        elif arg == "--config" or (arg == "-c" and command != "shell"):
            config = next(args, None)
            if config is None:
                raise ValueError(f"{arg} needs a FILE (a .env file or the older tool's config.yaml)")
        elif arg.startswith("--config="):
            config = arg.partition("=")[2]
        else:
            rest.append(arg)
    return rest, config, import_rules


def first_use(path: Path, command: str, import_rules: bool) -> int:
    """A YAML's rules against a database without them: say to run import-config, or run it."""
    if command in ("import-config", "migrate", "help", "version"):
        return 0
    from django.core.management import call_command
    from django.db import DatabaseError

    from chargeback.models import AuditEvent

    try:
        imported = AuditEvent.objects.filter(action="config.import").exists()
    except DatabaseError:
        print(
            f"openchargeback: the database has no tables yet; run 'openchargeback migrate -c {path}'", file=sys.stderr
        )
        return 2 if import_rules else 0
    if imported:
        return 0
    if not import_rules:
        print(
            f"openchargeback: the rules of {path.name} (tag mapping, patterns, sources, journal) are not in this "
            f"database yet; run 'openchargeback import-config {path}' (or add --import-rules)",
            file=sys.stderr,
        )
        return 0
    try:
        call_command("import-config", str(path))
    except SystemExit as exc:  # pragma: no cover - import-config's own one-line error
        return int(exc.code) if isinstance(exc.code, int) else 1
    except Exception as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


def legacy_import(argv: list[str]) -> list[str]:
    """`openchargeback import billing.resources.RateResource FILE [--dry-run] [--no-input]`, the
    generic django-import-export command (which asks "Are you sure?"), runs `data import rates FILE`
    instead: the same resource, plus the audit event, the one-line errors and no prompt."""
    if len(argv) < 3 or argv[1] != "import":
        return argv
    from billing.services.data import KINDS

    names: dict[str, str] = {}
    for name, resource in KINDS.items():
        model = resource._meta.model
        names[f"{resource.__module__}.{resource.__name__}"] = name
        names[f"{model._meta.app_label}.{model.__name__}"] = name
    if argv[2] not in names:
        return argv
    kind = names[argv[2]]
    rest: list[str] = []
    options = iter(argv[3:])
    for arg in options:
        if arg in ("--no-input", "--noinput", "--raise-errors"):
            continue
        if arg in ("--format", "--encoding"):  # the file's format is taken from its name
            next(options, None)
            continue
        if arg.startswith(("--format=", "--encoding=")):
            continue
        rest.append("--dry-run" if arg == "-n" else arg)
    return [argv[0], "data", "import", kind, *rest]


def _overview(commands: dict[str, str], summaries: dict[str, str]) -> str:
    own = sorted(name for name, app in commands.items() if app in OWN_APPS and name not in ALIASES)
    other = sorted(name for name, app in commands.items() if app not in OWN_APPS)
    lines = [
        "usage: openchargeback COMMAND [options]",
        "",
        "Simple, transparent billing for research computing.",
        "Run 'openchargeback COMMAND --help' for a command's options.",
        "",
        "OpenChargeback commands:",
        *(f"  {name:<16}{summaries.get(name, '')}" for name in own),
        "",
        "Django commands (migrate, createsuperuser, …):",
        "  " + ", ".join(other),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
