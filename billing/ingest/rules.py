"""Attribution and flagging: turn a parsed row into PI, project, fund/org and flag reasons.

The rules come from the database (tag mapping, flag patterns, fund/org patterns, expected
currency) and are loaded once per import. PIs and projects are created on first sight.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from billing.models import PI, FlagPattern, FundOrgPattern, Project, TagMapping
from chargeback.models import Organization

from .reader import POS, Row

ATTRIBUTION_FIELDS = ("fund_org", "cost_center", "account_code", "reference_1", "reference_2")
EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")

# Flag reason codes (see docs/importing.md)
MISSING_PI = "missing_pi"
INVALID_PI_EMAIL = "invalid_pi_email"
MISSING_PROJECT = "missing_project"
MISSING_FUND_ORG = "missing_fund_org"
INVALID_FUND_ORG = "invalid_fund_org"
PATTERN_MATCH = "pattern_match"
PERIOD_MISMATCH = "period_mismatch"
CURRENCY_MISMATCH = "currency_mismatch"
NEGATIVE_AMOUNT = "negative_amount"
PROJECT_OWNER_CHANGE = "project_owner_change"


@dataclass
class Attribution:
    pi_id: int | None = None
    project_id: int | None = None
    fund_org: str = ""
    cost_center: str = ""
    account_code: str = ""
    reference_1: str = ""
    reference_2: str = ""
    reasons: list[str] = field(default_factory=list)


class RuleSet:
    """The import rules, loaded once. `attribute(row)` is called for every row."""

    def __init__(self, *, period: str, dry_run: bool) -> None:
        self.period = period
        self.dry_run = dry_run
        keys: dict[str, list[str]] = {}
        for m in TagMapping.objects.order_by("priority", "id"):
            keys.setdefault(m.field, []).append(m.tag_key)
        self.tag_keys = keys
        self.flag_patterns = [
            (
                p.name,
                re.compile(p.pattern, re.IGNORECASE),
                [f.strip() for f in p.fields.split(",") if f.strip()],
            )
            for p in FlagPattern.objects.filter(enabled=True)
        ]
        self.fund_patterns = [re.compile(p.pattern, re.IGNORECASE) for p in FundOrgPattern.objects.filter(enabled=True)]
        self.expected_currency = Organization.current().expected_currency.upper()
        self._pis: dict[str, int] = dict(PI.objects.values_list("email", "id"))
        self._projects: dict[str, tuple[int, int | None, str]] = {
            code: (pk, pi_id, fund)
            for code, pk, pi_id, fund in Project.objects.values_list("code", "id", "pi_id", "fund_org")
        }
        self._fund_valid: dict[str, bool] = {}
        self._attr_cache: dict[str, Attribution] = {}
        self.new_pis: set[str] = set()
        self.new_projects: set[str] = set()
        self._fake_id = 0

    # -- tags ---------------------------------------------------------------------------------
    def _tag(self, tags: dict[str, Any], field_name: str) -> str:
        for key in self.tag_keys.get(field_name, ()):
            value = tags.get(key)
            if value is None:
                lowered = key.lower()
                value = next((v for k, v in tags.items() if k.lower() == lowered), None)
            if value is not None and str(value).strip():
                return str(value).strip()
        return ""

    # -- PIs and projects ---------------------------------------------------------------------
    def _pi_id(self, email: str) -> int:
        pk = self._pis.get(email)
        if pk is None:
            if self.dry_run:
                self._fake_id -= 1
                pk = self._fake_id
            else:
                pk = _get_or_create(PI, email=email).pk
            self._pis[email] = pk
            self.new_pis.add(email)
        return pk

    def _project(self, code: str, pi_id: int | None, fund_org: str) -> tuple[int, int | None, str]:
        found = self._projects.get(code)
        if found is None:
            if self.dry_run:
                self._fake_id -= 1
                found = (self._fake_id, pi_id, fund_org)
            else:
                project = _get_or_create(
                    Project,
                    code=code,
                    defaults={"pi_id": pi_id if pi_id and pi_id > 0 else None, "fund_org": fund_org},
                )
                found = (project.pk, project.pi_id, project.fund_org)
            self._projects[code] = found
            self.new_projects.add(code)
        elif found[1] is None and pi_id is not None:
            # A project first seen without a PI gets the first PI that claims it.
            if not self.dry_run and pi_id > 0:
                Project.objects.filter(pk=found[0], pi__isnull=True).update(pi_id=pi_id)
            found = (found[0], pi_id, found[2])
            self._projects[code] = found
        return found

    def fund_org_valid(self, fund_org: str) -> bool:
        if not self.fund_patterns:
            return True
        valid = self._fund_valid.get(fund_org)
        if valid is None:
            valid = any(p.match(fund_org) for p in self.fund_patterns)
            self._fund_valid[fund_org] = valid
        return valid

    # -- the rule ---------------------------------------------------------------------------------
    def attribute(self, row: Row) -> Attribution:
        """Attribution and all flag reasons for one row."""
        tags = row.tags
        attr = self._attribute_tags(row.tags_json, tags)
        reasons = list(attr.reasons)
        values = row.values
        start = values[POS["billing_period_start"]]
        if start is None or start[:7] != self.period:
            reasons.append(PERIOD_MISMATCH)
        currency = values[POS["billing_currency"]]
        if currency is not None and currency.upper() != self.expected_currency:
            reasons.append(CURRENCY_MISMATCH)
        billed = values[POS["billed_cost"]]
        category = values[POS["charge_category"]]
        if (billed is not None and billed < 0) or (category is not None and category.lower() == "credit"):
            reasons.append(NEGATIVE_AMOUNT)
        if self.flag_patterns:
            reasons.extend(self._pattern_reasons(values, attr, tags, row.tags_json))
        if len(reasons) != len(attr.reasons):
            return Attribution(
                attr.pi_id, attr.project_id, attr.fund_org, attr.cost_center, attr.account_code,
                attr.reference_1, attr.reference_2, reasons,
            )  # fmt: skip
        return attr

    def _attribute_tags(self, tags_json: str, tags: dict[str, Any]) -> Attribution:
        # Rows share tag sets heavily; the attribution of a tag set is computed once.
        cached = self._attr_cache.get(tags_json)
        if cached is not None:
            return cached
        attr = self.attribute_values(
            pi_email=self._tag(tags, "pi_email"),
            project_code=self._tag(tags, "project_id"),
            **{name: self._tag(tags, name) for name in ATTRIBUTION_FIELDS},
        )
        if len(self._attr_cache) > 20_000:
            self._attr_cache.clear()
        self._attr_cache[tags_json] = attr
        return attr

    def attribute_values(self, *, pi_email: str, project_code: str, **fields: str) -> Attribution:
        """Attribution from explicit values (used for tags and for a reviewer's fix)."""
        reasons: list[str] = []
        email = pi_email.strip().lower()
        pi_id: int | None = None
        if not email:
            reasons.append(MISSING_PI)
        elif not EMAIL_RE.match(email):
            reasons.append(INVALID_PI_EMAIL)
        else:
            pi_id = self._pi_id(email)
        project_id: int | None = None
        fund_org = fields.get("fund_org", "").strip()
        code = project_code.strip()
        if not code:
            reasons.append(MISSING_PROJECT)
        else:
            project_pk, owner, default_fund = self._project(code, pi_id, fund_org)
            project_id = project_pk
            if pi_id is not None and owner is not None and owner != pi_id:
                reasons.append(PROJECT_OWNER_CHANGE)
            if not fund_org:
                fund_org = default_fund
        if not fund_org:
            reasons.append(MISSING_FUND_ORG)
        elif not self.fund_org_valid(fund_org):
            reasons.append(INVALID_FUND_ORG)
        return Attribution(
            pi_id=pi_id,
            project_id=project_id,
            fund_org=fund_org,
            cost_center=fields.get("cost_center", ""),
            account_code=fields.get("account_code", ""),
            reference_1=fields.get("reference_1", ""),
            reference_2=fields.get("reference_2", ""),
            reasons=reasons,
        )

    def _pattern_reasons(
        self, values: list[Any], attr: Attribution, tags: dict[str, Any], tags_json: str
    ) -> Iterable[str]:
        for name, regex, fields in self.flag_patterns:
            for f in fields:
                if f == "tags":
                    text = tags_json
                elif f == "pi_email":
                    text = self._tag(tags, "pi_email")
                elif f == "project_id":
                    text = self._tag(tags, "project_id")
                elif f == "fund_org":
                    text = attr.fund_org
                else:
                    text = values[POS[f]] or ""
                if text and regex.search(text):
                    yield f"{PATTERN_MATCH}:{name}"
                    break


def _get_or_create(model: Any, **kwargs: Any) -> Any:
    # Inside the import's transaction; a savepoint keeps a concurrent insert from aborting it.
    try:
        with transaction.atomic():
            obj, _ = model.objects.get_or_create(**kwargs)
    except IntegrityError:
        obj = model.objects.get(**{k: v for k, v in kwargs.items() if k != "defaults"})
    return obj
