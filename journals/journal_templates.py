"""Custom journal templates: what passes validation is what renders at preview and export.

A template is Django template language over plain values (no autoescaping: it writes CSV). It
may not load another template (`{% include %}`, `{% extends %}`): the journal engine has no
template folders, so such a template could only fail later, at export. Validation parses the
template, refuses those tags and renders it against a sample line with every documented field.
"""

from __future__ import annotations

from django.template import Context, Engine, Template
from django.template.loader_tags import ExtendsNode, IncludeNode

FORBIDDEN = {IncludeNode: "{% include %}", ExtendsNode: "{% extends %}"}
HEADER_FIELDS = ("date", "period", "journal_number", "reference_id", "currency", "line_count", "debit_total",
                 "credit_total")  # fmt: skip
ROW_FIELDS = (
    *HEADER_FIELDS, "line_number", "side", "dc", "fund", "orgn", "program", "activity", "location", "account",
    "fund_org", "source", "pi_email", "project_id", "statement", "service", "line_kind", "description", "debit",
    "credit", "amount", "amount_abs",
)  # fmt: skip
# Values as the writer passes them: counts are numbers, amounts formatted text.
SAMPLE_VALUES: dict[str, object] = {"line_count": 2, "line_number": 1, "debit_total": "12.34",
                                    "credit_total": "12.34", "debit": "12.34", "credit": "", "amount": "12.34",
                                    "amount_abs": "12.34"}  # fmt: skip


class JournalTemplateError(ValueError):
    """A template that cannot be used, with a message for the format's form or an export."""


def journal_engine() -> Engine:
    """No template folders and no tag libraries beyond the built-in ones."""
    return Engine(autoescape=False)


def journal_template(text: str) -> Template:
    """The compiled template; JournalTemplateError if it does not parse or loads other templates."""
    from django.template import TemplateSyntaxError

    try:
        template = journal_engine().from_string(text)
    except TemplateSyntaxError as exc:
        raise JournalTemplateError(f"template error: {exc}") from None
    for node_type, tag in FORBIDDEN.items():
        if template.nodelist.get_nodes_by_type(node_type):
            raise JournalTemplateError(f"template error: {tag} is not allowed; a journal template cannot load others")
    return template


def render_journal_template(template: Template, values: dict[str, object]) -> str:
    try:
        return template.render(Context(values, autoescape=False))
    except Exception as exc:  # any tag or filter may fail on the values; the message names it
        raise JournalTemplateError(f"template error while rendering: {type(exc).__name__}: {exc}") from exc


def journal_template_check(text: str, *, row: bool) -> None:
    """Parse `text` and render it against a sample header (or line); JournalTemplateError if it fails."""
    names = ROW_FIELDS if row else HEADER_FIELDS
    sample = {name: SAMPLE_VALUES.get(name, f"sample-{name}") for name in names}
    render_journal_template(journal_template(text), sample)
