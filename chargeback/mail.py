"""The SMTP backend: Django's, plus a CA file for the server's certificate, the server's last reply,
and a name for the one outcome SMTP cannot settle (the connection lost after the message was sent).

SMTP makes the server responsible for a message only once it has answered the end of the data
with 250 (RFC 5321, section 6.1). A connection lost before the whole message was written cannot
have delivered it; one lost after the last byte and before the reply may have (RFC 1047). The
backend tells these apart so that the outbox retries the first and leaves the second to a person.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend
from django.core.validators import validate_email

END_OF_DATA = b"\r\n.\r\n"


class MessageMaybeDelivered(smtplib.SMTPServerDisconnected):
    """The connection closed after the whole message was written and before the server's reply."""


class _Tracking:
    """Remembers whether the end of the message data was written, and the reply to it."""

    handed_over = False
    last_reply: tuple[int, bytes] | None = None

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(END_OF_DATA):
            self.handed_over = True

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.last_reply = super().data(msg)  # type: ignore[misc]
        return self.last_reply


class _SMTP(_Tracking, smtplib.SMTP):
    pass


class _SMTPSSL(_Tracking, smtplib.SMTP_SSL):
    pass


class SMTPBackend(EmailBackend):
    """Django's SMTP backend; EMAIL_SSL_CAFILE names the CA that signed the server's certificate."""

    def __init__(self, *args: Any, ssl_cafile: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ssl_cafile = getattr(settings, "EMAIL_SSL_CAFILE", "") if ssl_cafile is None else ssl_cafile

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _SMTPSSL if self.use_ssl else _SMTP

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ssl_cafile or None)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    @property
    def last_reply(self) -> tuple[int, bytes] | None:
        return getattr(self.connection, "last_reply", None)

    def _send(self, email_message: Any) -> bool:
        if isinstance(self.connection, _Tracking):
            self.connection.handed_over = False
            self.connection.last_reply = None
        try:
            return bool(super()._send(email_message))  # type: ignore[misc]
        except smtplib.SMTPServerDisconnected as exc:
            if getattr(self.connection, "handed_over", False):
                raise MessageMaybeDelivered(
                    "the connection closed after the whole message was sent and before the server's reply; "
                    "the server may have accepted it"
                ) from exc
            raise


@dataclass(frozen=True)
class Refusal:
    """What went wrong, in one line, and whether trying again later can help."""

    kind: str  # temporary, permanent or unknown (the message may have gone out)
    text: str


def refusal(exc: BaseException) -> Refusal:
    """One line for an exception raised while sending, with its kind."""
    if isinstance(exc, MessageMaybeDelivered):
        return Refusal("unknown", str(exc))
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        text = "; ".join(f"SMTP {code} for {addr}: {_text(msg)}" for addr, (code, msg) in exc.recipients.items())
        return Refusal("temporary" if all(400 <= c < 500 for c in codes) else "permanent", text)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}"
        return Refusal("temporary" if 400 <= exc.smtp_code < 500 else "permanent", text)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Refusal(
            "permanent",
            f"the SMTP server's TLS certificate is not trusted ({exc.verify_message}); "
            "set EMAIL_SSL_CAFILE to the CA certificate that signed it",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Refusal("permanent", f"the SMTP server does not offer it: {exc} (check EMAIL_USE_TLS and EMAIL_PORT)")
    return Refusal("temporary", f"{type(exc).__name__}: {exc}")


def _text(raw: bytes | str) -> str:
    value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(value.split())


class MailCheckError(Exception):
    """The test message did not go out; the message says why in one line."""


@dataclass(frozen=True)
class MailCheck:
    to: str
    via: str  # where the message went: host and port, or the mail folder
    reply: str  # what the server answered the message with ("" for non-SMTP backends)


def mail_check(*, to: str) -> MailCheck:
    """Send a short test message through the configured backend and report the server's answer."""
    try:
        validate_email(to)
    except ValidationError:
        raise MailCheckError(f"{to!r} is not an email address") from None
    connection = get_connection(fail_silently=False)
    if isinstance(connection, EmailBackend):
        security = " (TLS)" if connection.use_ssl else " (STARTTLS)" if connection.use_tls else " (no TLS)"
        via = f"{connection.host}:{connection.port}{security}"
    else:
        via = getattr(connection, "file_path", "") or type(connection).__module__
    message = EmailMessage(
        subject="OpenChargeback test message",
        body="This message checks that OpenChargeback can send email. Nothing needs to be done with it.\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        connection=connection,
    )
    try:
        connection.open()
        message.send()
        last = getattr(connection, "last_reply", None)
    except OSError as exc:
        raise MailCheckError(f"sending through {via} failed: {refusal(exc).text}") from None
    finally:
        connection.close()
    reply = f"{last[0]} {_text(last[1])}" if last else ""
    return MailCheck(to=to, via=via, reply=reply)
