"""Attribution and flagging: from a row's tags and values to PI, project, fund/org and flags.

`RuleSnapshot` is the import's rules and master data, read once from the database (tag
mapping, flag patterns, fund/org patterns, expected currency, existing projects). `Attributor`
applies it and is pure Python, so the same code runs in the importing process or in a parsing
worker process. PIs and projects are named by email and code here; the writer turns names into
ids, creating PIs and projects on first sight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from chargeback.text import CONTROL_CHARACTERS

from .mapping import AccountMap

TAG_FIELDS = ("pi_email", "project_id", "fund_org", "cost_center", "account_code", "reference_1", "reference_2")
EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")

# Flag reason codes (see docs/importing.md)
MISSING_PI = "missing_pi"
INVALID_PI_EMAIL = "invalid_pi_email"
MISSING_PROJECT = "missing_project"
INVALID_PROJECT = "invalid_project"
MISSING_FUND_ORG = "missing_fund_org"
INVALID_FUND_ORG = "invalid_fund_org"
PATTERN_MATCH = "pattern_match"
PERIOD_MISMATCH = "period_mismatch"
CURRENCY_MISMATCH = "currency_mismatch"
NEGATIVE_AMOUNT = "negative_amount"
PROJECT_OWNER_CHANGE = "project_owner_change"


@dataclass
class RuleSnapshot:
    """Everything an import's rules need, as plain data (picklable for a worker process)."""

    month: str
    expected_currency: str = "USD"
    tag_keys: dict[str, list[str]] = field(default_factory=dict)
    flag_patterns: list[tuple[str, str, list[str]]] = field(default_factory=list)  # name, regex, fields
    fund_patterns: list[str] = field(default_factory=list)
    projects: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # code -> (owner email, fund)
    accounts: AccountMap = field(default_factory=AccountMap)

    @classmethod
    def load(cls, *, month: str) -> RuleSnapshot:
        from billing.models import FlagPattern, FundOrgPattern, Project, TagMapping
        from chargeback.models import Organization

        keys: dict[str, list[str]] = {}
        for m in TagMapping.objects.order_by("priority", "id"):
            keys.setdefault(m.field, []).append(m.tag_key)
        return cls(
            month=month,
            expected_currency=Organization.current().expected_currency.upper(),
            tag_keys=keys,
            flag_patterns=[
                (p.name, p.pattern, [f.strip() for f in p.fields.split(",") if f.strip()])
                for p in FlagPattern.objects.filter(enabled=True).order_by("name")
            ],
            fund_patterns=[p.pattern for p in FundOrgPattern.objects.filter(enabled=True)],
            projects={
                code: (email, fund)
                for code, email, fund in Project.objects.values_list("code", "pi__email", "fund_org")
            },
            accounts=AccountMap.load(),
        )


@dataclass(frozen=True)
class Attribution:
    pi_email: str | None
    project_code: str | None
    fund_org: str
    cost_center: str
    account_code: str
    reference_1: str
    reference_2: str
    reasons: tuple[str, ...]
    rule: str = ""  # the account mapping that attributed it (kind:value), when not the tags


@dataclass
class MasterDataEvents:
    """PIs and projects seen for the first time, in order; the writer creates them."""

    new_pis: list[str] = field(default_factory=list)
    new_projects: list[tuple[str, str | None, str]] = field(default_factory=list)  # code, owner, fund
    owner_claims: list[tuple[str, str]] = field(default_factory=list)  # project without PI -> first PI

    def __bool__(self) -> bool:
        return bool(self.new_pis or self.new_projects or self.owner_claims)


class Attributor:
    """Applies a RuleSnapshot. `attribute(tags_json, tags)` gives the tag-based attribution."""

    def __init__(self, snapshot: RuleSnapshot, *, known_pis: set[str] | None = None) -> None:
        self.snapshot = snapshot
        self.keys = [snapshot.tag_keys.get(f, []) for f in TAG_FIELDS]
        self.key_pairs = [[(key, key.lower()) for key in keys] for keys in self.keys]
        self.fund_patterns = [re.compile(p, re.IGNORECASE) for p in snapshot.fund_patterns]
        self.flag_patterns = [(n, re.compile(p, re.IGNORECASE), f) for n, p, f in snapshot.flag_patterns]
        self.projects = dict(snapshot.projects)
        self.known_pis = set(known_pis or ()) | {e for e, _ in self.projects.values() if e}
        self.events = MasterDataEvents()
        self.all_new_pis: set[str] = set()
        self.all_new_projects: set[str] = set()
        self._by_json: dict[str, Attribution] = {}
        self._by_values: dict[tuple[str, ...], Attribution] = {}
        self._fund_valid: dict[str, bool] = {}
        self._by_account: dict[tuple[tuple[str, ...], Attribution], Attribution] = {}

    @property
    def maps_accounts(self) -> bool:
        return bool(self.snapshot.accounts)

    def map_account(self, attr: Attribution, accounts: tuple[str, ...]) -> Attribution:
        """For a row whose tags name no project: the project (and its PI and fund/org) of the
        first account mapping that matches one of its accounts, checked like tags would be."""
        key = (accounts, attr)
        cached = self._by_account.get(key)
        if cached is not None:
            return cached
        hit = self.snapshot.accounts.find(accounts)
        if hit is None:
            result = attr
        else:
            owner = self.projects.get(hit.project, (None, ""))[0]
            values = (
                attr.pi_email or owner or "", hit.project, attr.fund_org or hit.fund_org, attr.cost_center,
                attr.account_code, attr.reference_1, attr.reference_2,
            )  # fmt: skip
            result = replace(self.attribute_values(values), rule=hit.label)
        if len(self._by_account) > 50_000:
            self._by_account.clear()
        self._by_account[key] = result
        return result

    def take_events(self) -> MasterDataEvents:
        events, self.events = self.events, MasterDataEvents()
        return events

    def tag_values(self, tags: dict[str, Any]) -> tuple[str, ...]:
        """The mapped tag values, keys matched exactly first, then case-insensitively."""
        lowered: dict[str, Any] | None = None
        values = []
        for pairs in self.key_pairs:
            found = ""
            for key, low in pairs:
                value = tags.get(key)
                if value is None:
                    if lowered is None:
                        # Tags written in lower case already are their own lower-cased copy.
                        lowered = tags if all(type(k) is str and k.islower() for k in tags) else (
                            {str(k).lower(): v for k, v in tags.items()}
                        )  # fmt: skip
                    if lowered is not tags or low != key:
                        value = lowered.get(low)
                if value is not None:
                    text = str(value).strip()
                    if text:
                        found = text
                        break
            values.append(found)
        return tuple(values)

    def cached(self, tags_json: str) -> Attribution | None:
        return self._by_json.get(tags_json)

    def attribute(self, tags_json: str, tags: dict[str, Any]) -> Attribution:
        cached = self._by_json.get(tags_json)
        if cached is None:
            cached = self.attribute_values(self.tag_values(tags))
            if len(self._by_json) > 50_000:
                self._by_json.clear()
            self._by_json[tags_json] = cached
        return cached

    def attribute_values(self, values: tuple[str, ...]) -> Attribution:
        cached = self._by_values.get(values)
        if cached is None:
            cached = self._attribute(*values)
            if len(self._by_values) > 50_000:
                self._by_values.clear()
            self._by_values[values] = cached
        return cached

    def _attribute(
        self, pi_raw: str, code: str, fund_org: str, cost_center: str, account: str, ref1: str, ref2: str
    ) -> Attribution:
        reasons: list[str] = []
        email: str | None = pi_raw.lower()
        if not email:
            reasons.append(MISSING_PI)
            email = None
        elif not EMAIL_RE.match(email) or CONTROL_CHARACTERS.search(email):
            reasons.append(INVALID_PI_EMAIL)
            email = None
        elif email not in self.known_pis:
            self.known_pis.add(email)
            self.all_new_pis.add(email)
            self.events.new_pis.append(email)
        project: str | None = code or None
        if project is None:
            reasons.append(MISSING_PROJECT)
        elif CONTROL_CHARACTERS.search(project):
            # A line break or other control character in a code: no project is created from it.
            reasons.append(INVALID_PROJECT)
            project = None
        else:
            known = self.projects.get(project)
            if known is None:
                self.projects[project] = (email, fund_org)
                self.all_new_projects.add(project)
                self.events.new_projects.append((project, email, fund_org))
            else:
                owner, default_fund = known
                if owner is None and email is not None:
                    # A project first seen without a PI gets the first PI that claims it.
                    self.projects[project] = (email, default_fund)
                    self.events.owner_claims.append((project, email))
                elif email is not None and owner != email:
                    reasons.append(PROJECT_OWNER_CHANGE)
                if not fund_org:
                    fund_org = default_fund
        if not fund_org:
            reasons.append(MISSING_FUND_ORG)
        elif not self.fund_org_valid(fund_org):
            reasons.append(INVALID_FUND_ORG)
        return Attribution(email, project, fund_org, cost_center, account, ref1, ref2, tuple(reasons))

    def fund_org_valid(self, fund_org: str) -> bool:
        valid = self._fund_valid.get(fund_org)
        if valid is None:
            valid = not CONTROL_CHARACTERS.search(fund_org) and (
                not self.fund_patterns or any(p.match(fund_org) for p in self.fund_patterns)
            )
            self._fund_valid[fund_org] = valid
        return valid
