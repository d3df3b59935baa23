"""Sections of the period page contributed by the apps built on billing.

The period page (`billing.admin.periods`) is the month's cockpit: billing shows its own figures,
imports, checklist and transitions; statements and the journal are above billing, so each of
those apps registers a section provider in its `AppConfig.ready()` (as with
`billing.services.finalize_checks`). A provider reads through its own app's selectors and
returns what to show and the next actions the signed-in user may take, or None to show nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest

    from billing.models import BillingPeriod


@dataclass(frozen=True)
class Action:
    """A next step offered as a button: a link to the page that does it."""

    label: str
    url: str
    note: str = ""


@dataclass
class Section:
    title: str
    template: str  # rendered with `section` (this object) and its `context` in scope
    context: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    order: int = 100


SectionProvider = Callable[["HttpRequest", "BillingPeriod"], "Section | None"]

_providers: list[SectionProvider] = []


def register(provider: SectionProvider) -> SectionProvider:
    """Add `provider` (once) to the period page; returns it, so it also works as a decorator."""
    if provider not in _providers:
        _providers.append(provider)
    return provider


def sections(request: HttpRequest, period: BillingPeriod) -> list[Section]:
    """Every registered section for this request and period, in their `order`."""
    found = [s for s in (provider(request, period) for provider in list(_providers)) if s is not None]
    return sorted(found, key=lambda s: s.order)
