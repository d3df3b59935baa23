"""Examples for the settings page, drawn from this installation's own charges.

A regular expression is easier to write against real values: the tag keys the files carry, the
service and resource names, the fund/orgs, each with what the current rules make of it. The
examples come from the newest charges only (a bounded sample read by primary key), so the page
costs the same on a million-charge month.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from billing.ingest.rules import Attributor, RuleSnapshot
from billing.models import PATTERN_FIELDS, Charge

SAMPLE = 1000
PER_FIELD = 8
# The fields a flag pattern most often searches; their values are shown as examples.
EXAMPLE_FIELDS = ("service_name", "resource_name", "resource_id", "sub_account_id")


@dataclass
class PatternHit:
    name: str
    fields: list[str]
    matches: int  # charges of the sample it matches
    examples: list[str] = field(default_factory=list)


@dataclass
class PatternExamples:
    sample: int = 0  # how many charges the examples were read from
    month: str = ""  # the newest of their periods
    tag_keys: list[tuple[str, int]] = field(default_factory=list)  # key, charges carrying it
    values: dict[str, list[str]] = field(default_factory=dict)  # field -> a few distinct values
    fund_orgs: list[tuple[str, bool]] = field(default_factory=list)  # value, valid under the current patterns
    flag_hits: list[PatternHit] = field(default_factory=list)


def pattern_examples(*, sample: int = SAMPLE) -> PatternExamples:
    """Up to `sample` of the newest current charges, and what the saved rules make of their values."""
    searched = [f for f in PATTERN_FIELDS if f not in {"tags", "pi_email", "project_id"}]
    columns = ("period__period", "tags", "pi__email", "project__code", *searched)
    rows = list(Charge.objects.filter(active=True).order_by("-pk").values(*columns)[:sample])
    found = PatternExamples(sample=len(rows))
    if not rows:
        return found
    found.month = max(r["period__period"] for r in rows)
    keys: Counter[str] = Counter()
    for r in rows:
        if isinstance(r["tags"], dict):
            keys.update(list(r["tags"]))
    found.tag_keys = keys.most_common(12)
    for name in EXAMPLE_FIELDS:
        found.values[name] = _distinct((r[name] for r in rows), PER_FIELD)
    attributor = Attributor(RuleSnapshot.load(month=found.month))
    found.fund_orgs = [(f, attributor.fund_org_valid(f)) for f in _distinct((r["fund_org"] for r in rows), PER_FIELD)]
    for name, regex, fields in attributor.flag_patterns:
        hit = PatternHit(name=name, fields=fields, matches=0)
        for r in rows:
            texts = [_text(r, f) for f in fields]
            matched = next((t for t in texts if t and regex.search(t)), None)
            if matched is not None:
                hit.matches += 1
                if matched not in hit.examples and len(hit.examples) < 3:
                    hit.examples.append(matched)
        found.flag_hits.append(hit)
    return found


def _distinct(values: Iterable[str | None], limit: int) -> list[str]:
    seen: list[str] = []
    for v in values:
        if v and v not in seen:
            seen.append(v)
            if len(seen) == limit:
                break
    return seen


def _text(row: dict[str, object], name: str) -> str:
    """A charge field as the import searches it (tags as their JSON text)."""
    if name == "tags":
        return json.dumps(row["tags"]) if row["tags"] else ""
    if name == "pi_email":
        return str(row["pi__email"] or "")
    if name == "project_id":
        return str(row["project__code"] or "")
    value = row.get(name)
    return str(value) if value else ""
