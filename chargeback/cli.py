"""The `openchargeback` console script: every Django management command with our settings.

`openchargeback ingest …`, `openchargeback migrate`, `openchargeback createsuperuser`, …
Run without arguments (or with --help) to list the commands.
"""

from __future__ import annotations

import os
import re
import sys

OWN_APPS = ("billing", "statements", "journals", "chargeback")
# A command's summary is its help's first sentence ("e.g. " and "i.e. " do not end one).
FIRST_SENTENCE = re.compile(r"(?<!\be\.g)(?<!\bi\.e)\.\s")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "openchargeback"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeback.settings")
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
    argv = legacy_import(argv)
    utility = ManagementUtility(argv)
    utility.prog_name = "openchargeback"
    try:
        utility.execute()
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 1)
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
    own = sorted(name for name, app in commands.items() if app in OWN_APPS)
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
