"""After `make demo`, the demo PIs sign in with their password and use the portal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from billing.models import PI

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("email", ["alice.chen@example.edu", "jose.nunez@example.edu"])
def test_a_demo_pi_signs_in_and_sees_their_statements_and_charges(
    run: Callable[..., Any], client: Client, settings: Any, email: str
) -> None:
    settings.DEBUG = True  # the demo refuses to publish passwords otherwise
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert run("load_demo").code == 0
    cache.clear()
    response = client.post("/accounts/login/", {"login": email, "password": "demo-pi"})
    assert response.status_code == 302 and response["Location"] == "/portal/"
    pi = PI.objects.get(email=email)
    home = client.get("/portal/").content.decode()
    assert "No statements yet." not in home  # the demo bills January
    statements = client.get("/portal/statements/").content.decode()
    numbers = list(pi.statements.values_list("number", flat=True))
    assert numbers and all(number in statements for number in numbers)
    charges = client.get("/portal/charges/").content.decode()
    assert "No charges match" not in charges
    codes = set(pi.projects.values_list("code", flat=True))
    projects = client.get("/portal/projects/").content.decode()
    assert codes and all(code in projects for code in codes)
