"""Portal personas and data: Alice and Bob are PIs, Dana is Alice's delegate for one project."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command

from billing.models import PI, Charge, Project
from statements.models import PortalDelegate, Statement
from statements.services.render import statement_render
from tests.conftest import FocusFiles, minimal_row, tags


def quiet_call(*args: str) -> None:
    call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())


def portal_user(email: str, *, verified: bool = True, password: str | None = None) -> User:
    user = User.objects.create_user(username=email, email=email, password=password)
    EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    return user


@dataclass
class World:
    alice: User
    bob: User
    dana: User
    pi_alice: PI
    pi_bob: PI
    genomics: Project
    proteomics: Project
    astro: Project
    st_genomics: Statement
    st_proteomics: Statement
    st_astro: Statement
    charge_genomics: Charge
    charge_proteomics: Charge
    charge_astro: Charge


def build_world(focus_files: FocusFiles, *, period: str = "2025-01") -> World:
    rows = [
        minimal_row("100.00", listed="125.00", period=period, resource="gen-vm-1", service="Amazon EC2"),
        minimal_row("20.50", period=period, resource="gen-bucket", service="Amazon S3"),
        minimal_row("40.00", listed="50.00", period=period, resource="prot-vm",
                    tag_json=tags(project="proteomics", fund="BIO-2025-002")),
        minimal_row("300.00", period=period, resource="astro-hpc", service="HPC Cluster",
                    tag_json=tags(pi="bob@example.edu", project="astro", fund="PHYS-2025-001")),
        minimal_row("5.00", period=period, resource="=HYPERLINK(\"http://evil\")", service="@SUM(A1)"),
    ]  # fmt: skip
    path = focus_files.write(f"aws-{period}.csv", rows)
    quiet_call("ingest", str(path), "-s", "aws", "-p", period)
    quiet_call("periods", "close", period)
    quiet_call("generate", "-p", period)
    # PDFs are rendered after commit; a test inside a transaction renders them itself.
    for pk in Statement.objects.filter(status=Statement.Status.DRAFT).values_list("pk", flat=True):
        statement_render(statement_id=pk)
    alice, bob = portal_user("alice@example.edu"), portal_user("bob@example.edu")
    pi_alice, pi_bob = PI.objects.get(email="alice@example.edu"), PI.objects.get(email="bob@example.edu")
    pi_alice.user, pi_bob.user = alice, bob
    pi_alice.save()
    pi_bob.save()
    genomics, proteomics, astro = (Project.objects.get(code=c) for c in ("genomics", "proteomics", "astro"))
    dana = portal_user("dana@example.edu")
    grant = PortalDelegate.objects.create(pi=pi_alice, email="dana@example.edu", note="lab manager")
    grant.projects.set([genomics])
    current = Statement.objects.exclude(status=Statement.Status.SUPERSEDED)
    return World(
        alice=alice, bob=bob, dana=dana, pi_alice=pi_alice, pi_bob=pi_bob,
        genomics=genomics, proteomics=proteomics, astro=astro,
        st_genomics=current.get(project=genomics), st_proteomics=current.get(project=proteomics),
        st_astro=current.get(project=astro),
        charge_genomics=Charge.objects.get(resource_id="gen-vm-1"),
        charge_proteomics=Charge.objects.get(resource_id="prot-vm"),
        charge_astro=Charge.objects.get(resource_id="astro-hpc"),
    )  # fmt: skip


@pytest.fixture
def world(db: Any, focus_files: FocusFiles, settings: Any) -> World:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    return build_world(focus_files)
