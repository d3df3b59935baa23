"""Browser tests: Debian's Chromium driven by Playwright against Django's live server.

Outside CI a missing Chromium skips these tests with the reason; under CI=true it fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    if not shutil.which(CHROMIUM):
        if in_ci:
            pytest.fail(f"Chromium not found at {CHROMIUM} (CI installs Debian's chromium package)")
        pytest.skip(f"Chromium not found at {CHROMIUM}; install Debian's chromium package")
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test
    # itself are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def reseed() -> None:
    """Transactional tests empty every table afterwards, including the rows the data migrations
    seeded (sources, tag mapping, role groups); put them back, with the sources' credit side a
    configured installation has (tests/conftest.py)."""
    from django.apps import apps

    from billing.defaults import defaults_seed
    from chargeback.roles import roles_sync
    from tests.conftest import give_sources_a_credit_side

    defaults_seed(apps)
    roles_sync(apps)
    give_sources_a_credit_side()


@pytest.fixture
def page(chromium: Any, live_server: Any) -> Iterator[Any]:
    from django.core.cache import cache

    reseed()
    cache.clear()  # sign-in rate limits and the authenticator codes already used
    context = chromium.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
