"""The open month on the portal: charges to date with the statement's own figures, disputes a
reviewer resolves, close refused while one is open, and nothing of a project outside one's access."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from billing.models import Budget, BudgetAlert, Charge
from billing.selectors import billed_charges, flagged_charges
from chargeback.money import MoneySum
from statements.models import Dispute, Notice
from statements.services.notices import notice_send
from tests.conftest import make_staff, minimal_row, tags
from tests.portal.conftest import World

OPEN = "2025-02"


@pytest.fixture
def open_month(world: World, focus_files: Any, run: Any) -> World:
    """February is open: genomics and proteomics (Alice), astro (Bob); one genomics charge flagged."""
    rows = [
        minimal_row("70.00", period=OPEN, resource="feb-gen-vm", service="Amazon EC2"),
        minimal_row("12.25", period=OPEN, resource="feb-gen-bucket", service="Amazon S3"),
        minimal_row("-2.00", period=OPEN, resource="feb-gen-credit", service="Amazon S3"),
        minimal_row("33.00", period=OPEN, resource="feb-prot-vm", tag_json=tags(project="proteomics",
                                                                                fund="BIO-2025-002")),
        minimal_row("90.00", period=OPEN, resource="feb-astro", tag_json=tags(pi="bob@example.edu", project="astro",
                                                                              fund="PHYS-2025-001")),
    ]  # fmt: skip
    path = focus_files.write(f"aws-{OPEN}.csv", rows)
    assert run("ingest", str(path), "-s", "aws", "-p", OPEN).code == 0
    return world


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_open_month_shows_the_figures_the_statement_will_show(open_month: World) -> None:
    page = signed_in(open_month.alice).get("/portal/open/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Not yet billed — data as of" in text
    genomics = billed_charges(month=OPEN).filter(project=open_month.genomics)
    billed = genomics.aggregate(t=MoneySum("billed_cost"))["t"]
    pending = flagged_charges(month=OPEN).filter(project=open_month.genomics).aggregate(t=MoneySum("billed_cost"))["t"]
    assert (billed, pending) == (Decimal("82.25"), Decimal("-2.00"))  # the credit is held for review
    assert "82.25" in text and "-2.00" in text
    assert "astro" not in text  # Bob's


def test_a_pi_disputes_a_charge_the_reviewer_resolves_it_and_close_waits_for_it(
    open_month: World, run: Any, django_capture_on_commit_callbacks: Any
) -> None:
    vm = Charge.objects.get(resource_id="feb-gen-vm")
    alice = signed_in(open_month.alice)
    page = alice.get(f"/portal/projects/{open_month.genomics.pk}/open/")
    assert f'value="{vm.pk}"' in page.content.decode()

    response = alice.post(f"/portal/projects/{open_month.genomics.pk}/disputes/",
                          {"charge": [vm.pk], "comment": "This VM was shut down in January"})  # fmt: skip
    assert response.status_code == 302
    vm.refresh_from_db()
    assert (vm.review_state, vm.flag_reason_list) == ("flagged", ["disputed"])
    dispute = Dispute.objects.get()
    assert (dispute.raised_by, dispute.status) == ("alice@example.edu", "open")

    refused = run("periods", "close", OPEN)
    assert refused.code == 1
    assert f"period {OPEN} has 1 open dispute (#{dispute.pk})" in refused.err

    reviewer = signed_in(make_staff("reviewer@example.edu", "Reviewer"))
    queue = reviewer.get("/admin/billing/charge/?reason=disputed").content.decode()
    assert "feb-gen-vm" in queue and "This VM was shut down in January" in queue
    with django_capture_on_commit_callbacks(execute=True):
        reply = {"outcome": "approve", "reply": "The VM ran until Feb 3; see the usage log."}
        resolved = reviewer.post(f"/admin/statements/dispute/{dispute.pk}/resolve/", reply)
    assert resolved.status_code == 302
    vm.refresh_from_db()
    assert vm.review_state == "approved" and "disputed" not in vm.flag_reason_list

    charge_page = alice.get(f"/portal/charges/{vm.pk}/").content.decode()
    assert "The VM ran until Feb 3; see the usage log." in charge_page
    [email] = [m for m in mail.outbox if "dispute" in m.subject]
    assert email.to == ["alice@example.edu"] and email.subject.endswith("is resolved: approved as is")
    notice = Notice.objects.get(kind=Notice.Kind.DISPUTE_RESOLVED)
    assert notice_send(notice_id=notice.pk) == "skipped"  # exactly once
    assert len([m for m in mail.outbox if "dispute" in m.subject]) == 1

    # The month's other flagged charge is decided too (readiness), then it closes.
    for other in Charge.objects.filter(period__period=OPEN, review_state="flagged"):
        assert run("review", "reject", "--id", str(other.pk)).code == 0
    closed = run("periods", "close", OPEN)
    assert closed.code == 0, closed.err


def test_a_whole_service_line_is_disputed_and_rejecting_it_leaves_it_unbilled(open_month: World) -> None:
    alice = signed_in(open_month.alice)
    alice.post(f"/portal/projects/{open_month.genomics.pk}/disputes/",
               {"service": "Amazon S3", "comment": "We do not use S3"})  # fmt: skip
    dispute = Dispute.objects.get()
    assert sorted(dispute.charges.values_list("resource_id", flat=True)) == ["feb-gen-bucket", "feb-gen-credit"]
    reviewer = signed_in(make_staff("reviewer@example.edu", "Reviewer"))
    reviewer.post(f"/admin/statements/dispute/{dispute.pk}/resolve/", {"outcome": "reject", "reply": "Agreed."})
    assert set(Charge.objects.filter(service_name="Amazon S3", period__period=OPEN).values_list(
        "review_state", flat=True)) == {"rejected"}  # fmt: skip
    assert "Agreed." in alice.get(f"/portal/projects/{open_month.genomics.pk}/open/").content.decode()


def test_a_dispute_needs_a_comment_and_a_charge_is_disputed_once(open_month: World) -> None:
    vm = Charge.objects.get(resource_id="feb-gen-vm")
    alice = signed_in(open_month.alice)
    url = f"/portal/projects/{open_month.genomics.pk}/disputes/"
    page = alice.post(url, {"charge": [vm.pk], "comment": " "}, follow=True).content.decode().lower()
    assert "a dispute needs a comment" in page and not Dispute.objects.exists()
    alice.post(url, {"charge": [vm.pk], "comment": "wrong"})
    page = alice.post(url, {"charge": [vm.pk], "comment": "still wrong"}, follow=True).content.decode().lower()
    assert f"charge {vm.pk} is already disputed" in page and Dispute.objects.count() == 1


def test_a_delegate_without_the_project_sees_neither_its_charges_nor_its_alerts(
    open_month: World, run: Any, django_capture_on_commit_callbacks: Any
) -> None:
    Budget.objects.create(project=open_month.proteomics, amount=Decimal("40"), currency="USD")
    Budget.objects.create(project=open_month.genomics, amount=Decimal("100"), currency="USD")
    with django_capture_on_commit_callbacks(execute=True):
        assert run("alerts", "run").code == 0
    assert sorted(BudgetAlert.objects.values_list("budget__project__code", "threshold")) == [
        ("genomics", 80), ("proteomics", 80)]  # fmt: skip
    told = {(m.to[0], "proteomics" in m.body) for m in mail.outbox}
    assert ("dana@example.edu", True) not in told and ("dana@example.edu", False) in told

    dana = signed_in(open_month.dana)  # a delegate for genomics only
    text = dana.get("/portal/open/").content.decode()
    assert "genomics" in text and "proteomics" not in text
    assert dana.get(f"/portal/projects/{open_month.proteomics.pk}/open/").status_code == 404
    prot = Charge.objects.get(resource_id="feb-prot-vm")
    response = dana.post(f"/portal/projects/{open_month.proteomics.pk}/disputes/",
                         {"charge": [prot.pk], "comment": "not ours"})  # fmt: skip
    assert response.status_code == 404 and not Dispute.objects.exists()
    # Nor through a project she may see: the charge is not hers to dispute.
    page = dana.post(f"/portal/projects/{open_month.genomics.pk}/disputes/",
                     {"charge": [prot.pk], "comment": "not ours"}, follow=True).content.decode().lower()  # fmt: skip
    assert "only charges of your projects" in page and not Dispute.objects.exists()


def test_the_project_page_draws_the_month_budget_and_forecast(open_month: World) -> None:
    Budget.objects.create(project=open_month.genomics, amount=Decimal("100"), currency="USD")
    page = signed_in(open_month.alice).get(f"/portal/projects/{open_month.genomics.pk}/").content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="oc-budget-chart' in page
    assert 'class="budget"' in page and 'class="spend"' in page and 'class="forecast"' in page
    assert "spend 80.25 USD" in page or "spend USD 80.25" in page


def test_a_pi_sets_a_budget_only_when_the_office_allows_it(open_month: World) -> None:
    from chargeback.models import Organization

    alice = signed_in(open_month.alice)
    url = f"/portal/projects/{open_month.genomics.pk}/budget/"
    form = {"amount": "250", "currency": "USD", "span": "month", "thresholds": "75/100"}
    assert alice.post(url, form).status_code == 403 and not Budget.objects.exists()
    org = Organization.current()
    org.pis_set_budgets = True
    org.save()
    assert alice.post(url, form).status_code == 302
    budget = Budget.objects.get()
    assert (budget.amount, budget.thresholds, budget.set_by) == (Decimal("250"), [75, 100], "pi")
    assert signed_in(open_month.dana).post(url, form).status_code == 403  # a delegate is not the PI


def test_a_disputed_charge_stays_disputed_when_the_rules_run_again(open_month: World) -> None:
    from billing.services.rules import period_reevaluate
    from chargeback.audit import Actor

    vm = Charge.objects.get(resource_id="feb-gen-vm")
    signed_in(open_month.alice).post(f"/portal/projects/{open_month.genomics.pk}/disputes/",
                                     {"charge": [vm.pk], "comment": "not ours"})  # fmt: skip
    period_reevaluate(month=OPEN, actor=Actor.cli())
    vm.refresh_from_db()
    assert (vm.review_state, vm.flag_reason_list) == ("flagged", ["disputed"])
