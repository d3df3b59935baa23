"""One settings page for finance admins: organization, rules with regex help and examples from
this installation's charges, a test against a period, sources, and read-only system facts."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.db import connection

from billing.models import Charge, FlagPattern, FundOrgPattern, Source
from chargeback.models import AuditEvent, Organization
from tests.conftest import minimal_row, tags

pytestmark = pytest.mark.django_db

URL = "/admin/settings/"


class FormValues(HTMLParser):
    """The values a browser would send for the page's form (no submit button)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, Any] = {}
        self._select: str | None = None
        self._textarea: str | None = None
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and a.get("method") == "post":
            self._in_form = True
        if not self._in_form or not a.get("name") or "disabled" in a:
            return
        name = a["name"]
        if tag == "input" and a.get("type") not in {"submit", "file", "checkbox"}:
            self.data[name] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
            self.data[name] = "on"
        elif tag == "select":
            self._select = name
        elif tag == "textarea":
            self._textarea, self.data[name] = name, ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        if tag == "select":
            self._select = None
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data

    def feed_options(self, html: str) -> None:
        """Each select's chosen option (or its first), as a browser sends it."""
        for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
            option = r'<option value="([^"]*)"'
            chosen = re.search(option + r"[^>]*selected", body) or re.search(option, body)
            if name not in self.data:
                self.data[name] = chosen[1] if chosen else ""


def page_values(client) -> dict[str, Any]:
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    parser = FormValues()
    parser.feed(html)
    start = html.index('<form method="post" enctype')
    parser.feed_options(html[start : html.index("</form>", start)])
    return parser.data


def row_of(data: dict[str, Any], prefix: str, field: str, value: str) -> str:
    """The form prefix (`flags-0`) of the row whose `field` is `value`."""
    for key, v in data.items():
        if key.startswith(f"{prefix}-") and key.endswith(f"-{field}") and v == value:
            return key.rsplit("-", 1)[0]
    raise AssertionError(f"no {prefix} row with {field}={value}")


def new_row(data: dict[str, Any], prefix: str) -> str:
    return f"{prefix}-{int(data[f'{prefix}-INITIAL_FORMS'])}"


@pytest.fixture
def month(run, focus_files):
    """2025-01: an ordinary charge, two GPU charges, one with a fund/org of the wrong shape."""
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10", resource="web-1"),
        minimal_row("200", resource="gpu-node-1"),
        minimal_row("300.5", resource="gpu-node-2"),
        minimal_row("7", resource="odd-fund", tag_json=tags(fund="x")),
    ])  # fmt: skip
    FundOrgPattern.objects.create(pattern=r"[A-Z]{3}-\d{4}", description="fund-year")
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0


@pytest.fixture
def signed_in(client, finance_admin):
    client.force_login(finance_admin)
    return client


def test_a_pattern_edited_on_the_page_is_tested_against_a_period_and_nothing_is_kept(signed_in, month):
    data = page_values(signed_in)
    row = new_row(data, "flags")
    data.update({f"{row}-name": "gpu", f"{row}-pattern": "^gpu-", f"{row}-fields": "resource_name",
                 f"{row}-enabled": "on", "test-period": "2025-01", "_test": "1"})  # fmt: skip
    events = AuditEvent.objects.count()

    html = signed_in.post(URL, data).content.decode()

    assert "Period 2025-01 (open)" in html
    assert '<tr><th scope="row">Newly flagged</th><td>2</td></tr>' in html
    assert "gpu-node-1" in html and "pattern_match:gpu" in html
    assert 'value="^gpu-"' in html  # the edit is still on the page, to save
    assert not FlagPattern.objects.filter(name="gpu").exists()
    assert AuditEvent.objects.count() == events
    assert Charge.objects.filter(review_state="flagged").count() == 1  # only the odd fund/org


def test_saving_keeps_every_change_each_with_its_audit_event(signed_in, month):
    data = page_values(signed_in)
    row = new_row(data, "flags")
    data.update({f"{row}-name": "gpu", f"{row}-pattern": "^gpu-", f"{row}-fields": "resource_name",
                 f"{row}-enabled": "on"})  # fmt: skip
    data[f"{row_of(data, 'sources', 'name', 'aws')}-credit_fund_org"] = "RC-CLOUD-01"
    data[f"{row_of(data, 'funds', 'description', 'fund-year')}-DELETE"] = "on"
    data["org-name"] = "Research Computing Services"

    response = signed_in.post(URL, data)

    assert response.status_code == 302
    assert FlagPattern.objects.get(name="gpu").pattern == "^gpu-"
    assert Source.objects.get(name="aws").credit_fund_org == "RC-CLOUD-01"
    assert not FundOrgPattern.objects.exists()
    assert Organization.current().name == "Research Computing Services"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"flagpattern.add", "source.change", "fundorgpattern.delete", "organization.change"} <= actions
    assert "Settings saved (4 changes)." in signed_in.get(URL).content.decode()


def test_an_invalid_regex_saves_nothing_and_says_why(signed_in, month):
    data = page_values(signed_in)
    row = new_row(data, "flags")
    data.update({f"{row}-name": "broken", f"{row}-pattern": "gpu(", f"{row}-fields": "resource_name"})
    data["org-name"] = "Renamed"

    html = signed_in.post(URL, data).content.decode()

    assert "not a valid regular expression: missing ), unterminated subpattern" in html
    assert "Nothing was saved" in html
    assert Organization.current().name != "Renamed" and not FlagPattern.objects.filter(name="broken").exists()


def test_the_examples_come_from_this_installations_charges(signed_in, month):
    FlagPattern.objects.create(name="gpu", pattern="gpu", fields="resource_name")
    html = signed_in.get(URL).content.decode()
    # The tag keys of the files, with how many of the charges carry each.
    assert '<code>project_id</code> <span class="ocb-quiet">(4)</span>' in html
    assert '<code>pi_email</code> <span class="ocb-quiet">(4)</span>' in html
    assert "<code>gpu-node-1</code>" in html
    assert '<code>BIO-2025-001</code> <span class="ocb-check ocb-check-ok">valid</span>' in html
    assert '<code>x</code> <span class="ocb-check ocb-check-bad">invalid</span>' in html
    assert "<code>gpu</code>: 2 charges" in html


def test_system_information_is_shown_and_not_editable(signed_in, settings):
    html = signed_in.get(URL).content.decode()
    system = html[html.index('id="system"') :]
    assert f"{connection.vendor} (" in system and "embedded: tasks run in the web process" in system
    assert str(settings.MEDIA_ROOT) in system
    assert "<input" not in system


def test_only_rule_managers_edit_the_rules_and_reviewers_do_not_open_the_page(client, reviewer, month):
    client.force_login(reviewer)
    assert client.get(URL).status_code == 403
