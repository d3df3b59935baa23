"""Who reaches which portal page: every URL × anonymous, PI A, PI B, delegate of A, reviewer, finance admin.

No PI reaches another PI's statement, PDF, charge, project or CSV by changing an id: what is not
theirs is a 404, indistinguishable from an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import make_staff
from tests.portal.conftest import World

pytestmark = pytest.mark.django_db

ANON, ALICE, BOB, DANA, REVIEWER, FINANCE = "anonymous", "PI A", "PI B", "delegate of A", "reviewer", "finance admin"
PERSONAS = (ANON, ALICE, BOB, DANA, REVIEWER, FINANCE)
LOGIN = 302  # to the sign-in page

# url builder, then the expected status for each persona (in PERSONAS order).
Case = tuple[str, Callable[[World], str], tuple[int, ...]]
#                                                                      anon ALICE BOB  DANA  REV  FIN
CASES: list[Case] = [
    ("home", lambda w: "/portal/", (LOGIN, 200, 200, 200, 403, 403)),
    ("projects", lambda w: "/portal/projects/", (LOGIN, 200, 200, 200, 403, 403)),
    ("A's shared project", lambda w: f"/portal/projects/{w.genomics.pk}/", (LOGIN, 200, 404, 200, 403, 403)),
    ("A's unshared project", lambda w: f"/portal/projects/{w.proteomics.pk}/", (LOGIN, 200, 404, 404, 403, 403)),
    ("B's project", lambda w: f"/portal/projects/{w.astro.pk}/", (LOGIN, 404, 200, 404, 403, 403)),
    ("statements", lambda w: "/portal/statements/", (LOGIN, 200, 200, 200, 403, 403)),
    ("A's shared statement", lambda w: f"/portal/statements/{w.st_genomics.pk}/", (LOGIN, 200, 404, 200, 403, 403)),
    ("A's shared PDF", lambda w: f"/portal/statements/{w.st_genomics.pk}/pdf/", (LOGIN, 200, 404, 200, 403, 403)),
    ("A's unshared statement", lambda w: f"/portal/statements/{w.st_proteomics.pk}/", (LOGIN, 200, 404, 404, 403, 403)),
    ("A's unshared PDF", lambda w: f"/portal/statements/{w.st_proteomics.pk}/pdf/", (LOGIN, 200, 404, 404, 403, 403)),
    ("B's statement", lambda w: f"/portal/statements/{w.st_astro.pk}/", (LOGIN, 404, 200, 404, 403, 403)),
    ("B's PDF", lambda w: f"/portal/statements/{w.st_astro.pk}/pdf/", (LOGIN, 404, 200, 404, 403, 403)),
    ("no such statement", lambda w: "/portal/statements/999999/", (LOGIN, 404, 404, 404, 403, 403)),
    ("charges", lambda w: "/portal/charges/", (LOGIN, 200, 200, 200, 403, 403)),
    ("A's shared charge", lambda w: f"/portal/charges/{w.charge_genomics.pk}/", (LOGIN, 200, 404, 200, 403, 403)),
    ("A's unshared charge", lambda w: f"/portal/charges/{w.charge_proteomics.pk}/", (LOGIN, 200, 404, 404, 403, 403)),
    ("B's charge", lambda w: f"/portal/charges/{w.charge_astro.pk}/", (LOGIN, 404, 200, 404, 403, 403)),
    ("charges CSV", lambda w: "/portal/charges.csv", (LOGIN, 200, 200, 200, 403, 403)),
    ("delegates", lambda w: "/portal/delegates/", (LOGIN, 200, 200, 403, 403, 403)),
    ("A's delegate", lambda w: f"/portal/delegates/{w.pi_alice.portal_delegates.get().pk}/",
     (LOGIN, 200, 404, 403, 403, 403)),
]  # fmt: skip


def client_for(persona: str, world: World) -> Client:
    client = Client()
    users: dict[str, Callable[[], Any]] = {
        ALICE: lambda: world.alice,
        BOB: lambda: world.bob,
        DANA: lambda: world.dana,
        REVIEWER: lambda: (
            User.objects.filter(username="reviewer@example.edu").first()
            or make_staff("reviewer@example.edu", "Reviewer")
        ),
        FINANCE: lambda: (
            User.objects.filter(username="finance@example.edu").first()
            or make_staff("finance@example.edu", "Finance admin")
        ),
    }
    if persona != ANON:
        client.force_login(users[persona]())
    return client


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_portal_url_answers_each_persona_as_expected(world: World, persona: str) -> None:
    client = client_for(persona, world)
    expected = {name: statuses[PERSONAS.index(persona)] for name, _, statuses in CASES}
    got = {}
    for name, url_for, _ in CASES:
        url = url_for(world)
        response = client.get(url)
        got[name] = response.status_code
        if response.status_code == LOGIN and persona == ANON:
            assert response["Location"].startswith("/accounts/login/?next=/portal/"), url
    assert got == expected


@pytest.mark.parametrize("persona", PERSONAS)
def test_removing_a_delegate_is_for_their_pi_only(world: World, persona: str) -> None:
    grant = world.pi_alice.portal_delegates.get()
    response = client_for(persona, world).post(f"/portal/delegates/{grant.pk}/remove/")
    expected = {ANON: LOGIN, ALICE: 302, BOB: 404, DANA: 403, REVIEWER: 403, FINANCE: 403}[persona]
    assert response.status_code == expected
    assert world.pi_alice.portal_delegates.exists() == (persona != ALICE)


def test_the_csv_holds_only_the_charges_the_user_may_see(world: World) -> None:
    def resources(persona: str, query: str = "") -> set[str]:
        response = client_for(persona, world).get("/portal/charges.csv" + query)
        content = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        lines = content.decode().splitlines()[1:]
        return {line.split(",")[5] for line in lines}

    alice = resources(ALICE)
    assert {"gen-vm-1", "gen-bucket", "prot-vm"} <= alice and "astro-hpc" not in alice
    assert resources(BOB) == {"astro-hpc"}
    dana = resources(DANA)
    assert "gen-vm-1" in dana and "prot-vm" not in dana and "astro-hpc" not in dana
    # Asking for another PI's project by id in the filter gives nothing of it.
    assert "astro-hpc" not in resources(ALICE, f"?project={world.astro.pk}")


def test_lists_show_only_what_the_user_may_see(world: World) -> None:
    alice = client_for(ALICE, world)
    page = alice.get("/portal/statements/").content.decode()
    assert world.st_genomics.number in page and world.st_proteomics.number in page
    assert world.st_astro.number not in page
    dana = client_for(DANA, world).get("/portal/statements/").content.decode()
    assert world.st_genomics.number in dana and world.st_proteomics.number not in dana
    charges = client_for(BOB, world).get("/portal/charges/").content.decode()
    assert "astro-hpc" in charges and "gen-vm-1" not in charges
    projects = client_for(DANA, world).get("/portal/projects/").content.decode()
    assert "genomics" in projects and "proteomics" not in projects


def test_staff_without_a_pi_record_get_a_clear_page(world: World) -> None:
    response = client_for(FINANCE, world).get("/portal/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "There are no statements for" in page and "billing admin" in page


def test_a_delegation_to_an_unverified_address_gives_nothing(world: World) -> None:
    from allauth.account.models import EmailAddress

    EmailAddress.objects.filter(email="dana@example.edu").update(verified=False)
    client = client_for(DANA, world)
    assert client.get("/portal/").status_code == 403
    assert client.get(f"/portal/statements/{world.st_genomics.pk}/").status_code == 403


def test_a_shared_project_that_moves_to_another_pi_is_no_longer_shared(world: World) -> None:
    world.genomics.pi = world.pi_bob
    world.genomics.save()
    assert client_for(DANA, world).get("/portal/").status_code == 403
