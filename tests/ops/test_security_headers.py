"""Every page is sent with the security headers; no page of ours relies on an inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
OUR_TEMPLATES_AND_STATIC = [ROOT / "templates", ROOT / "chargeback" / "static", *ROOT.glob("*/templates")]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.IGNORECASE)


def csp(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


@pytest.mark.django_db
def test_admin_pages_carry_the_security_headers(client, settings, finance_admin):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    client.force_login(finance_admin)
    response = client.get(reverse("admin:index"), secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    policy = csp(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["default-src"] and "'unsafe-eval'" not in str(policy)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/accounts/login/",
        "/admin/",
        "/admin/billing/importbatch/import/",
        "/admin/billing/charge/",
        "/admin/billing/importbatch/",
        "/admin/chargeback/auditevent/",
    ],
)
def test_our_pages_have_no_inline_script(client, finance_admin, url):
    if url != "/accounts/login/":
        client.force_login(finance_admin)
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    assert "Content-Security-Policy" in response
    assert not INLINE_SCRIPT.findall(html), url
    assert not EVENT_HANDLER.findall(html), url
    assert not JAVASCRIPT_URL.findall(html), url


def test_no_template_or_static_file_of_ours_has_inline_script():
    offenders = []
    for folder in OUR_TEMPLATES_AND_STATIC:
        for path in folder.rglob("*.html"):
            text = path.read_text()
            for pattern in (INLINE_SCRIPT, EVENT_HANDLER, JAVASCRIPT_URL):
                offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert offenders == []
