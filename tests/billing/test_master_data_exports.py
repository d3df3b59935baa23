"""Every spreadsheet export of master data shows formulae as text, in CSV and in XLSX alike.

Project codes and names arrive from cloud tags anyone with access can set; a cell such as
`=HYPERLINK(…)` must never reach a finance officer's spreadsheet as a live formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django import forms
from django.urls import reverse

from billing.models import PI, AccountMapping, Project, Rate, Source, SubsidyRule

pytestmark = pytest.mark.django_db

FORMULAE = ['=HYPERLINK("http://evil.example","click")', "@SUM(1+1)", "-1+1", "+2+3"]
CSV_FORMAT, XLSX_FORMAT = "0", "1"


def hostile_pis() -> None:
    for i, text in enumerate(FORMULAE):
        PI.objects.create(email=f"pi{i}@example.edu", name=text)


def hostile_projects() -> None:
    for text in FORMULAE:
        Project.objects.create(code=text, title=text, fund_org=text)


def hostile_sources() -> None:
    for i, text in enumerate(FORMULAE):
        Source.objects.create(name=f"evil{i}", display_name=text, credit_fund_org=text, gl_account=text)


def hostile_rates() -> None:
    for i, text in enumerate(FORMULAE):
        Rate.objects.create(
            name=f"cpu-{i}", description=text, applies_to=text, unit=text, price=Decimal("-0.5"),
            effective_from=dt.date(2025, 1, 1),
        )  # fmt: skip


def hostile_subsidies() -> None:
    for i, text in enumerate(FORMULAE):
        SubsidyRule.objects.create(
            code=f"s{i}", label=text, service_name=text, partition=text, percent=Decimal(50),
            effective_from=dt.date(2025, 1, 1),
        )  # fmt: skip


def hostile_mappings() -> None:
    project = Project.objects.create(code="genomics")
    for text in FORMULAE:
        AccountMapping.objects.create(kind="sub_account", value=text, project=project, fund_org=text, note=text)


EXPORTS: list[tuple[str, Callable[[], None]]] = [
    ("pi", hostile_pis),
    ("project", hostile_projects),
    ("source", hostile_sources),
    ("rate", hostile_rates),
    ("subsidyrule", hostile_subsidies),
    ("accountmapping", hostile_mappings),
]


def export(client: Any, model: str, file_format: str) -> bytes:
    url = reverse(f"admin:billing_{model}_export")
    form = client.get(url).context["form"]
    every_field = {name: "on" for name, field in form.fields.items() if isinstance(field, forms.BooleanField)}
    response = client.post(url, {"format": file_format, "resource": "0", **every_field})
    assert response.status_code == 200, response.content[:500]
    return response.content


def csv_cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for cell in row]


def xlsx_cells(data: bytes) -> list[Any]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    return [cell for row in sheet.iter_rows() for cell in row]


@pytest.mark.parametrize("model, make", EXPORTS, ids=[m for m, _ in EXPORTS])
def test_a_csv_export_shows_every_formula_as_text(client, finance_admin, model, make):
    make()
    client.force_login(finance_admin)

    cells = csv_cells(export(client, model, CSV_FORMAT))

    live = [c for c in cells if c.startswith(("=", "@", "+")) or (c.startswith("-") and not _number(c))]
    assert live == []
    assert {f"'{text}" for text in FORMULAE} <= set(cells)


@pytest.mark.parametrize("model, make", EXPORTS, ids=[m for m, _ in EXPORTS])
def test_an_xlsx_export_shows_every_formula_as_text(client, finance_admin, model, make):
    make()
    client.force_login(finance_admin)

    cells = xlsx_cells(export(client, model, XLSX_FORMAT))

    assert [c.value for c in cells if c.data_type == "f"] == []
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert [t for t in texts if t.startswith(("=", "@", "+")) or (t.startswith("-") and not _number(t))] == []
    assert {f"'{text}" for text in FORMULAE} <= set(texts)


def test_amounts_stay_numbers_when_text_is_escaped(client, finance_admin):
    hostile_rates()
    client.force_login(finance_admin)

    rows = list(csv.DictReader(io.StringIO(export(client, "rate", CSV_FORMAT).decode("utf-8-sig"))))

    assert {r["price"] for r in rows} == {"-0.5000000000"}
    assert {r["description"] for r in rows} == {f"'{text}" for text in FORMULAE}


def _number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True
