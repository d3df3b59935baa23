"""Read an old `config.yaml` and check it without touching the database.

`config_load` reads the file; `config_plan` validates what the old tool's keys say and returns it
as a `ConfigPlan`, noting in the `ConfigImportReport` the keys that are not imported (with where
their replacement lives) and what deserves a warning. Any invalid value is a BillingError naming
its key. `journals.services.config_import` applies the plan.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.text import slugify

from billing.models import TagMapping
from chargeback.errors import BillingError
from chargeback.models import Organization

KINDS = ("tag_mappings", "flag_patterns", "fund_org_patterns", "sources", "journal_formats", "organization")
JOURNAL_KEYS = ("fund_org_regex", "account_code_regex", "default_account", "debit_description", "credit_description")
OLD_DEFAULT_TEMPLATE = "journal_gl.csv"

IGNORED_TOP_LEVEL = {
    "dev_mode": "without EMAIL_HOST in the environment, email is written to files under OPENCHARGEBACK_DATA_DIR/mail",
    "currency": (
        "a display symbol only; amounts are shown with each charge's ISO currency code "
        "(set the expected currency, e.g. USD, on the Organization in the admin)"
    ),
    "database": "the database is the DATABASE_URL environment variable (default: SQLite under OPENCHARGEBACK_DATA_DIR)",
    "smtp": (
        "configure EMAIL_HOST, EMAIL_PORT, EMAIL_USE_TLS, EMAIL_HOST_USER and EMAIL_HOST_PASSWORD environment variables"
    ),
    "email": "set DEFAULT_FROM_EMAIL in the environment",
    "output": "statements, journals and imported files are stored under OPENCHARGEBACK_DATA_DIR",
    "logging": "logs go to the console; set LOG_LEVEL in the environment",
    "web": (
        "run the web server with gunicorn or runserver; secret_key is the SECRET_KEY environment "
        "variable; password rules are Django's AUTH_PASSWORD_VALIDATORS"
    ),
    "sources": "API credentials (never used by the old tool); import files with `openchargeback ingest`",
}
IMPORTED_TOP_LEVEL = ("tag_mapping", "review", "imports", "journal")


@dataclass
class ConfigImportReport:
    """What an import did (or, in a dry run, would do), per kind of rule."""

    dry_run: bool
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    changes: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values())


@dataclass
class _SourceSpec:
    entry: str  # where it came from, for messages: imports.known_sources[2] ('Azure Local')
    name: str
    display_name: str
    file_pattern: str
    credit_fund_org: str
    gl_account: str


@dataclass
class ConfigPlan:
    """The validated content of the file; nothing here has touched the database."""

    tag_mapping: list[tuple[str, str]] = field(default_factory=list)
    flag_patterns: list[str] = field(default_factory=list)
    fund_org_patterns: list[str] = field(default_factory=list)
    sources: list[_SourceSpec] = field(default_factory=list)
    journal: dict[str, str] | None = None
    contact: dict[str, str] = field(default_factory=dict)  # Organization field -> value


# -- reading -----------------------------------------------------------------------------------


def config_load(*, path: Path) -> dict[str, Any]:
    """The YAML file as a mapping; a missing, unreadable or malformed file is a BillingError."""
    if not path.exists():
        raise BillingError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BillingError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise BillingError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise BillingError(f"{path}: not valid YAML{where}: {problem}") from None
    if data is None:
        raise BillingError(f"{path}: the file is empty; nothing to import")
    if not isinstance(data, dict):
        raise BillingError(f"{path}: the top level must be a mapping of keys (found {type_name(data)})")
    return data


# -- validation (no database) -------------------------------------------------------------------


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BillingError(f"{key} must be a mapping of keys (found {type_name(value)})")
    return value


def _list(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BillingError(f"{key} must be a list (found {type_name(value)})")
    return value


def _text(value: Any, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        hint = f' (quote it: "{value}")' if isinstance(value, int | float) and not isinstance(value, bool) else ""
        raise BillingError(f"{key} must be text, found {type_name(value)}{hint}")
    return value


def _regex(value: str, key: str) -> None:
    try:
        re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise BillingError(f"{key}: '{value}' is not a valid regular expression ({exc})") from None


def _fnmatch_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def config_plan(*, data: Mapping[str, Any], report: ConfigImportReport) -> ConfigPlan:
    """What the file says to import, validated; the keys left out and the warnings go to `report`."""
    plan = ConfigPlan()
    for key, value in data.items():
        if not isinstance(key, str):
            report.ignored[str(key)] = "not an OpenChargeback config key"
        elif key in IGNORED_TOP_LEVEL:
            _ignore_top_level(key, value, report)
        elif key not in IMPORTED_TOP_LEVEL:
            report.ignored[key] = "not an OpenChargeback config key"

    plan.contact = _contact(data.get("email"))

    tag_mapping = _mapping(data.get("tag_mapping"), "tag_mapping")
    fields = {str(f) for f in TagMapping.Field.values}
    for name, value in tag_mapping.items():
        key = f"tag_mapping.{name}"
        if name not in fields:
            report.ignored[key] = f"not an attribution field (choose from {', '.join(sorted(fields))})"
            continue
        tag_key = _text(value, key)
        if not tag_key.strip():
            report.ignored[key] = f"empty (disabled in the old tool); existing mappings for {name} are kept"
            continue
        if len(tag_key) > TagMapping._meta.get_field("tag_key").max_length:  # type: ignore[operator]
            raise BillingError(f"{key}: the tag key is too long")
        plan.tag_mapping.append((name, tag_key))
    if "project_id" not in tag_mapping:
        report.warnings.append(
            "tag_mapping.project_id is not set: the old tool then read the 'project' tag; "
            "add a tag mapping for 'project' in the admin if your files use it"
        )

    review = _mapping(data.get("review"), "review")
    _ignore_unknown(review, "review", ("flag_patterns", "fund_org_patterns"), report)
    for attr in ("flag_patterns", "fund_org_patterns"):
        key = f"review.{attr}"
        target: list[str] = getattr(plan, attr)
        for i, value in enumerate(_list(review.get(attr), key)):
            pattern = _text(value, f"{key}[{i}]")
            if not pattern:
                report.warnings.append(f"{key}[{i}] is empty; skipped")
                continue
            _regex(pattern, f"{key}[{i}]")
            if pattern in target:
                report.warnings.append(f"{key}[{i}] '{pattern}' is listed twice; imported once")
                continue
            target.append(pattern)

    imports = _mapping(data.get("imports"), "imports")
    _ignore_unknown(imports, "imports", ("known_sources",), report)
    seen: dict[str, str] = {}
    for i, value in enumerate(_list(imports.get("known_sources"), "imports.known_sources")):
        entry = f"imports.known_sources[{i}]"
        item = _mapping(value, entry)
        display = _text(item.get("name"), f"{entry}.name").strip()
        if not display:
            raise BillingError(f"{entry} has no name")
        entry = f"{entry} ({display!r})"
        name = slugify(display)
        if not name:
            raise BillingError(f"{entry}: the name gives no usable source name (letters, digits, hyphens)")
        if name in seen:
            raise BillingError(f"{seen[name]} and {entry} both become source {name!r}")
        seen[name] = entry
        _ignore_unknown(item, entry, ("name", "pattern", "fund_org", "account_code"), report)
        pattern = _text(item.get("pattern"), f"{entry}.pattern").strip()
        plan.sources.append(
            _SourceSpec(
                entry=entry, name=name, display_name=display,
                # The old tool matched a case-insensitive substring of the file name.
                file_pattern=f"*{_fnmatch_escape(pattern.lower())}*" if pattern else "",
                credit_fund_org=_text(item.get("fund_org"), f"{entry}.fund_org").strip(),
                gl_account=_text(item.get("account_code"), f"{entry}.account_code").strip(),
            )
        )  # fmt: skip

    if "journal" in data:
        journal = _mapping(data["journal"], "journal")
        _ignore_unknown(journal, "journal", (*JOURNAL_KEYS, "template"), report)
        plan.journal = {k: _text(journal.get(k), f"journal.{k}") for k in JOURNAL_KEYS}
        for k in ("fund_org_regex", "account_code_regex"):
            if plan.journal[k]:
                _regex(plan.journal[k], f"journal.{k}")
        groups = re.compile(plan.journal["fund_org_regex"]).groupindex if plan.journal["fund_org_regex"] else None
        if groups is not None and not {"fund", "orgn"} <= set(groups):
            report.warnings.append(
                "journal.fund_org_regex has no named groups 'fund' and 'orgn'; "
                "GL lines will carry the whole fund/org as the fund"
            )
        template = _text(journal.get("template"), "journal.template")
        if template:
            report.ignored["journal.template"] = (
                "a file of the old tool; the gl format's columns are built in "
                "(header and row templates are edited in the admin)"
            )
            if template != OLD_DEFAULT_TEMPLATE:
                report.warnings.append(
                    f"journal.template {template!r} is a custom template: recreate its columns in a "
                    "journal format of kind 'template' in the admin"
                )
    return plan


def _contact(email: Any) -> dict[str, str]:
    """The old tool's sender, which its statements gave for questions, as the Organization's contact."""
    if not isinstance(email, dict):
        return {}
    contact = {}
    address = _text(email.get("from_address"), "email.from_address").strip()
    if address:
        try:
            validate_email(address)
        except ValidationError:
            raise BillingError(f"email.from_address: {address!r} is not an email address") from None
        contact["contact_email"] = address
    name = _text(email.get("from_name"), "email.from_name").strip()
    if name:
        if len(name) > Organization._meta.get_field("contact_name").max_length:  # type: ignore[operator]
            raise BillingError("email.from_name: the name is too long")
        contact["contact_name"] = name
    return contact


def _ignore_top_level(key: str, value: Any, report: ConfigImportReport) -> None:
    reason = IGNORED_TOP_LEVEL[key]
    if key == "email" and isinstance(value, dict) and isinstance(value.get("from_address"), str):
        sender = value["from_address"]
        if isinstance(value.get("from_name"), str) and value["from_name"]:
            sender = f"{value['from_name']} <{sender}>"
        reason = (
            f'the sender: set DEFAULT_FROM_EMAIL="{sender}" in the environment (the address and name '
            "are imported as the Organization's contact, shown on statements)"
        )
    if key == "web" and isinstance(value, dict) and "users" in value:
        report.ignored["web.users"] = (
            "create accounts in the admin (the first with `openchargeback createsuperuser`); "
            "password hashes are not carried over"
        )
    report.ignored[key] = reason


def _ignore_unknown(section: Mapping[str, Any], where: str, known: tuple[str, ...], report: ConfigImportReport) -> None:
    for key in section:
        if key not in known:
            report.ignored[f"{where}.{key}"] = "not an OpenChargeback config key"
