"""A real SMTP server in the test process (aiosmtpd), told in advance how to answer each message.

`server.answers` is consumed one entry per message: an SMTP reply ("451 4.3.0 try later"), or
"drop at data" (the connection is reset when the client starts the message, before the
server's 354 go-ahead, so nothing of it was sent), or "accept then drop" (the message is kept and the connection reset
before the 250 reply). With no entry left, messages are kept and answered 250. `server.refuse`
maps a recipient address to a reply for its RCPT command.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

DROP_AT_DATA = "drop at data"
ACCEPT_THEN_DROP = "accept then drop"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Server:
    host: str = "127.0.0.1"
    port: int = 0
    answers: list[str] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    transactions: int = 0  # DATA commands seen, whatever their outcome

    def next_answer(self) -> str:
        return self.answers.pop(0) if self.answers else ""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = self.next_answer()
        if answer[:1] in {"4", "5"}:
            return answer
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        if answer == ACCEPT_THEN_DROP:
            reset(server.transport)
        return f"250 2.0.0 Ok: queued as M{len(self.received)}"


def reset(transport: Any) -> None:
    """Close with a TCP reset, as a crashing relay or a middlebox would."""
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _Scripted(SMTP):
    async def smtp_DATA(self, arg: str) -> None:
        handler: Server = self.event_handler
        if self.envelope is not None and self.envelope.rcpt_tos and handler.answers[:1] == [DROP_AT_DATA]:
            handler.answers.pop(0)
            handler.transactions += 1
            reset(self.transport)
            return
        if self.envelope is not None and self.envelope.rcpt_tos:
            handler.transactions += 1
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Scripted(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    """A running server on 127.0.0.1; with `tls` it offers STARTTLS and refuses mail without it."""
    server = Server(port=free_port())
    kwargs: dict[str, Any] = {"tls_context": tls, "require_starttls": True} if tls else {}
    controller = _Controller(server, hostname=server.host, port=server.port, **kwargs)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
