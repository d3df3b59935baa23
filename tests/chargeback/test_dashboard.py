"""The admin index is the billing dashboard: a period's figures, exact, and its next step."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import BillingPeriod, Charge, Source, TagMapping
from billing.selectors import billed_charges, flagged_charges, period_summaries
from billing.selectors.dashboard import dashboard_default_period, dashboard_figures, dashboard_periods
from billing.services.rules import period_reevaluate
from chargeback.audit import Actor
from tests.conftest import MINIMAL_HEADER, minimal_row, tags

pytestmark = pytest.mark.django_db

ALICE = tags(pi="alice@example.edu", project="genomics", fund="BIO-1")
BOB = tags(pi="bob@example.edu", project="physics", fund="PHY-1")
CAROL = tags(pi="carol@example.edu", project="astro", fund="AST-1")
NOBODY = tags(pi=None, project="genomics", fund="BIO-1")

# 2025-01 as imported below: what the statements bill, i.e. every line but the flagged one (no PI,
# 20.25, list 25); nothing rejected yet.
JAN_BILLED = Decimal("100.005") + Decimal("7.3333333333") + Decimal("300.10") + Decimal("1234567.8912345678")
# A line without a ListCost counts at its billed cost.
JAN_LIST = Decimal("120") + Decimal("7.3333333333") + Decimal("400") + Decimal("1500000")


def row(billed: str, listed: str | None, tag_json: str, *, period: str = "2025-01", resource: str = "r") -> list[str]:
    line = minimal_row(billed, listed=listed, period=period, resource=resource, tag_json=tag_json)
    if listed is None:
        line[MINIMAL_HEADER.index("ListCost")] = ""  # no list price on this line
    return line


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The dashboard caches its per-PI figures; ids repeat between tests on a rolled-back database.
    cache.clear()


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    return logged_in(viewer)


@pytest.fixture
def ingest(run, focus_files):
    def _ingest(source: str, period: str, rows: list[list[str]], header: list[str] = MINIMAL_HEADER) -> None:
        path = focus_files.write(f"{source}-{period}-{len(rows)}.csv", rows, header)
        result = run("ingest", str(path), "-s", source, "-p", period, "--replace")
        assert result.code == 0, result.err

    return _ingest


@pytest.fixture
def two_periods(ingest) -> None:
    """AWS and HPC for 2025-01 (one line flagged: no PI), AWS only for 2025-02."""
    ingest("aws", "2025-01", [
        row("100.005", "120", ALICE, resource="a1"),
        row("20.25", "25", NOBODY, resource="a2"),
        row("7.3333333333", None, BOB, resource="a3"),
    ])  # fmt: skip
    ingest("hpc", "2025-01", [
        row("300.10", "400", BOB, resource="h1"),
        row("1234567.8912345678", "1500000", CAROL, resource="h2"),
    ])  # fmt: skip
    ingest("aws", "2025-02", [row("10", "10", ALICE, period="2025-02", resource="a1")])


def page(client: Client, query: str = "") -> tuple[str, dict[str, Any]]:
    response = client.get(f"/admin/{query}")
    assert response.status_code == 200
    return response.content.decode(), response.context.get("dashboard", {})


def period_ref(period: str):
    return next(p for p in dashboard_periods() if p.period == period)


def action_links(html: str) -> list[tuple[str, str]]:
    return [
        (unescape(url), label) for url, label in re.findall(r'<a class="ocb-action" href="([^"]+)">([^<]+)</a>', html)
    ]


def test_the_figures_are_exact_against_the_imported_charges(two_periods):
    figures = dashboard_figures(period=period_ref("2025-01"), periods=dashboard_periods())
    [usd] = figures.totals
    assert (usd.currency, usd.charges) == ("USD", 4)
    assert usd.billed == JAN_BILLED == Decimal("1234975.3295679011")
    assert usd.listed == JAN_LIST == Decimal("1500527.3333333333")
    assert usd.discount == Decimal("265552.0037654322")
    assert (usd.flagged_charges, usd.flagged_cost) == (1, Decimal("20.25"))
    assert (usd.rejected_charges, usd.rejected_cost) == (0, Decimal(0))
    assert (usd.imported_charges, usd.imported_cost) == (5, JAN_BILLED + Decimal("20.25"))
    assert (figures.pis, figures.projects) == (3, 3)
    assert [(r.key, r.amount) for r in figures.top_pis] == [
        ("carol@example.edu", Decimal("1234567.8912345678")),
        ("bob@example.edu", Decimal("307.4333333333")),
        ("alice@example.edu", Decimal("100.005")),
    ]
    assert [(r.key, r.amount) for r in figures.by_source] == [
        ("hpc", Decimal("1234867.9912345678")),
        ("aws", Decimal("107.3383333333")),
    ]
    assert [(r.key, r.amount) for r in figures.by_month] == [("2025-01", JAN_BILLED)]


def test_the_page_shows_the_figures_rounded_to_the_cent_with_their_currency(admin_client, two_periods):
    html, d = page(admin_client, "?period=2025-01")
    [usd] = d["totals"]
    assert usd["billed"] == "1,234,975.33 USD"
    assert usd["listed"] == "1,500,527.33 USD"
    assert usd["discount"] == "265,552.00 USD"
    assert usd["discount_percent"] == "17.7 %"
    assert usd["flagged_cost"] == "20.25 USD"
    assert (d["pis"], d["projects"], d["flagged_charges"]) == (3, 3, 1)
    assert [(p["label"], p["billed"], p["share"]) for p in d["top_pis"]] == [
        ("carol@example.edu", "1,234,567.89 USD", "100.0 %"),
        ("bob@example.edu", "307.43 USD", "0.0 %"),
        ("alice@example.edu", "100.01 USD", "0.0 %"),
    ]
    imports = {i["source"]: i for i in d["imports"]}
    assert imports["aws"]["rows"] == 3 and imports["aws"]["imported"] == ["127.59 USD"]
    assert imports["hpc"]["imported"] == ["1,234,867.99 USD"]
    assert imports["aws"]["actor"].startswith("cli:")
    assert imports["azure"]["missing"] and imports["gcp"]["missing"] and imports["storage"]["missing"]
    assert "1,234,975.33 USD" in html and "265,552.00 USD" in html
    assert 'id="ocb-period"' in html and "Imports per source" in html and "Top PIs by billed cost" in html
    assert 'class="ocb-bar" style="width: 100.0%"' in html  # the cost-by-source bars
    assert "<svg" in html and "<title>2025-01: 1,234,975.33 USD</title>" in html  # the month chart
    assert "Show as a table" in html  # its text alternative


def test_rejected_charges_leave_the_figures_and_the_cached_ranking(run, admin_client, two_periods):
    page(admin_client, "?period=2025-01")  # fills the cache
    carol = Charge.objects.get(resource_id="h2")
    assert run("review", "reject", "--id", str(carol.pk)).code == 0
    _, d = page(admin_client, "?period=2025-01")
    assert d["totals"][0]["billed"] == "407.44 USD"  # 1,234,975.33 - 1,234,567.89
    assert d["totals"][0]["listed"] == "527.33 USD"
    assert (d["pis"], d["projects"]) == (2, 2)
    assert [p["label"] for p in d["top_pis"]] == ["bob@example.edu", "alice@example.edu"]
    assert [(b["key"], b["amount"]) for b in d["source_chart"][0]["rows"]] == [
        ("hpc", "300.10 USD"),
        ("aws", "107.34 USD"),
    ]


def test_the_month_chart_shows_billed_per_period_up_to_the_selected_one(admin_client, two_periods):
    _, d = page(admin_client)
    [chart] = d["month_charts"]
    assert chart["currency"] == "USD"
    assert [(c["period"], c["amount"], c["selected"]) for c in chart["columns"]] == [
        ("2025-01", "1,234,975.33 USD", False),
        ("2025-02", "10.00 USD", True),
    ]
    assert chart["columns"][0]["height"] == "148.0" and chart["columns"][1]["height"] == "0.0"
    # Each column is labelled with its value (the exact amount is in its tooltip and the table).
    assert [c["short"] for c in chart["columns"]] == ["1.23M", "10"]
    html, _ = page(admin_client)
    assert '<text class="ocb-value" x="' in html and ">1.23M</text>" in html


def test_the_default_period_is_the_newest_open_one_else_the_newest(run, admin_client, two_periods):
    assert page(admin_client)[1]["period"].period == "2025-02"
    run("periods", "close", "2025-02")
    assert page(admin_client)[1]["period"].period == "2025-01"
    # A period closes once its flagged charges are decided (this one has no PI: rejected).
    run("review", "reject", "--id", str(Charge.objects.get(resource_id="a2").pk))
    assert run("periods", "close", "2025-01").code == 0
    assert page(admin_client)[1]["period"].period == "2025-02"
    assert dashboard_default_period([]) is None


def test_the_period_query_switches_the_period(admin_client, two_periods):
    html, d = page(admin_client, "?period=2025-02")
    assert d["period"].period == "2025-02" and d["totals"][0]["billed"] == "10.00 USD"
    assert '<option value="2025-02" selected>' in html
    assert '<option value="2025-01">2025-01 (open)</option>' in html
    _, d = page(admin_client, "?period=2025-01")
    assert d["period"].period == "2025-01" and d["charges"] == 4


@pytest.mark.parametrize(
    "query, notice",
    [
        ("?period=2025-13", "“2025-13” is not a billing period (use YYYY-MM); showing 2025-02."),
        ("?period=%3Cscript%3E", "“<script>” is not a billing period (use YYYY-MM); showing 2025-02."),
        ("?period=2031-01", "There is no billing period 2031-01; showing 2025-02."),
    ],
)
def test_an_unknown_or_invalid_period_shows_a_message_and_the_default(admin_client, two_periods, query, notice):
    html, d = page(admin_client, query)
    assert d["notice"] == notice
    assert d["period"].period == "2025-02"
    assert "<script>" not in html


def test_a_period_without_imports_asks_for_files(run, admin_client, two_periods):
    run("periods", "open", "2025-03")
    html, d = page(admin_client, "?period=2025-03")
    assert action_links(html) == [("/admin/billing/importbatch/", "Import files")]
    assert all(i["missing"] for i in d["imports"])
    assert d["totals"][0]["billed"] == "0.00"


def test_flagged_charges_are_the_next_step_and_the_link_opens_their_review_queue(admin_client, two_periods):
    html, _ = page(admin_client, "?period=2025-01")
    url = "/admin/billing/charge/?period=2025-01&review=flagged"
    period = BillingPeriod.objects.get(period="2025-01")
    # Review, and then close: an open period with flags is never a dead end.
    assert action_links(html) == [
        (url, "Review 1 flagged charge"),
        (f"/admin/billing/billingperiod/{period.pk}/move/closed/", "Close the period"),
    ]
    queue = admin_client.get(url)
    assert queue.status_code == 200
    assert list(queue.context["cl"].queryset.values_list("resource_id", flat=True)) == ["a2"]


def test_with_nothing_flagged_the_next_step_is_closing_then_finalizing(
    run, admin_client, two_periods, django_capture_on_commit_callbacks
):
    flagged = Charge.objects.get(period__period="2025-01", review_state="flagged")
    run("review", "reject", "--id", str(flagged.pk))  # a charge without a PI could not be billed
    period = BillingPeriod.objects.get(period="2025-01")
    html, _ = page(admin_client, "?period=2025-01")
    close = f"/admin/billing/billingperiod/{period.pk}/move/closed/"
    assert action_links(html) == [(close, "Close the period")]
    assert admin_client.get(close).status_code == 200  # the confirmation page

    run("periods", "close", "2025-01")
    html, d = page(admin_client, "?period=2025-01")
    finalize = f"/admin/billing/billingperiod/{period.pk}/move/finalized/"
    statements = "/admin/statements/statement/period/2025-01/"
    journal = f"/admin/journals/journalexport/period/{period.pk}/"
    assert action_links(html) == [
        (statements, "Generate statements"), (journal, "Export journal"), (finalize, "Finalize the period"),
    ]  # fmt: skip
    assert admin_client.get(finalize).status_code == 200
    assert admin_client.get(journal).status_code == 200
    steps = [(s.label, s.url, s.note) for s in d["next_steps"]]
    assert steps[:2] == [("Generate statements", statements, ""), ("Export journal", journal, "")]

    with django_capture_on_commit_callbacks(execute=True):  # the PDFs, rendered after commit
        run("generate", "-p", "2025-01")
    Source.objects.update(credit_fund_org="RC-0001", gl_account="4400")
    assert run("export-journal", "-p", "2025-01").code == 0
    assert run("periods", "finalize", "2025-01").code == 0
    period.refresh_from_db()
    html, d = page(admin_client, "?period=2025-01")
    assert action_links(html) == []
    assert [s.label for s in d["next_steps"]] == [f"Finalized on {period.finalized_at:%Y-%m-%d}"]
    assert f"Finalized on {period.finalized_at:%Y-%m-%d}" in html


def test_a_closed_period_with_flagged_charges_offers_review_and_the_way_forward(run, admin_client, two_periods):
    # Closed before closing checked readiness (closing is refused while flags remain).
    BillingPeriod.objects.filter(period="2025-01").update(status="closed")
    period = BillingPeriod.objects.get(period="2025-01")
    html, d = page(admin_client, "?period=2025-01")
    assert action_links(html) == [
        (f"/admin/billing/billingperiod/{period.pk}/move/open/", "Reopen the period to review 1 flagged charge"),
        ("/admin/statements/statement/period/2025-01/", "Generate statements"),
        (f"/admin/journals/journalexport/period/{period.pk}/", "Export journal"),
    ]  # fmt: skip
    assert d["next_steps"][1].note == "flagged charges are left out until approved"
    assert f'href="/admin/billing/billingperiod/{period.pk}/change/"' in html  # the period page


def test_each_role_gets_the_links_its_permissions_allow(run, finance_admin, reviewer, two_periods):
    as_finance, as_reviewer = logged_in(finance_admin), logged_in(reviewer)
    period = BillingPeriod.objects.get(period="2025-01")
    review = [("/admin/billing/charge/?period=2025-01&review=flagged", "Review 1 flagged charge")]
    closing = [(f"/admin/billing/billingperiod/{period.pk}/move/closed/", "Close the period")]
    assert action_links(page(as_finance, "?period=2025-01")[0]) == review + closing
    assert action_links(page(as_reviewer, "?period=2025-01")[0]) == review
    run("review", "approve", "-p", "2025-01")
    close = [(f"/admin/billing/billingperiod/{period.pk}/move/closed/", "Close the period")]
    assert action_links(page(as_finance, "?period=2025-01")[0]) == close
    html, d = page(as_reviewer, "?period=2025-01")
    assert action_links(html) == [] and d["next_steps"][0].label == "Close the period"  # shown, not a link


@pytest.mark.parametrize("step", ["import", "review", "close", "finalize"])
def test_a_viewer_sees_the_figures_but_no_action_links(run, viewer_client, two_periods, step):
    if step == "import":
        run("periods", "open", "2025-03")
    if step in ("close", "finalize"):
        run("review", "approve", "-p", "2025-01")
    if step == "finalize":
        run("periods", "close", "2025-01")
    query = "?period=2025-03" if step == "import" else "?period=2025-01"
    html, d = page(viewer_client, query)
    assert d["next_steps"] and all(s.url is None for s in d["next_steps"])
    assert action_links(html) == []
    dashboard = html[html.index('<section class="ocb-dashboard"') : html.index("</section>")]
    links = re.findall(r'href="([^"]+)"', dashboard)
    pages = r"/admin/billing/(importbatch|billingperiod)/\d+/change/"  # batches and the period page, to read
    assert all(re.fullmatch(pages, url) for url in links), links
    if step != "import":
        assert d["totals"][0]["billed"] == ("1,234,975.33 USD" if step == "review" else "1,234,995.58 USD")


def test_a_staff_user_without_billing_permissions_gets_no_dashboard(client, two_periods):
    user = User.objects.create_user("temp@example.edu", "temp@example.edu", "x", is_staff=True)
    client.force_login(user)
    html, d = page(client)
    assert d == {} and "ocb-dashboard" not in html


def test_the_page_renders_with_no_data_and_points_to_the_import(admin_client):
    html, d = page(admin_client)
    assert d == {"empty": True, "import_url": "/admin/billing/importbatch/"}
    assert "No billing data yet" in html and 'href="/admin/billing/importbatch/"' in html
    assert 'class="app-ocb-overview module' in html  # the app list is still there


def test_the_app_list_and_recent_actions_stay_below_the_dashboard(admin_client, two_periods):
    html, _ = page(admin_client)
    assert html.index("ocb-dashboard") < html.index('class="app-ocb-overview module')
    assert 'id="recent-actions-module"' in html


def test_a_period_in_two_currencies_is_shown_per_currency_and_never_added_up(run, admin_client, ingest):
    header = [*MINIMAL_HEADER, "BillingCurrency"]
    ingest("aws", "2025-01", [
        [*row("100", "110", ALICE, resource="u1"), "USD"],
        [*row("50.5", "60", BOB, resource="e1"), "EUR"],
    ], header)  # fmt: skip
    ingest("hpc", "2025-01", [[*row("7", "7", CAROL, resource="e2"), "EUR"]], header)
    assert run("review", "approve", "-p", "2025-01").code == 0  # EUR is flagged: not the expected currency
    html, d = page(admin_client)
    assert d["mixed_currencies"] and d["currencies"] == ["EUR", "USD"]
    assert "more than one currency (EUR, USD)" in html
    assert [(t["currency"], t["billed"], t["listed"]) for t in d["totals"]] == [
        ("EUR", "57.50 EUR", "67.00 EUR"),
        ("USD", "100.00 USD", "110.00 USD"),
    ]
    assert "157.50" not in html  # never summed across currencies
    assert {i["source"]: i["imported"] for i in d["imports"] if not i["missing"]} == {
        "aws": ["50.50 EUR", "100.00 USD"],
        "hpc": ["7.00 EUR"],
    }
    assert [c["currency"] for c in d["source_chart"]] == ["EUR", "USD"]
    assert [c["currency"] for c in d["month_charts"]] == ["EUR", "USD"]
    assert [(p["label"], p["currency"]) for p in d["top_pis"]] == [
        ("bob@example.edu", "EUR"), ("carol@example.edu", "EUR"), ("alice@example.edu", "USD"),
    ]  # fmt: skip


def test_the_query_count_does_not_grow_with_the_number_of_charges(admin_client, ingest, django_assert_max_num_queries):
    ingest("aws", "2025-01", [row("1", "1", ALICE, resource="a")])
    with CaptureQueriesContext(connection) as small:
        page(admin_client)
    cache.clear()
    many = [
        row(f"{i}.25", "99", tags(pi=f"pi{i % 40}@example.edu", project=f"p{i % 70}"), resource=f"r{i}")
        for i in range(600)
    ]
    ingest("aws", "2025-01", many)
    ingest("hpc", "2025-01", many[:300])
    ingest("aws", "2025-02", [row("1", "1", ALICE, period="2025-02", resource="b")])
    with django_assert_max_num_queries(len(small)):
        _, d = page(admin_client, "?period=2025-01")
    assert d["totals"][0]["imported_charges"] == 900 and d["pis"] == 40 and d["projects"] == 70


def test_the_stylesheet_takes_its_colours_from_the_admin_theme() -> None:
    css = (Path(settings.BASE_DIR) / "chargeback" / "static" / "chargeback" / "dashboard.css").read_text()
    assert "var(--primary)" in css and "var(--body-fg)" in css
    assert not re.search(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(", css), "use the admin's CSS variables"


def test_approving_flagged_charges_keeps_the_cached_ranking(run, admin_client, two_periods):
    page(admin_client, "?period=2025-01")
    assert run("review", "approve", "-p", "2025-01").code == 0
    with CaptureQueriesContext(connection) as queries:
        _, d = page(admin_client, "?period=2025-01")
    assert not any('SELECT "billing_charge"."pi_id"' in q["sql"] for q in queries.captured_queries)
    assert d["flagged_charges"] == 0 and d["totals"][0]["billed"] == "1,234,995.58 USD" and d["pis"] == 3


def test_re_evaluating_the_rules_refreshes_the_pis_and_projects(admin_client, ingest):
    ingest("aws", "2025-01", [row("5", "5", tags(pi=None, owner="dana@example.edu"), resource="o1")])
    _, d = page(admin_client)
    assert (d["pis"], d["projects"], d["top_pis"]) == (0, 1, [])
    TagMapping.objects.create(field="pi_email", tag_key="owner")
    period_reevaluate(month="2025-01", actor=Actor.cli())
    _, d = page(admin_client)
    assert (d["pis"], d["projects"]) == (1, 1)
    assert [(p["label"], p["billed"]) for p in d["top_pis"]] == [("dana@example.edu", "5.00 USD")]


def test_the_batch_based_totals_agree_with_summing_the_charges(run, two_periods):
    run("review", "reject", "--id", str(Charge.objects.get(resource_id="a3").pk))
    run("review", "approve", "--id", str(Charge.objects.get(resource_id="h1").pk))
    summed = {row["period"]: row for row in period_summaries()}
    for ref in dashboard_periods():
        [usd] = dashboard_figures(period=ref, periods=dashboard_periods()).totals
        billed = list(billed_charges(month=ref.period).values_list("billed_cost", "list_cost"))
        assert usd.charges == len(billed) == summed[ref.period]["charges"]
        assert usd.billed == sum((b for b, _ in billed), Decimal(0)) == summed[ref.period]["billed_cost"]
        assert usd.listed == sum((lc if lc is not None else b for b, lc in billed), Decimal(0))
        flagged = list(flagged_charges(month=ref.period).values_list("billed_cost", flat=True))
        assert (usd.flagged_charges, usd.flagged_cost) == (len(flagged), sum(flagged, Decimal(0)))
