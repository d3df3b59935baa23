"""Nobody's address or PI record ends up on someone else's account, whatever they do on the portal.

The attack: Alice delegates a project to Mallory, who signs in by code and adds the address of
Bob, a PI without an account yet. Bob asks for a sign-in code (or clicks the confirmation link he
was mailed) and lands in Mallory's account, which then reads his statements.
"""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from billing.models import PI
from statements.models import PortalDelegate
from tests.conftest import make_staff
from tests.portal.conftest import World
from tests.portal.test_signin import sign_in_with_code, signed_in_as

pytestmark = pytest.mark.django_db

MALLORY = "mallory@example.org"
BOB = "bob@example.edu"  # a PI with statements and, for now, no account
ERIN = "erin@example.edu"  # Bob's lab manager, without an account yet


@pytest.fixture
def bob_without_account(world: World) -> PI:
    world.bob.delete()
    world.pi_bob.refresh_from_db()
    assert world.pi_bob.user is None
    return world.pi_bob


@pytest.fixture
def mallory(world: World, bob_without_account: PI) -> Client:
    """Alice's delegate for one project, signed in by code."""
    grant = PortalDelegate.objects.create(pi=world.pi_alice, email=MALLORY, note="student")
    grant.projects.set([world.genomics])
    client = Client()
    sign_in_with_code(client, MALLORY)
    assert signed_in_as(client) == mallory_user().pk
    mail.outbox.clear()
    return client


def mallory_user() -> User:
    return User.objects.get(username=MALLORY)


def add_address(client: Client, email: str) -> Any:
    return client.post("/accounts/email/", {"email": email, "action_add": ""})


def test_a_delegate_cannot_add_an_address_to_her_account(mallory: Client) -> None:
    assert mallory.get("/accounts/email/").status_code == 404
    assert add_address(mallory, BOB).status_code == 404
    assert list(EmailAddress.objects.filter(user=mallory_user()).values_list("email", flat=True)) == [MALLORY]
    assert mail.outbox == []  # no confirmation link went to Bob either


@pytest.mark.parametrize("who", ["alice@example.edu", "finance@example.edu"])
def test_neither_a_pi_nor_staff_add_addresses_to_their_account(world: World, who: str) -> None:
    client = Client()
    if who == "alice@example.edu":
        sign_in_with_code(client, who)
    else:
        client.force_login(make_staff(who, "Reviewer"))
    assert add_address(client, "carol@example.edu").status_code == 404
    assert not EmailAddress.objects.filter(email="carol@example.edu").exists()


def test_after_the_delegate_tried_the_pi_signs_in_to_his_own_account(world: World, mallory: Client) -> None:
    add_address(mallory, BOB)
    bob = Client()
    sign_in_with_code(bob, BOB)
    assert mail.outbox[-1].to == [BOB]
    assert signed_in_as(bob) != mallory_user().pk
    assert signed_in_as(bob) == User.objects.get(username=BOB).pk
    world.pi_bob.refresh_from_db()
    assert world.pi_bob.user == User.objects.get(username=BOB)
    assert bob.get(f"/portal/statements/{world.st_astro.pk}/").status_code == 200
    assert mallory.get(f"/portal/statements/{world.st_astro.pk}/").status_code == 404
    assert mallory.get(f"/portal/statements/{world.st_astro.pk}/pdf/").status_code == 404


def test_an_unverified_address_on_another_account_receives_no_code_for_it(world: World, mallory: Client) -> None:
    # An address that reached her account anyway (added before these rules, or by hand).
    EmailAddress.objects.create(user=mallory_user(), email=BOB, verified=False, primary=False)
    bob = Client()
    sign_in_with_code(bob, BOB)
    bob_user = User.objects.get(username=BOB)
    assert signed_in_as(bob) == bob_user.pk
    assert EmailAddress.objects.get(user=bob_user, email=BOB).verified
    assert not EmailAddress.objects.get(user=mallory_user(), email=BOB).verified
    world.pi_bob.refresh_from_db()
    assert world.pi_bob.user == bob_user
    assert mallory.get(f"/portal/statements/{world.st_astro.pk}/").status_code == 404


def test_a_confirmation_link_for_an_address_on_someone_elses_account_confirms_nothing(
    world: World, mallory: Client
) -> None:
    pending = EmailAddress.objects.create(user=mallory_user(), email=BOB, verified=False, primary=False)
    link = f"/accounts/confirm-email/{EmailConfirmationHMAC(pending).key}/"
    bob = Client()
    bob.get(link)
    bob.post(link)  # Bob trusts the mail and clicks "Confirm"
    pending.refresh_from_db()
    assert not pending.verified
    world.pi_bob.refresh_from_db()
    assert world.pi_bob.user is None
    assert mallory.get(f"/portal/statements/{world.st_astro.pk}/").status_code == 404
    assert signed_in_as(bob) is None


def test_a_verified_address_that_is_not_the_accounts_own_never_links_a_pi(world: World, mallory: Client) -> None:
    EmailAddress.objects.create(user=mallory_user(), email=BOB, verified=True, primary=False)
    again = Client()
    sign_in_with_code(again, MALLORY)  # every sign-in links the account's PI record, if any
    assert signed_in_as(again) == mallory_user().pk
    world.pi_bob.refresh_from_db()
    assert world.pi_bob.user is None
    assert again.get(f"/portal/statements/{world.st_astro.pk}/").status_code == 404


def test_a_delegates_address_on_another_account_does_not_carry_the_delegation(world: World, mallory: Client) -> None:
    PortalDelegate.objects.create(pi=world.pi_bob, email=ERIN, all_projects=True, note="lab manager")
    EmailAddress.objects.create(user=mallory_user(), email=ERIN, verified=False, primary=False)
    erin = Client()
    sign_in_with_code(erin, ERIN)
    assert signed_in_as(erin) == User.objects.get(username=ERIN).pk
    assert erin.get(f"/portal/statements/{world.st_astro.pk}/").status_code == 200
    assert mallory.get(f"/portal/statements/{world.st_astro.pk}/").status_code == 404


def test_a_password_reset_for_an_address_on_another_account_sends_nothing(world: World, mallory: Client) -> None:
    EmailAddress.objects.create(user=mallory_user(), email=BOB, verified=False, primary=False)
    response = Client().post("/accounts/password/reset/", {"email": BOB})
    assert response.status_code == 302
    assert mail.outbox == []
