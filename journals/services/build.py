"""A journal's lines from a period's current statements: debits per PI fund/org, credits per source.

Both sides are groupings of the same frozen statement lines, so Σ debits = Σ credits = Σ amounts
due by construction. Every line is checked before anything is written; all problems are reported
together so one round of fixes is enough.

`journal_build` reads the statement lines, groups them (`_group`), builds the debit and credit lines
while `_Checks` collects the problems, and returns them once they balance (`_balanced`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from billing.models import BillingPeriod, Source
from chargeback.errors import BillingError
from chargeback.money import ZERO
from journals.models import JournalFormat
from journals.selectors import current_statements
from statements.models import Statement, StatementLine, StatementLineShare

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


Row = tuple[Any, ...]  # a statement line as `_statement_rows` reads it
DebitGroups = dict[tuple[str, ...], _Group]
CreditGroups = dict[tuple[str, str], _Group]


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
    rows = _statement_rows(statements)
    shares = _shares(statements)
    sources = _sources(rows)
    checks = _Checks(fmt=fmt, sources=sources, currencies=currencies)  # pragma: no mutate
    debit_groups, credit_groups = _group(fmt=fmt, rows=rows, shares=shares, sources=sources)
    lines = _debit_lines(period=period, fmt=fmt, groups=debit_groups, checks=checks)
    lines += _credit_lines(period=period, fmt=fmt, groups=credit_groups, checks=checks)
    checks.refuse(prefix)  # pragma: no mutate
    return _balanced(period=period, fmt=fmt, statements=statements, currencies=currencies, lines=lines, prefix=prefix)


def _statement_rows(statements: QuerySet[Statement]) -> list[Row]:
    """The statements' lines, in statement and position order."""
    return list(
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


def _shares(statements: QuerySet[Statement]) -> dict[int, list[tuple[str, Decimal]]]:
    """Per line of a split-funded project, each fund's share (they add up to the line): it debits each fund."""
    shares: dict[int, list[tuple[str, Decimal]]] = {}
    for line_id, share_fund, share_amount in StatementLineShare.objects.filter(
        line__statement__in=statements
    ).values_list("line_id", "fund_org", "amount"):
        shares.setdefault(line_id, []).append((share_fund, share_amount))
    return shares


def _group(
    *, fmt: JournalFormat, rows: list[Row], shares: dict[int, list[tuple[str, Decimal]]], sources: dict[str, Source]
) -> tuple[DebitGroups, CreditGroups]:
    """Debits: the grouping the format asks for; credits: each source and account."""
    debit_groups: DebitGroups = {}
    credit_groups: CreditGroups = {}
    for number, position, pi_email, project, kind, source, service, line_fund, line_account, line_amount, lid in rows:
        for fund_org, amount in shares.get(lid) or [(line_fund, line_amount)]:
            project = project or ""
            account = _account(fmt, sources.get(source), line_account)
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
    return debit_groups, credit_groups


def _balanced(
    *, period: BillingPeriod, fmt: JournalFormat, statements: QuerySet[Statement], currencies: list[str],
    lines: list[JournalLine], prefix: str,
) -> Journal:  # fmt: skip
    """The journal of the lines that carry an amount, refused unless both sides equal the statements' amounts due."""
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


# From here on nothing decides an amount (a journal line copies its group's): accounts, fund/org
# patterns, the problems and the wording. `make mutate` leaves it alone.


def _sources(rows: list[Row]) -> dict[str, Source]:  # pragma: no mutate block
    return {s.name: s for s in Source.objects.filter(name__in={r[5] for r in rows})}


def _account(fmt: JournalFormat, src: Source | None, line_account: str) -> str:  # pragma: no mutate block
    """A line's GL account: its own account tag, else its source's GL account, else the format's default."""
    return line_account or (src.gl_account if src else "") or fmt.default_account


class _Checks:  # pragma: no mutate block
    """The problems found while the lines are built, all refused together in one fixed order."""

    def __init__(self, *, fmt: JournalFormat, sources: dict[str, Source], currencies: list[str]) -> None:
        self.fmt = fmt
        self.sources = sources
        self.fund_re = re.compile(fmt.fund_org_regex)
        self.account_re = re.compile(fmt.account_code_regex) if fmt.account_code_regex else None
        self.found: list[str] = []  # the currencies, then the credit fund/orgs, as found
        self.no_credit: list[str] = []
        self.bad_funds: dict[str, set[str]] = {}
        self.bad_accounts: dict[str, set[str]] = {}
        self.no_account: dict[str, set[str]] = {}
        if len(currencies) > 1:
            self.found.append(
                f"the statements are in {', '.join(currencies)}; a journal is in one currency — "
                "export each currency's statements after correcting the charges"
            )

    def _parts(self, match: re.Match[str]) -> dict[str, str]:
        found = {k: v or "" for k, v in match.groupdict().items()}
        return found | {part: found.get(part) or getattr(self.fmt, part, "") for part in PARTS}

    def debit_parts(self, fund_org: str, statements: set[str]) -> dict[str, str]:
        """The parts of a debit's fund/org, or none when it does not match the format's pattern."""
        match = self.fund_re.match(fund_org)
        if match is None:
            self.bad_funds.setdefault(fund_org, set()).update(statements)
            return {}
        return self._parts(match)

    def credit_fund_org(self, source: str) -> tuple[str, dict[str, str]]:
        """The fund/org a source's revenue is credited to, and its parts."""
        src = self.sources.get(source)
        credit_fund_org = src.credit_fund_org if src else ""
        if not credit_fund_org:
            self.no_credit.append(source)
            return credit_fund_org, {}
        match = self.fund_re.match(credit_fund_org)
        if match is None:
            self.found.append(
                f"source {source}'s credit fund/org {credit_fund_org!r} does not match the format's fund/org "
                f"pattern {self.fmt.fund_org_regex}: correct it on the source (admin → Sources) or change the pattern"
            )
            return credit_fund_org, {}
        return credit_fund_org, self._parts(match)

    def account(self, account: str, source: str, statements: set[str]) -> None:
        if not account:
            self.no_account.setdefault(source, set()).update(statements)
        elif self.account_re is not None and not self.account_re.match(account):
            self.bad_accounts.setdefault(account, set()).update(statements)

    def problems(self) -> list[str]:
        problems = list(self.found)
        for source in self.no_credit:
            problems.append(
                f"source {source} has no credit fund/org: set it on the source (admin → Sources) so its revenue "
                "can be credited"
            )
        for fund_org, numbers in sorted(self.bad_funds.items()):
            what = f"fund/org {fund_org!r}" if fund_org else "lines without a fund/org"
            problems.append(
                f"{what} (statements {_examples(numbers)}) does not match the format's fund/org pattern "
                f"{self.fmt.fund_org_regex}: correct the charges' attribution and regenerate the statements, or "
                "change the pattern"
            )
        for source, numbers in sorted(self.no_account.items()):
            problems.append(
                f"no GL account for source {source} (statements {_examples(numbers)}): set the source's GL account "
                f"or the format's default account"
            )
        for account, numbers in sorted(self.bad_accounts.items()):
            problems.append(
                f"account {account!r} (statements {_examples(numbers)}) does not match the format's account pattern "
                f"{self.fmt.account_code_regex}: correct the account tag or the source's GL account, or change the "
                "pattern"
            )
        return problems

    def refuse(self, prefix: str) -> None:
        """JournalProblems naming every problem found, if there is one."""
        problems = self.problems()
        if problems:
            raise JournalProblems(prefix, problems)


def _debit_lines(
    *, period: BillingPeriod, fmt: JournalFormat, groups: DebitGroups, checks: _Checks
) -> list[JournalLine]:  # pragma: no mutate block
    lines: list[JournalLine] = []
    for key, g in groups.items():
        if fmt.kind == Kind.DETAIL:
            number, _, source, service, kind, fund_org, account = key
        elif fmt.kind == Kind.SUMMARY:
            _, _, fund_org, account = key
            source, service, kind = _one(g.sources), "", ""
        else:
            fund_org, source, account = key[0], key[1], key[2]
            service = kind = ""
        checks.account(account, _one(g.sources) or ", ".join(sorted(g.sources)), g.statements)
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
                parts=checks.debit_parts(fund_org, g.statements),
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
    return lines


def _credit_lines(
    *, period: BillingPeriod, fmt: JournalFormat, groups: CreditGroups, checks: _Checks
) -> list[JournalLine]:  # pragma: no mutate block
    lines: list[JournalLine] = []
    for (source, account), g in sorted(groups.items()):
        credit_fund_org, parts = checks.credit_fund_org(source)
        checks.account(account, source, g.statements)
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
    return lines


def _one(values: set[str]) -> str:  # pragma: no mutate block
    """The value when all lines of a group share it, else empty."""
    return next(iter(values)) if len(values) == 1 else ""


def _examples(numbers: set[str]) -> str:  # pragma: no mutate block
    shown = sorted(numbers)[:EXAMPLES]
    more = len(numbers) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
