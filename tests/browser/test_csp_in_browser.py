"""In a real browser, our pages work under the Content-Security-Policy and break none of it."""

from __future__ import annotations

import pytest

from tests.browser.test_review_in_browser import sign_in
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
    const where = e.sourceFile + ':' + e.lineNumber;
    window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + where);
});
"""
PAGES = [
    "/admin/",
    "/admin/billing/importbatch/",
    "/admin/billing/importbatch/import/",
    "/admin/billing/charge/",
    "/admin/billing/charge/?review_state__exact=flagged",
    "/admin/billing/billingperiod/",
    "/admin/billing/flagpattern/",
    "/admin/chargeback/auditevent/",
]


def test_the_finance_pages_cause_no_policy_violation(page):
    make_staff("finance@example.edu", "Finance admin")
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, "finance@example.edu", "pw-finance@example.edu")
    for url in PAGES:
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
        assert page.evaluate("window.__cspViolations") == [], url
    page.goto("/admin/billing/importbatch/import/")
    page.wait_for_selector("[data-dropzone-hint]:not([hidden])")  # the import page's script ran


def test_select_all_on_the_export_page_works_without_its_inline_handler(page):
    make_staff("finance@example.edu", "Finance admin")
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, "finance@example.edu", "pw-finance@example.edu")
    page.goto("/admin/billing/charge/export/")
    boxes = ".selectable-field-export-row input[type=checkbox]"
    assert page.eval_on_selector_all(boxes, "els => els.length") > 3
    page.uncheck("input.select-toggle")
    assert page.eval_on_selector_all(boxes, "els => els.filter(e => e.checked).length") == 0
    page.check("input.select-toggle")
    assert page.eval_on_selector_all(boxes, "els => els.every(e => e.checked)")
    # The library's inline handler itself was refused by the browser (and did nothing).
    violations = page.evaluate("window.__cspViolations")
    assert violations and all(v.startswith("script-src") and " inline " in v for v in violations)
