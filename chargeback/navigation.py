"""The admin's menu in the order the month runs, for the index page and the side menu.

Django lists apps alphabetically; finance staff think in steps: import the files, review what was
flagged, close the period, send the statements, export the journal. `arrange` regroups the models
Django already allows the user to see (its app dictionary, permissions applied) into those steps;
the page links that are no model (the dashboard, the import page, the settings page) are added by
the admin site with the same permission checks as the pages themselves.

A model this table does not name (a new one, or a library's) goes under "System", so nothing
the user may open ever disappears from the menu.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# (heading, slug, the models in it as "app_label.model_name", in menu order)
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Overview", "overview", ()),
    ("Import", "import", ("billing.importbatch", "billing.providerinvoice")),
    ("Review", "review", ("billing.charge", "billing.reviewdecision", "statements.dispute")),
    ("Periods", "periods", ("billing.billingperiod",)),
    ("Statements", "statements", ("statements.statement", "statements.delivery", "statements.notice")),
    ("Journal", "journal", ("journals.journalexport", "journals.journalformat")),
    (
        "Rules and sources",
        "rules",
        (
            "billing.source",
            "billing.tagmapping",
            "billing.flagpattern",
            "billing.fundorgpattern",
            "billing.rate",
            "billing.subsidyrule",
            "billing.accountmapping",
            "chargeback.organization",
        ),
    ),  # fmt: skip
    (
        "People and projects",
        "people",
        (
            "billing.project",
            "billing.pi",
            "billing.fund",
            "billing.projectfunding",
            "billing.budget",
            "statements.portaldelegate",
            "auth.user",
        ),
    ),  # fmt: skip
    ("Audit", "audit", ("chargeback.auditevent",)),
    ("System", "system", ()),  # groups, sign-in addresses, authenticators, social accounts, the rest
)
SYSTEM = "system"
# Menu names that say what a finance person does there, where the model's name does not.
RENAMED = {"billing.charge": "Review queue", "billing.importbatch": "Import history"}


@dataclass(frozen=True)
class Link:
    """A menu entry that is a page, not a model list: put first in its section."""

    section: str
    name: str
    url: str
    key: str  # the id the template gives its row
    exact: bool = False  # current only on this very address (the dashboard, not every page under it)


def arrange(
    apps: Iterable[dict[str, Any]], *, links: Sequence[Link] = (), badges: dict[str, int] | None = None, path: str = ""
) -> list[dict[str, Any]]:
    """Django's app dictionaries regrouped into the month's sections (empty sections left out).

    Each section looks like one of Django's apps (`name`, `app_label`, `app_url`, `models`), so
    the admin's templates show it; `badge` on an entry is a count to show next to it, `current`
    marks the entry whose address is the longest prefix of `path` (the page being shown).
    """
    badges = badges or {}
    place = {key: (slug, i) for _, slug, keys in SECTIONS for i, key in enumerate(keys)}
    rows: dict[str, list[tuple[int, dict[str, Any]]]] = {slug: [] for _, slug, _ in SECTIONS}
    for order, link in enumerate(links):
        entry: dict[str, Any] = {
            "name": link.name, "object_name": link.key, "admin_url": link.url, "page": True, "exact": link.exact,
        }  # fmt: skip
        rows[link.section].append((-len(links) + order, entry))
    for app in apps:
        for model in app["models"]:
            key = f"{app['app_label']}.{model['object_name'].lower()}"
            slug, order = place.get(key, (SYSTEM, 0))
            entry = {**model, "name": RENAMED.get(key, model["name"]), "badge": badges.get(key)}
            rows[slug].append((order, entry))
    best = max(
        (
            e["admin_url"]
            for entries in rows.values()
            for _, e in entries
            if path == e["admin_url"] or (not e.get("exact") and path.startswith(e["admin_url"] or "\0"))
        ),
        key=len,
        default=None,
    )
    sections = []
    for name, slug, _ in SECTIONS:
        entries = [entry for _, entry in sorted(rows[slug], key=lambda r: (r[0], r[1]["name"]))]
        if not entries:
            continue
        for entry in entries:
            entry["current"] = entry["admin_url"] == best
        sections.append(
            {
                "name": name,
                "app_label": f"ocb-{slug}",
                "app_url": entries[0]["admin_url"],
                "has_module_perms": True,
                "models": entries,
                "current": any(e["current"] for e in entries),
            }
        )
    return sections
