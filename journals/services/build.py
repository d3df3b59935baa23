"""A journal's lines from a period's current statements: debits per PI fund/org, credits per source.

Both sides are groupings of the same frozen statement lines, so Σ debits = Σ credits = Σ amounts
due by construction. Every line is checked before anything is written; all problems are reported
together so one round of fixes is enough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from billing.models import BillingPeriod, Source
from chargeback.errors import BillingError
from chargeback.money import ZERO
from journals.models import JournalFormat
from journals.selectors import current_statements
from statements.models import StatementLine, StatementLineShare

Kind = JournalFormat.Kind
DEBIT, CREDIT = "debit", "credit"
PARTS = ("fund", "orgn", "program", "activity", "location")
EXAMPLES = 3  # statements named per problem


class JournalProblems(BillingError):
    """The journal cannot be exported; `problems` lists every thing to fix."""

    def __init__(self, prefix: str, problems: list[str]) -> None:  # pragma: no mutate block
        self.problems = problems
        numbered = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, start=1))
        super().__init__(f"{prefix}: {len(problems)} problem{'s' if len(problems) != 1 else ''} to fix: {numbered}")


@dataclass
class JournalLine:
    side: str
    amount: Decimal
    source: str
    fund_org: str
    account: str
    pi_email: str = ""
    project_id: str = ""
    statement: str = ""
    service: str = ""
    line_kind: str = ""
    parts: dict[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass
class Journal:
    period: str
    format: JournalFormat
    currency: str
    statements: int
    statements_due: Decimal
    lines: list[JournalLine]

    @property
    def debits(self) -> list[JournalLine]:
        return [ln for ln in self.lines if ln.side == DEBIT]

    @property
    def credits(self) -> list[JournalLine]:
        return [ln for ln in self.lines if ln.side == CREDIT]

    @property
    def debit_total(self) -> Decimal:
        return sum((ln.amount for ln in self.debits), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((ln.amount for ln in self.credits), ZERO)


@dataclass
class _Group:
    """Statement lines adding up to one journal line."""

    amount: Decimal = ZERO
    pi_emails: set[str] = field(default_factory=set)
    projects: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    statements: set[str] = field(default_factory=set)


class _SafeDict(dict[str, str]):
    def __missing__(self, key: str) -> str:  # pragma: no mutate block
        return "{" + key + "}"


def describe(template: str, max_length: int, **values: str) -> str:  # pragma: no mutate block
    try:
        text = template.format_map(_SafeDict(values)).strip()
    except (ValueError, IndexError) as exc:
        # The admin validates descriptions; a row written some other way is refused here.
        raise BillingError(f"description template {template!r} is not valid ({exc}); correct the format") from None
    return text[:max_length] if max_length else text


def journal_build(*, period: BillingPeriod, fmt: JournalFormat) -> Journal:
    """The balanced lines of `period`'s current statements in `fmt`, or JournalProblems naming every fix."""
    prefix = f"journal for {period.period} (format {fmt.name}) cannot be exported"
    statements = current_statements(period)
    currencies = sorted(set(statements.values_list("currency", flat=True)))
    rows = list(
        StatementLine.objects.filter(statement__in=statements)
        .order_by("statement__number", "position")
        .values_list(
            "statement__number",
            "position",
            "statement__pi__email",
            "statement__project__code",
            "kind",
            "source",
            "service_name",
            "fund_org",
            "account_code",
            "amount",
            "id",
        )  # fmt: skip
    )
    # A line of a split-funded project debits each fund its share (they add up to the line).
    shares: dict[int, list[tuple[str, Decimal]]] = {}
    for line_id, share_fund, share_amount in StatementLineShare.objects.filter(
        line__statement__in=statements
    ).values_list("line_id", "fund_org", "amount"):
        shares.setdefault(line_id, []).append((share_fund, share_amount))
    # Accounts, fund/org patterns and wording decide no amount: `make mutate` leaves them alone.
    # pragma: no mutate start
    sources = {s.name: s for s in Source.objects.filter(name__in={r[5] for r in rows})}
    fund_re = re.compile(fmt.fund_org_regex)
    account_re = re.compile(fmt.account_code_regex) if fmt.account_code_regex else None
    problems: list[str] = []
    if len(currencies) > 1:
        problems.append(
            f"the statements are in {', '.join(currencies)}; a journal is in one currency — "
            "export each currency's statements after correcting the charges"
        )

    def account_for(source: str, line_account: str) -> str:
        src = sources.get(source)
        return line_account or (src.gl_account if src else "") or fmt.default_account

    # pragma: no mutate end
    # Debits: the grouping the format asks for; credits: each source and account.
    debit_groups: dict[tuple[str, ...], _Group] = {}
    credit_groups: dict[tuple[str, str], _Group] = {}
    for number, position, pi_email, project, kind, source, service, line_fund, line_account, line_amount, lid in rows:
        for fund_org, amount in shares.get(lid) or [(line_fund, line_amount)]:
            project = project or ""
            account = account_for(source, line_account)
            if fmt.kind == Kind.DETAIL:
                key: tuple[str, ...] = (number, str(position), source, service, kind, fund_org, account)
            elif fmt.kind == Kind.SUMMARY:
                key = (pi_email, project, fund_org, account)
            elif fmt.group_by == JournalFormat.GroupBy.PROJECT:
                key = (fund_org, source, account, project)
            else:
                key = (fund_org, source, account)
            for group in (
                debit_groups.setdefault(key, _Group()),
                credit_groups.setdefault((source, account), _Group()),
            ):
                group.amount += amount
                group.pi_emails.add(pi_email)
                group.projects.add(project)
                group.sources.add(source)
                group.statements.add(number)

    # pragma: no mutate start
    bad_funds: dict[str, set[str]] = {}
    bad_accounts: dict[str, set[str]] = {}
    no_account: dict[str, set[str]] = {}

    def parse(fund_org: str, statements_: set[str]) -> dict[str, str]:
        match = fund_re.match(fund_org)
        if match is None:
            bad_funds.setdefault(fund_org, set()).update(statements_)
            return {}
        found = {k: v or "" for k, v in match.groupdict().items()}
        return found | {part: found.get(part) or getattr(fmt, part, "") for part in PARTS}

    def check_account(account: str, source: str, statements_: set[str]) -> None:
        if not account:
            no_account.setdefault(source, set()).update(statements_)
        elif account_re is not None and not account_re.match(account):
            bad_accounts.setdefault(account, set()).update(statements_)

    lines: list[JournalLine] = []
    for key, g in debit_groups.items():
        if fmt.kind == Kind.DETAIL:
            number, _, source, service, kind, fund_org, account = key
        elif fmt.kind == Kind.SUMMARY:
            _, _, fund_org, account = key
            source, service, kind = _one(g.sources), "", ""
        else:
            fund_org, source, account = key[0], key[1], key[2]
            service = kind = ""
        check_account(account, _one(g.sources) or ", ".join(sorted(g.sources)), g.statements)
        pi_email, project = _one(g.pi_emails), _one(g.projects)
        lines.append(
            JournalLine(
                side=DEBIT,
                amount=g.amount,
                source=source,
                fund_org=fund_org,
                account=account,
                pi_email=pi_email,
                project_id=project,
                statement=_one(g.statements),
                service=service,
                line_kind=kind,
                parts=parse(fund_org, g.statements),
                description=describe(
                    fmt.debit_description,
                    fmt.max_description_length,
                    source=source,
                    period=period.period,
                    fund_org=fund_org,
                    pi_email=pi_email,
                    project_id=project,
                ),
            )  # fmt: skip
        )
    no_credit: list[str] = []
    for (source, account), g in sorted(credit_groups.items()):
        src = sources.get(source)
        credit_fund_org = src.credit_fund_org if src else ""
        if not credit_fund_org:
            no_credit.append(source)
            parts: dict[str, str] = {}
        else:
            match = fund_re.match(credit_fund_org)
            if match is None:
                problems.append(
                    f"source {source}'s credit fund/org {credit_fund_org!r} does not match the format's fund/org "
                    f"pattern {fmt.fund_org_regex}: correct it on the source (admin → Sources) or change the pattern"
                )
                parts = {}
            else:
                found = {k: v or "" for k, v in match.groupdict().items()}
                parts = found | {part: found.get(part) or getattr(fmt, part, "") for part in PARTS}
        check_account(account, source, g.statements)
        lines.append(
            JournalLine(
                side=CREDIT,
                amount=g.amount,
                source=source,
                fund_org=credit_fund_org,
                account=account,
                parts=parts,
                description=describe(
                    fmt.credit_description,
                    fmt.max_description_length,
                    source=source,
                    period=period.period,
                    fund_org=credit_fund_org,
                    pi_email="",
                    project_id="",
                ),
            )  # fmt: skip
        )
    for source in no_credit:
        problems.append(
            f"source {source} has no credit fund/org: set it on the source (admin → Sources) so its revenue "
            "can be credited"
        )
    for fund_org, numbers in sorted(bad_funds.items()):
        what = f"fund/org {fund_org!r}" if fund_org else "lines without a fund/org"
        problems.append(
            f"{what} (statements {_examples(numbers)}) does not match the format's fund/org pattern "
            f"{fmt.fund_org_regex}: correct the charges' attribution and regenerate the statements, or change "
            "the pattern"
        )
    for source, numbers in sorted(no_account.items()):
        problems.append(
            f"no GL account for source {source} (statements {_examples(numbers)}): set the source's GL account "
            f"or the format's default account"
        )
    for account, numbers in sorted(bad_accounts.items()):
        problems.append(
            f"account {account!r} (statements {_examples(numbers)}) does not match the format's account pattern "
            f"{fmt.account_code_regex}: correct the account tag or the source's GL account, or change the pattern"
        )
    if problems:
        raise JournalProblems(prefix, problems)
    # pragma: no mutate end
    # Zero lines carry nothing to the ledger (e.g. a credit cancelling a charge on one fund).
    lines = [ln for ln in lines if ln.amount]
    if fmt.kind != Kind.DETAIL:
        lines.sort(key=_order)
    due = sum((s for s in statements.values_list("amount_due", flat=True)), ZERO)
    journal = Journal(
        period=period.period, format=fmt, currency=currencies[0] if currencies else "",
        statements=statements.count(), statements_due=due, lines=lines,
    )  # fmt: skip
    if not journal.debit_total == journal.credit_total == due:
        # Cannot happen (both sides group the same lines); refuse rather than write an unbalanced file.
        raise BillingError(
            f"{prefix}: debits {journal.debit_total}, credits {journal.credit_total} and statements due {due} "
            "differ; regenerate the statements and try again"
        )
    return journal


def _order(ln: JournalLine) -> Any:
    return (ln.side != DEBIT, ln.fund_org, ln.source, ln.account, ln.pi_email, ln.project_id)


def _one(values: set[str]) -> str:  # pragma: no mutate block
    """The value when all lines of a group share it, else empty."""
    return next(iter(values)) if len(values) == 1 else ""


def _examples(numbers: set[str]) -> str:  # pragma: no mutate block
    shown = sorted(numbers)[:EXAMPLES]
    more = len(numbers) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
