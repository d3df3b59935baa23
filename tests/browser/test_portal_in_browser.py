"""A PI signs in with a code from the email file, opens a statement, downloads its PDF, filters charges."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from tests.portal.conftest import build_world

pytestmark = pytest.mark.django_db(transaction=True)

CODE_LINE = re.compile(r"^\s*([A-Z0-9]{4,}(?:-[A-Z0-9]+)*)\s*$", re.MULTILINE)


def code_from_mail_folder(folder: Path) -> str:
    messages = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
    assert messages, f"no email in {folder}"
    match = CODE_LINE.search(messages[-1].read_text())
    assert match, messages[-1].read_text()
    return match.group(1)


def test_a_pi_signs_in_with_a_code_and_reads_a_statement(page: Any, focus_files: Any, settings: Any, tmp_path: Path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    cache.clear()
    world = build_world(focus_files)

    page.goto("/portal/")
    assert "/accounts/login/" in page.url
    page.get_by_role("link", name="Email me a sign-in code instead").click()
    page.get_by_label("Email address").fill("alice@example.edu")
    page.get_by_role("button", name="Email me a code").click()
    page.wait_for_url("**/accounts/login/code/confirm/**")
    page.get_by_label("Code").fill(code_from_mail_folder(tmp_path / "mail"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal/")
    assert page.get_by_test_id("amount-due").inner_text() == "165.50 USD"

    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Statements").click()
    page.get_by_role("link", name=f"{world.st_genomics.number} v1", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == f"Statement {world.st_genomics.number} v1"
    assert "Amazon EC2" in page.inner_text("#lines")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"statement-{world.st_genomics.number}-v1.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")

    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Charges").click()
    assert page.locator("#charges tbody tr").count() == 4
    page.get_by_label("Service").select_option("Amazon S3")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#charges tbody tr")
    assert rows.count() == 1
    assert "gen-bucket" in rows.first.inner_text()
    assert "astro-hpc" not in page.content()
