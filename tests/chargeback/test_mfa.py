"""Staff's second factor: finance admins and superusers need an authenticator app, and a mailbox
alone (a password reset) never opens an account that has one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache
from django.test import Client

from tests.conftest import MFA_AUTHENTICATE, make_staff, totp_code

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ACTIVATE = "/accounts/2fa/totp/activate/"
RESET_LINK = re.compile(r"https?://testserver(/accounts/password/reset/key/\S+/)")


@pytest.fixture(autouse=True)
def _fresh(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # rate limits and used codes live in the cache


def password_step(client: Client, email: str, password: str | None = None) -> Any:
    return client.post(LOGIN, {"login": email, "password": password or f"pw-{email}"})


def open_setup(client: Client, email: str) -> Any:
    """The set-up page, which first asks for the password again (allauth's reauthentication)."""
    asked = client.get(ACTIVATE)
    assert asked["Location"].startswith("/accounts/reauthenticate/"), asked
    assert client.post(asked["Location"], {"password": f"pw-{email}"})["Location"] == ACTIVATE
    return client.get(ACTIVATE)


def signed_in_as(client: Client) -> int | None:
    user_id = client.session.get("_auth_user_id")
    return int(user_id) if user_id is not None else None


@pytest.mark.parametrize("role", ["Finance admin", "superuser"])
def test_a_finance_admin_or_superuser_without_an_app_sets_one_up_before_the_admin(client: Client, role: str) -> None:
    if role == "superuser":
        fiona = make_staff("fiona@example.edu", "Viewer")
        User.objects.filter(pk=fiona.pk).update(is_superuser=True)
    else:
        fiona = make_staff("fiona@example.edu", "Finance admin", authenticator=False)
    assert password_step(client, "fiona@example.edu")["Location"] == "/admin/"
    for page in ("/admin/", "/admin/billing/charge/", "/admin/auth/user/"):
        assert client.get(page)["Location"] == ACTIVATE, page
    setup = open_setup(client, "fiona@example.edu")
    assert setup.status_code == 200
    secret = setup.context["form"].secret
    assert secret in setup.content.decode()
    assert client.post(ACTIVATE, {"code": "000000" if totp_code(secret) != "000000" else "111111"}).status_code == 200
    assert client.get("/admin/")["Location"] == ACTIVATE  # a wrong code set nothing up
    assert client.post(ACTIVATE, {"code": totp_code(secret)}).status_code == 302
    assert Authenticator.objects.filter(user=fiona, type=Authenticator.Type.TOTP).exists()
    assert client.get("/admin/").status_code == 200


def test_without_an_app_the_admins_log_out_still_works(client: Client) -> None:
    make_staff("fiona@example.edu", "Finance admin", authenticator=False)
    password_step(client, "fiona@example.edu")
    client.post("/admin/logout/")
    assert signed_in_as(client) is None


@pytest.mark.parametrize("role", ["Reviewer", "Viewer"])
def test_reviewers_and_viewers_may_work_without_an_app_and_may_set_one_up(client: Client, role: str) -> None:
    make_staff("rita@example.edu", role)
    assert password_step(client, "rita@example.edu")["Location"] == "/admin/"
    admin_page = client.get("/admin/").content.decode()
    assert '<a href="/accounts/2fa/">Two-factor authentication</a>' in admin_page
    assert open_setup(client, "rita@example.edu").status_code == 200


def test_an_account_with_an_app_is_asked_for_its_code_at_sign_in(client: Client) -> None:
    fiona = make_staff("fiona@example.edu", "Finance admin")
    assert password_step(client, "fiona@example.edu")["Location"] == MFA_AUTHENTICATE
    assert signed_in_as(client) is None
    assert client.get("/admin/").status_code == 302
    assert client.post(MFA_AUTHENTICATE, {"code": "12345"}).status_code == 200  # refused
    assert signed_in_as(client) is None
    assert client.post(MFA_AUTHENTICATE, {"code": totp_code()})["Location"] == "/admin/"
    assert signed_in_as(client) == fiona.pk


def test_a_password_reset_by_mail_still_ends_at_the_code(client: Client) -> None:
    fiona = make_staff("fiona@example.edu", "Finance admin")
    client.post("/accounts/password/reset/", {"email": "fiona@example.edu"})
    assert [m.to for m in mail.outbox] == [["fiona@example.edu"]]
    link = RESET_LINK.search(str(mail.outbox[0].body))
    assert link, mail.outbox[0].body
    form_url = client.get(link.group(1))["Location"]
    done = client.post(form_url, {"password1": "a-new-long-secret-42", "password2": "a-new-long-secret-42"})
    assert done.status_code == 302
    assert signed_in_as(client) is None  # the reset signs nobody in
    assert password_step(client, "fiona@example.edu", "a-new-long-secret-42")["Location"] == MFA_AUTHENTICATE
    assert signed_in_as(client) is None
    assert client.get("/admin/").status_code == 302
    client.post(MFA_AUTHENTICATE, {"code": totp_code()})
    assert signed_in_as(client) == fiona.pk


@pytest.mark.parametrize("role", ["Finance admin", "Reviewer"])
def test_staff_without_an_app_get_no_password_reset_mail(client: Client, role: str) -> None:
    make_staff("fiona@example.edu", role, authenticator=False)
    response = client.post("/accounts/password/reset/", {"email": "fiona@example.edu"})
    assert response.status_code == 302  # the same answer as for any address
    assert mail.outbox == []


def test_a_recovery_code_signs_in_once(client: Client) -> None:
    fiona = make_staff("fiona@example.edu", "Finance admin")
    code = RecoveryCodes.activate(fiona).get_unused_codes()[0]
    password_step(client, "fiona@example.edu")
    assert client.post(MFA_AUTHENTICATE, {"code": code})["Location"] == "/admin/"
    assert signed_in_as(client) == fiona.pk
    client.post("/accounts/logout/")
    password_step(client, "fiona@example.edu")
    assert client.post(MFA_AUTHENTICATE, {"code": code}).status_code == 200  # used up
    assert signed_in_as(client) is None
