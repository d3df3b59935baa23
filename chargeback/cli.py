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
# Older spellings kept working but not listed: the list shows each command once, by its name.
ALIASES = {"load_demo": "load-demo"}
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
    utility = ManagementUtility(argv)
    utility.prog_name = "openchargeback"
    try:
        utility.execute()
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


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
