"""Shared fixtures: personas, FOCUS file builders and the command runner."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

MINIMAL_HEADER = [
    "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ListCost",
    "ContractedCost", "BilledCost", "EffectiveCost", "ResourceId", "ResourceName", "ServiceName", "Tags",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated_data_dir(settings: Any, tmp_path: Path) -> None:
    """Stored originals, PDFs and mail go to a per-test folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")


@pytest.fixture(autouse=True)
def _sources_with_a_credit_side(request: Any) -> None:
    """The built-in sources as a configured installation has them: with the journal's credit side.

    A fresh install's sources have none, and `periods check` names that as a blocker before a
    period can close; tests about that clear it again."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return
    if marker is None and "db" not in request.fixturenames:
        return
    request.getfixturevalue("db")
    give_sources_a_credit_side()


def give_sources_a_credit_side() -> None:
    from billing.models import Source

    Source.objects.filter(credit_fund_org="").update(credit_fund_org="RC-OPS")
    Source.objects.filter(gl_account="").update(gl_account="54000")


def tags(
    pi: str | None = "alice@example.edu",
    project: str | None = "genomics",
    fund: str | None = "BIO-2025-001",
    **more: str,
) -> str:
    data = {"pi_email": pi, "project_id": project, "fund_org": fund, **more}
    return json.dumps({k: v for k, v in data.items() if v is not None})


def minimal_row(
    billed: str = "100.00",
    *,
    listed: str | None = None,
    period: str = "2025-01",
    resource: str = "i-1",
    service: str = "Amazon EC2",
    tag_json: str | None = None,
) -> list[str]:
    start = f"{period}-01"
    return [
        start, f"{period}-28", start, f"{period}-28", listed or billed, billed, billed, billed,
        resource, resource, service, tag_json if tag_json is not None else tags(),
    ]  # fmt: skip


@dataclass
class FocusFiles:
    root: Path

    def write(
        self,
        name: str,
        rows: Sequence[Sequence[str]],
        header: Sequence[str] = MINIMAL_HEADER,
        *,
        newline: str = "\n",
        bom: bool = False,
        gz: bool = False,
    ) -> Path:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=newline)
        writer.writerow(header)
        writer.writerows(rows)
        text = ("\ufeff" if bom else "") + buffer.getvalue()
        path = self.root / name
        data = text.encode()
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    def raw(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def focus_files(tmp_path: Path) -> FocusFiles:
    folder = tmp_path / "in"
    folder.mkdir()
    return FocusFiles(folder)


@dataclass
class Result:
    out: str
    err: str
    code: int

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def run() -> Callable[..., Result]:
    """Run an openchargeback command the way the console does; errors give a code, not a raise."""

    def _run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(*args, stdout=out, stderr=err)
        except CommandError as exc:
            return Result(out.getvalue(), str(exc), exc.returncode)
        return Result(out.getvalue(), err.getvalue(), 0)

    return _run


@pytest.fixture
def in_ci() -> Iterator[bool]:
    yield os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# The authenticator app of the staff the tests make (finance admins and superusers must have one).
STAFF_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
MFA_AUTHENTICATE = "/accounts/2fa/authenticate/"


def totp_code(secret: str = STAFF_TOTP_SECRET, *, at: float | None = None) -> str:
    """The authenticator app's current code (RFC 6238, allauth's own HOTP function)."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    counter = int(time.time() if at is None else at) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))


def give_authenticator(user: Any, secret: str = STAFF_TOTP_SECRET) -> None:
    from allauth.mfa.totp.internal.auth import TOTP

    TOTP.activate(user, secret)


def make_staff(email: str, group: str, *, authenticator: bool | None = None) -> Any:
    """A staff member in a role; finance admins get an authenticator app unless told otherwise."""
    from django.contrib.auth.models import Group, User

    if not Group.objects.filter(name=group).exists():
        # Transactional tests flush the groups the roles migration created; make them again.
        from django.apps import apps

        from chargeback.roles import roles_sync

        roles_sync(apps)
    user = User.objects.create_user(username=email, email=email, password="pw-" + email, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    if authenticator or (authenticator is None and group == "Finance admin"):
        give_authenticator(user)
    return user


@pytest.fixture
def finance_admin(db: Any) -> Any:
    return make_staff("finance@example.edu", "Finance admin")


@pytest.fixture
def reviewer(db: Any) -> Any:
    return make_staff("reviewer@example.edu", "Reviewer")


@pytest.fixture
def viewer(db: Any) -> Any:
    return make_staff("viewer@example.edu", "Viewer")


@pytest.fixture
def admin_user(admin_user: Any) -> Any:
    """pytest-django's superuser, with the authenticator app superusers must have."""
    give_authenticator(admin_user)
    return admin_user
