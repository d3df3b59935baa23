"""The admin guide's role table says what the role groups may do, as the code grants it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db

ROLE_ROW = re.compile(r"^\| \*\*(?P<role>[^*]+)\*\* \| (?P<may>.+) \|$", re.MULTILINE)


def role_table() -> dict[str, str]:
    text = (Path(settings.BASE_DIR) / "docs" / "admin.md").read_text(encoding="utf-8")
    return {m["role"]: m["may"] for m in ROLE_ROW.finditer(text)}


def test_the_role_table_names_every_role() -> None:
    assert sorted(role_table()) == ["Finance admin", "Reviewer", "Viewer"]


@pytest.mark.parametrize("role", ["Finance admin", "Reviewer", "Viewer"])
def test_whoever_may_send_statement_email_is_said_to_in_the_role_table(role: str) -> None:
    may = role_table()[role]
    can_send = Group.objects.get(name=role).permissions.filter(codename="send_statement").exists()
    said = may.startswith("everything") or "send and resend statement emails" in may
    assert said == can_send, f"{role}: {may}"
