"""The base of every `openchargeback` command: `--format text|json`, one-line errors, exit 1."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError

from chargeback.audit import Actor
from chargeback.busy import BUSY_MESSAGE, database_busy
from chargeback.errors import DomainError


class Error(CommandError):
    """Printed by Django as `Error: <message>` on stderr, exit status 1."""


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=lambda o: format(o, "f") if isinstance(o, Decimal) else str(o))


class ChargebackCommand(BaseCommand):
    """Domain errors become one line on stderr and exit status 1; never a traceback."""

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_format_argument(parser)

    @staticmethod
    def add_format_argument(parser: Any) -> None:
        parser.add_argument(
            "--format", choices=["text", "json"], default="text", dest="output_format",
            help="Output: a short human summary (text) or JSON",
        )  # fmt: skip

    def add_subcommands(self, parser: CommandParser, metavar: str) -> Any:
        """Subcommands (`periods list`, …), each taking --format."""
        sub = parser.add_subparsers(dest="action", required=True, metavar=metavar)
        original = sub.add_parser

        def add_parser(name: str, **kwargs: Any) -> Any:
            child = original(name, **kwargs)
            self.add_format_argument(child)
            return child

        sub.add_parser = add_parser  # type: ignore[method-assign]
        return sub

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise Error(str(exc), returncode=1) from None
        except OperationalError as exc:
            if database_busy(exc):
                raise Error(BUSY_MESSAGE, returncode=1) from None
            raise

    @property
    def actor(self) -> Actor:
        return Actor.cli()

    def emit(self, options: dict[str, Any], data: Any, text: str) -> None:
        if options.get("output_format") == "json":
            self.stdout.write(to_json(data))
        else:
            self.stdout.write(text)
