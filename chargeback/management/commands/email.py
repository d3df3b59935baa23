from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from chargeback.command import ChargebackCommand, Error
from chargeback.mail import MailCheckError, mail_check


class Command(ChargebackCommand):
    help = (
        "Check outgoing email: `email check ADDRESS` sends a test message through the configured backend "
        "(the SMTP server of EMAIL_HOST, or files under the data folder without it) and prints what the "
        "server answered; a refusal or a TLS or connection problem is one line and exit status 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = self.add_subcommands(parser, "{check}")
        p = sub.add_parser("check", help="Send a test message to ADDRESS and print the server's answer")
        p.add_argument("address", metavar="ADDRESS")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = mail_check(to=options["address"])
        except MailCheckError as exc:
            raise Error(str(exc), returncode=1) from None
        said = f"; the server said: {result.reply}" if result.reply else ""
        text = f"Sent a test message to {result.to} through {result.via}{said}"
        self.emit(options, {"to": result.to, "via": result.via, "reply": result.reply}, text)
