"""PIs and delegates sign in with an emailed code (or a password they set); accounts link by verified email."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialLogin
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache
from django.test import Client, RequestFactory

from billing.models import PI
from statements.models import PortalDelegate
from statements.portal.accounts import SocialAccountAdapter, pi_link_user
from tests.portal.conftest import World

pytestmark = pytest.mark.django_db

REQUEST_CODE = "/accounts/login/code/"
CONFIRM_CODE = "/accounts/login/code/confirm/"
CODE_LINE = re.compile(r"^\s*([A-Z0-9]{4,}(?:-[A-Z0-9]+)*)\s*$", re.MULTILINE)


@pytest.fixture(autouse=True)
def _fresh(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()


@pytest.fixture
def pi_carol(db: Any) -> PI:
    return PI.objects.create(email="carol@example.edu", name="Carol Diaz")


def code_from(message: Any) -> str:
    match = CODE_LINE.search(message.body)
    assert match, message.body
    return match.group(1)


def sign_in_with_code(client: Client, email: str) -> Any:
    client.post(REQUEST_CODE, {"email": email})
    return client.post(CONFIRM_CODE, {"code": code_from(mail.outbox[-1])})


def signed_in_as(client: Client) -> int | None:
    user_id = client.session.get("_auth_user_id")
    return int(user_id) if user_id is not None else None


def test_a_pi_without_an_account_signs_in_with_a_code_and_is_linked(client: Client, pi_carol: PI) -> None:
    response = client.post(REQUEST_CODE, {"email": "Carol@Example.edu"})
    assert response.status_code == 302 and response["Location"] == CONFIRM_CODE
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["carol@example.edu"]
    user = User.objects.get(email="carol@example.edu")
    pi_carol.refresh_from_db()
    assert pi_carol.user is None  # not before the address is proved
    response = client.post(CONFIRM_CODE, {"code": code_from(mail.outbox[0])})
    assert response.status_code == 302 and response["Location"] == "/portal/"
    assert signed_in_as(client) == user.pk
    pi_carol.refresh_from_db()
    assert pi_carol.user == user
    assert EmailAddress.objects.get(user=user).verified
    assert not user.has_usable_password() and not user.is_staff
    assert client.get("/portal/").status_code == 200


def test_an_unknown_address_gets_the_same_answer_and_no_email_and_no_account(client: Client, pi_carol: PI) -> None:
    known = client.post(REQUEST_CODE, {"email": "carol@example.edu"})
    other = Client()
    unknown = other.post(REQUEST_CODE, {"email": "mallory@example.edu"})
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    page_known = client.get(CONFIRM_CODE).content.decode().replace("carol@example.edu", "ADDRESS")
    page_unknown = other.get(CONFIRM_CODE).content.decode().replace("mallory@example.edu", "ADDRESS")
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert strip.sub("", page_known) == strip.sub("", page_unknown)
    assert [m.to for m in mail.outbox] == [["carol@example.edu"]]
    assert not User.objects.filter(email="mallory@example.edu").exists()


def test_staff_get_no_sign_in_code(client: Client) -> None:
    from tests.conftest import make_staff

    make_staff("finance@example.edu", "Finance admin")
    response = client.post(REQUEST_CODE, {"email": "finance@example.edu"})
    assert response.status_code == 302 and response["Location"] == CONFIRM_CODE
    assert mail.outbox == []


def test_a_wrong_code_three_times_ends_the_attempt(client: Client, pi_carol: PI) -> None:
    client.post(REQUEST_CODE, {"email": "carol@example.edu"})
    for _ in range(3):
        client.post(CONFIRM_CODE, {"code": "WRONG1"})
    response = client.post(CONFIRM_CODE, {"code": code_from(mail.outbox[0])})
    assert signed_in_as(client) is None
    assert response.status_code in (200, 302)


def test_code_requests_are_rate_limited_per_address(client: Client, pi_carol: PI) -> None:
    for _ in range(3):
        Client().post(REQUEST_CODE, {"email": "carol@example.edu"})
    response = client.post(REQUEST_CODE, {"email": "carol@example.edu"})
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert len(mail.outbox) == 3


def test_a_delegate_signs_in_with_a_code_and_sees_what_was_shared(client: Client, world: World) -> None:
    PortalDelegate.objects.create(pi=world.pi_bob, email="erin@example.edu", all_projects=True)
    sign_in_with_code(client, "erin@example.edu")
    erin = User.objects.get(email="erin@example.edu")
    assert signed_in_as(client) == erin.pk
    assert not PI.objects.filter(user=erin).exists()
    page = client.get("/portal/statements/").content.decode()
    assert world.st_astro.number in page and world.st_genomics.number not in page
    assert "Shared with you by" in client.get("/portal/").content.decode()


def test_an_account_is_linked_to_its_pi_only_by_a_verified_address(client: Client, pi_carol: PI) -> None:
    user = User.objects.create_user("carol", email="carol@example.edu", password="pw-carol-1234")
    EmailAddress.objects.create(user=user, email="carol@example.edu", verified=False, primary=True)
    client.post("/accounts/login/", {"login": "carol@example.edu", "password": "pw-carol-1234"})
    assert signed_in_as(client) == user.pk
    pi_carol.refresh_from_db()
    assert pi_carol.user is None
    assert client.get("/portal/").status_code == 403
    client.post("/accounts/logout/")
    sign_in_with_code(client, "carol@example.edu")  # proves the address
    pi_carol.refresh_from_db()
    assert pi_carol.user == user


def test_a_pi_already_linked_to_someone_else_is_not_relinked(pi_carol: PI) -> None:
    first = User.objects.create_user("first", email="carol@example.edu")
    pi_carol.user = first
    pi_carol.save()
    other = User.objects.create_user("other", email="carol@example.edu")
    EmailAddress.objects.create(user=other, email="carol@example.edu", verified=True, primary=True)
    assert pi_link_user(user=other) == []
    pi_carol.refresh_from_db()
    assert pi_carol.user == first


def test_a_pi_with_a_password_signs_in_with_it_and_lands_on_the_portal(client: Client, world: World) -> None:
    world.alice.set_password("alice-secret-9876")
    world.alice.save()
    response = client.post("/accounts/login/", {"login": "alice@example.edu", "password": "alice-secret-9876"})
    assert response.status_code == 302 and response["Location"] == "/portal/"


def test_staff_still_land_on_the_admin(client: Client) -> None:
    from tests.conftest import MFA_AUTHENTICATE, make_staff, totp_code

    make_staff("finance@example.edu", "Finance admin")
    response = client.post("/accounts/login/", {"login": "finance@example.edu", "password": "pw-finance@example.edu"})
    assert response["Location"] == MFA_AUTHENTICATE
    assert client.post(MFA_AUTHENTICATE, {"code": totp_code()})["Location"] == "/admin/"


def test_a_password_change_signs_the_account_out_everywhere(world: World) -> None:
    world.alice.set_password("alice-secret-9876")
    world.alice.save()
    here, elsewhere = Client(), Client()
    for c in (here, elsewhere):
        c.post("/accounts/login/", {"login": "alice@example.edu", "password": "alice-secret-9876"})
        assert c.get("/portal/").status_code == 200
    data = {
        "oldpassword": "alice-secret-9876",
        "password1": "a-new-long-secret-42",
        "password2": "a-new-long-secret-42",
    }
    response = here.post("/accounts/password/change/", data)
    assert response.status_code == 302
    assert elsewhere.get("/portal/").status_code == 302  # to sign-in
    assert here.get("/portal/").status_code == 302


def test_the_sign_in_page_offers_a_code(client: Client) -> None:
    page = client.get("/accounts/login/?next=/portal/").content.decode()
    assert 'href="/accounts/login/code/?next=/portal/"' in page
    code_page = client.get(REQUEST_CODE).content.decode()
    assert '<label for="id_email">Email address</label>' in code_page


def _sociallogin(email: str, verified: bool) -> SocialLogin:
    sociallogin = SocialLogin(user=User(email=email))
    sociallogin.email_addresses = [EmailAddress(email=email, verified=verified, primary=True)]
    return sociallogin


def test_single_sign_on_creates_accounts_only_for_verified_pi_addresses(pi_carol: PI) -> None:
    adapter, request = SocialAccountAdapter(), RequestFactory().get("/")
    assert adapter.is_open_for_signup(request, _sociallogin("carol@example.edu", verified=True))
    assert not adapter.is_open_for_signup(request, _sociallogin("carol@example.edu", verified=False))
    assert not adapter.is_open_for_signup(request, _sociallogin("stranger@example.edu", verified=True))
    User.objects.create_user("carol", email="carol@example.edu")
    # An existing account is never taken over by a matching address.
    assert not adapter.is_open_for_signup(request, _sociallogin("carol@example.edu", verified=True))


def test_single_sign_on_never_signs_in_to_an_existing_account_by_email(settings: Any) -> None:
    assert settings.SOCIALACCOUNT_EMAIL_AUTHENTICATION is False
    assert settings.SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT is False


def test_the_identity_provider_comes_from_the_environment_only(tmp_path: Path) -> None:
    probe = (
        "import django, json; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.SOCIALACCOUNT_PROVIDERS))"
    )
    root = Path(__file__).resolve().parents[2]
    base = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    base.update({"DJANGO_SETTINGS_MODULE": "chargeback.settings", "OPENCHARGEBACK_DATA_DIR": str(tmp_path),
                 "OPENCHARGEBACK_ENV_FILE": str(tmp_path / "none.env"), "DEBUG": "true"})  # fmt: skip

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={**base, **env},
                              cwd=root)  # fmt: skip

    assert json.loads(run().stdout) == {}
    configured = json.loads(
        run(OIDC_SERVER_URL="https://idp.example.edu", OIDC_CLIENT_ID="ocb", OIDC_CLIENT_SECRET="s3").stdout
    )
    app = configured["openid_connect"]["APPS"][0]
    assert app["client_id"] == "ocb" and app["settings"]["server_url"] == "https://idp.example.edu"
    half = run(OIDC_SERVER_URL="https://idp.example.edu")
    assert half.returncode != 0 and "OIDC_SERVER_URL and OIDC_CLIENT_ID" in half.stderr


def test_the_provider_is_not_configurable_in_the_admin(client: Client) -> None:
    from tests.conftest import make_staff

    client.force_login(make_staff("finance@example.edu", "Finance admin"))
    User.objects.filter(username="finance@example.edu").update(is_superuser=True)
    assert client.get("/admin/socialaccount/socialapp/").status_code == 404
    assert client.get("/admin/statements/portaldelegate/").status_code == 200


def test_the_password_pages_lead_a_pi_back_to_the_portal(client: Client, world: World) -> None:
    client.force_login(world.alice)
    page = client.get("/accounts/password/set/").content.decode()
    assert '<a href="/portal/">Portal</a>' in page
