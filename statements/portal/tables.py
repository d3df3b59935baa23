"""Portal tables (django-tables2): captions, money through the one rounding helper, safe links."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from billing.models import Charge
from chargeback.formatting import money
from statements.models import Statement

TEMPLATE = "portal/table.html"


class MoneyColumn(tables.Column):
    """An amount with the row's currency code; right-aligned."""

    def __init__(self, *args: Any, currency_field: str = "currency", **kwargs: Any) -> None:
        self.currency_field = currency_field
        attrs = {"th": {"class": "num"}, "td": {"class": "num"}}
        super().__init__(*args, attrs=attrs, **kwargs)

    def render(self, value: Decimal | None, record: Any) -> str:
        return money(value, getattr(record, self.currency_field, ""))


class StatementTable(tables.Table):
    number = tables.Column(verbose_name="Statement", order_by=("number", "version"))
    period = tables.Column(accessor="period__period", verbose_name="Period")
    project = tables.Column(accessor="project__code", verbose_name="Project", default="(no project)")
    status = tables.Column()
    list_total = MoneyColumn(verbose_name="List price")
    discount_total = MoneyColumn(verbose_name="Discount")
    amount_due = MoneyColumn(verbose_name="Amount due")
    pdf = tables.Column(empty_values=(), verbose_name="PDF", orderable=False)

    class Meta:
        model = Statement
        fields = ("number", "period", "project", "status", "list_total", "discount_total", "amount_due", "pdf")
        template_name = TEMPLATE
        order_by = ("-period", "number")
        empty_text = "No statements match. Statements appear here once a billing period is closed and billed."
        attrs = {"class": "portal-table", "id": "statements"}

    caption = "Statements"

    def render_number(self, value: str, record: Statement) -> str:
        url = reverse("portal:statement", args=[record.pk])
        return format_html('<a href="{}">{} v{}</a>', url, value, record.version)

    def render_status(self, record: Statement) -> str:
        return format_html('<span class="status status-{}">{}</span>', record.status, record.get_status_display())

    def render_pdf(self, record: Statement) -> str:
        if not record.pdf:
            return "pending"
        url = reverse("portal:statement_pdf", args=[record.pk])
        return format_html('<a href="{}" download>Download<span class="visually-hidden"> {}</span></a>', url, record)


class ChargeTable(tables.Table):
    id = tables.Column(verbose_name="Charge", orderable=False)
    period = tables.Column(accessor="period__period", verbose_name="Period")
    project = tables.Column(accessor="project__code", verbose_name="Project", default="—", orderable=False)
    service_name = tables.Column(verbose_name="Service", orderable=False)
    resource = tables.Column(accessor="resource_id", verbose_name="Resource", orderable=False)
    fund_org = tables.Column(verbose_name="Fund/org", orderable=False)
    list_cost = MoneyColumn(verbose_name="List cost", currency_field="billing_currency", orderable=False)
    billed_cost = MoneyColumn(verbose_name="Billed cost", currency_field="billing_currency")
    review_state = tables.Column(verbose_name="Review", orderable=False)

    class Meta:
        model = Charge
        fields = ("id", "period", "project", "service_name", "resource", "fund_org", "list_cost", "billed_cost",
                  "review_state")  # fmt: skip
        template_name = TEMPLATE
        empty_text = "No charges match these filters."
        attrs = {"class": "portal-table", "id": "charges"}

    caption = "Charges"

    def render_id(self, value: int) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("portal:charge", args=[value]), value)

    def render_resource(self, record: Charge) -> str:
        name = record.resource_name if record.resource_name and record.resource_name != record.resource_id else ""
        if name:
            return format_html(
                '<span class="resource">{}</span><br><span class="quiet">{}</span>', record.resource_id, name
            )
        return format_html('<span class="resource">{}</span>', record.resource_id or "—")

    def render_review_state(self, record: Charge) -> str:
        if record.review_state == Charge.ReviewState.FLAGGED:
            return format_html('<span class="status status-flagged">{}</span>', "Under review")
        return record.get_review_state_display()
