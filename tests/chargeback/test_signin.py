"""Staff sign in through allauth by email; the admin sends everyone there; nobody signs up."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client

from chargeback.management.commands.load_demo import DEMO_TOTP_SECRET, DEMO_USERS, apply_users
from tests.conftest import MFA_AUTHENTICATE, give_authenticator, totp_code

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings: Any) -> None:
    """allauth counts attempts in the cache, which outlives a test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast sign-ins
    cache.clear()


@pytest.fixture
def finance_admin() -> User:
    user = User.objects.create_user("fiona", email="fiona@example.edu", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Finance admin"))
    give_authenticator(user)  # the role requires one
    return user


@pytest.fixture
def pi_alice() -> User:
    return User.objects.create_user("alice", email="alice@example.edu", password=PASSWORD)


def sign_in(
    client: Client, email: str, password: str = PASSWORD, next_url: str | None = None, *, secret: str | None = None
) -> Any:
    """The sign-in form, then the authenticator app's code if the account has an app."""
    data = {"login": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    response = client.post(LOGIN, data)
    if response.status_code == 302 and response["Location"] == MFA_AUTHENTICATE:
        response = client.post(MFA_AUTHENTICATE, {"code": totp_code(secret) if secret else totp_code()})
    return response


def signed_in_as(client: Client) -> int | None:
    user_id = client.session.get("_auth_user_id")
    return int(user_id) if user_id is not None else None


def test_staff_sign_in_by_email_and_land_on_the_admin(client: Client, finance_admin: User) -> None:
    response = sign_in(client, "fiona@example.edu")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert signed_in_as(client) == finance_admin.pk
    assert client.get("/admin/").status_code == 200


def test_signing_in_returns_to_the_admin_page_that_was_asked_for(client: Client, finance_admin: User) -> None:
    response = sign_in(client, "fiona@example.edu", next_url="/admin/password_change/")
    assert response.status_code == 302 and response["Location"] == "/admin/password_change/"


def test_a_wrong_password_is_refused(client: Client, finance_admin: User) -> None:
    response = sign_in(client, "fiona@example.edu", "not the password")
    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in response.content.decode()
    assert signed_in_as(client) is None


def test_an_unknown_email_is_refused_the_same_way(client: Client, finance_admin: User) -> None:
    response = sign_in(client, "nobody@example.edu")
    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in response.content.decode()
    assert signed_in_as(client) is None


def test_after_five_failures_even_the_right_password_is_refused(client: Client, finance_admin: User) -> None:
    for _ in range(5):
        assert "are not correct" in sign_in(client, "fiona@example.edu", "guess").content.decode()
    response = sign_in(client, "fiona@example.edu")
    # allauth answers with the sign-in form and a message, not a 429, for failed sign-ins.
    assert response.status_code == 200
    assert "Too many failed login attempts. Try again later." in response.content.decode()
    assert signed_in_as(client) is None


def test_failures_for_one_email_do_not_lock_out_another(client: Client, finance_admin: User) -> None:
    User.objects.create_user("rob", email="rob@example.edu", password=PASSWORD, is_staff=True)
    for _ in range(5):
        sign_in(client, "fiona@example.edu", "guess")
    assert sign_in(client, "rob@example.edu").status_code == 302


def test_email_matching_ignores_case(client: Client, finance_admin: User) -> None:
    assert sign_in(client, "Fiona@EXAMPLE.edu").status_code == 302
    assert signed_in_as(client) == finance_admin.pk


def test_an_address_typed_with_capitals_in_the_admin_signs_in_whatever_the_case(client: Client) -> None:
    jane = User.objects.create_user("jane", email="Jane.Doe@Example.edu", password=PASSWORD, is_staff=True)
    assert sign_in(client, "jane.doe@example.edu").status_code == 302
    assert signed_in_as(client) == jane.pk
    client.post("/accounts/logout/")
    assert sign_in(client, "Jane.Doe@Example.edu", "not the password").status_code == 200
    assert signed_in_as(client) is None


def test_an_inactive_user_cannot_sign_in(client: Client, finance_admin: User) -> None:
    finance_admin.is_active = False
    finance_admin.save()
    response = sign_in(client, "fiona@example.edu")
    assert response.status_code == 302 and response["Location"] == "/accounts/inactive/"
    assert signed_in_as(client) is None


def test_the_admin_sends_a_signed_out_visitor_to_the_sign_in_page_with_next(client: Client) -> None:
    response = client.get("/admin/password_change/", follow=True)
    assert response.redirect_chain[-1] == (f"{LOGIN}?next=/admin/password_change/", 302)
    assert response.status_code == 200
    assert 'name="next" value="/admin/password_change/"' in response.content.decode()


def test_the_admin_login_url_redirects_to_the_sign_in_page(client: Client) -> None:
    assert client.get("/admin/login/")["Location"] == f"{LOGIN}?next=/admin/"
    assert client.get("/admin/login/?next=/admin/auth/")["Location"] == f"{LOGIN}?next=/admin/auth/"


def test_the_admin_login_url_drops_a_next_pointing_elsewhere(client: Client) -> None:
    assert client.get("/admin/login/?next=https://evil.example/")["Location"] == f"{LOGIN}?next=/admin/"


def test_the_admin_login_form_cannot_be_used_to_get_around_the_rate_limits(client: Client, finance_admin: User) -> None:
    response = client.post("/admin/login/", {"username": "fiona", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert signed_in_as(client) is None


def test_signed_in_staff_visiting_the_admin_login_url_go_to_the_admin(client: Client, finance_admin: User) -> None:
    client.force_login(finance_admin)
    assert client.get("/admin/login/")["Location"] == "/admin/"


def test_signup_is_closed(client: Client) -> None:
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert "Sign Up Closed" in page.content.decode()
    assert 'name="password1"' not in page.content.decode()
    data = {"email": "mallory@example.edu", "password1": PASSWORD, "password2": PASSWORD}
    client.post("/accounts/signup/", data)
    assert not User.objects.exists()
    assert not EmailAddress.objects.exists()


def test_the_sign_in_page_does_not_offer_to_sign_up(client: Client) -> None:
    assert "/accounts/signup/" not in client.get(LOGIN).content.decode()


def test_a_non_staff_user_is_told_they_cannot_use_the_admin(client: Client, pi_alice: User) -> None:
    assert sign_in(client, "alice@example.edu").status_code == 302
    response = client.get("/admin/", follow=True)
    assert [url for url, _ in response.redirect_chain] == ["/admin/login/?next=/admin/"]
    assert response.status_code == 403
    page = response.content.decode()
    assert "not authorized to access this page" in page
    assert 'action="/accounts/logout/"' in page
    assert client.get("/admin/password_change/").status_code == 302  # to the page above, not in


def test_the_sign_in_page_sends_a_signed_in_non_staff_user_on_without_a_loop(client: Client, pi_alice: User) -> None:
    client.force_login(pi_alice)
    response = client.get(f"{LOGIN}?next=/admin/", follow=True)
    assert len(response.redirect_chain) == 2 and response.status_code == 403


def test_sign_out_is_by_post_only(client: Client, finance_admin: User) -> None:
    client.force_login(finance_admin)
    confirm = client.get("/accounts/logout/")
    assert confirm.status_code == 200 and signed_in_as(client) == finance_admin.pk
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert signed_in_as(client) is None


def test_the_admin_log_out_button_signs_out_to_the_sign_in_page(client: Client, finance_admin: User) -> None:
    client.force_login(finance_admin)
    response = client.post("/admin/logout/")
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert signed_in_as(client) is None


def test_the_sign_in_page_wears_the_admin_look_and_dark_mode(client: Client) -> None:
    page = client.get(LOGIN).content.decode()
    for asset in ("admin/css/base.css", "admin/css/login.css", "admin/css/dark_mode.css", "admin/js/theme.js"):
        assert asset in page, asset
    assert 'class="theme-toggle"' in page
    assert "<title>Sign in | OpenChargeback</title>" in page
    assert 'id="site-name"' in page and ">OpenChargeback</a>" in page


def test_the_front_door_sends_staff_to_the_admin_pis_to_the_portal_and_others_to_sign_in(
    client: Client, viewer: Any
) -> None:
    assert client.get("/")["Location"] == LOGIN  # not the admin's 403
    client.force_login(viewer)
    assert client.get("/")["Location"] == "/admin/"
    pi = User.objects.create_user("alice", "alice@example.edu", "pw")
    client.force_login(pi)
    assert client.get("/")["Location"] == "/portal/"


def test_the_demo_staff_sign_in_by_email(client: Client) -> None:
    apply_users()
    assert apply_users() == []  # a second run changes nothing
    for demo in DEMO_USERS:
        address = EmailAddress.objects.get(email=demo.email)
        assert address.verified and address.primary
    for demo in (d for d in DEMO_USERS if d.staff):
        cache.clear()
        client.post("/accounts/logout/")
        secret = DEMO_TOTP_SECRET if demo.authenticator else None
        assert sign_in(client, demo.email, demo.password, secret=secret).status_code == 302, demo.email
        assert client.get("/admin/").status_code == 200, demo.email
