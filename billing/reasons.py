"""Flag reasons in words: what a reviewer reads instead of the stored codes."""

from __future__ import annotations

# Short labels (badges, filters) for the stored codes, in the order the rules check them.
REASONS: dict[str, str] = {
    "missing_pi": "Missing PI",
    "invalid_pi_email": "Invalid PI email",
    "missing_project": "Missing project",
    "invalid_project": "Invalid project id",
    "missing_fund_org": "Missing fund/org",
    "invalid_fund_org": "Invalid fund/org",
    "pattern_match": "Rule pattern",
    "period_mismatch": "Other period",
    "currency_mismatch": "Other currency",
    "negative_amount": "Credit or negative",
    "project_owner_change": "Project claimed by another PI",
    "outside_award": "Outside the fund's award",
    "disputed": "Disputed by the PI",
}
PATTERN = "pattern_match"


def reason_words(code: str) -> str:
    """`pattern_match:gpu` → "Matches flag pattern 'gpu'"; an unknown code is shown as it is."""
    name, _, detail = code.partition(":")
    if name == PATTERN:
        return f"Matches flag pattern '{detail}'" if detail else "Matches a flag pattern"
    if name in REASONS and detail:  # outside_award:NIH-R01 ended 2025-01-15
        return f"{REASONS[name]} ({detail})"
    return REASONS.get(name, code)
