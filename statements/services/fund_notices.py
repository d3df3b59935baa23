"""Award expiry notices: 90, 60 and 30 days before a fund's award ends, one email to each PI it funds.

Each notice lists the PI's projects the fund pays for today and their month-to-date cost on it
(`billing.selectors.funding.fund_costs`, rounded once to cents), copied to the PI's delegates
who can see every project it lists. The outbox row (`FundNotice`) is unique per fund, threshold
and PI, so a second run, a second worker or a cron job next to the beat finds it there and sends
nothing again; a send is claimed with a conditional update (pending → sending). A run first
writes the notices that are due, then sends every pending one, so a send that failed with a
temporary error goes out on the next run. Only the nearest threshold reached is written: a fund
first seen 45 days before its end gets the 60-day notice, not the 90-day one as well.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from billing.models import PI, Fund, Project
from billing.selectors.funding import FundingMap, fund_costs
from chargeback.audit import Actor, audit_record
from chargeback.mail import refusal
from chargeback.models import Organization
from chargeback.money import ZERO, round_cents
from statements.models import FundNotice, PortalDelegate

THRESHOLDS = (30, 60, 90)  # days before the award's last day, nearest first


@dataclass
class PlannedNotice:
    fund: str
    threshold: int
    award_end: str
    pi_email: str
    copies: list[str]
    projects: list[list[str]]  # code, title, month-to-date cost on the fund


@dataclass
class NoticeReport:
    today: str
    dry_run: bool
    due: list[PlannedNotice] = field(default_factory=list)
    written: int = 0
    already_sent: int = 0
    sent: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def threshold_reached(award_end: date, today: date) -> int | None:
    """The nearest threshold the award's end is within, or None (more than 90 days, or ended)."""
    days_left = (award_end - today).days
    if days_left < 0:
        return None
    return next((t for t in THRESHOLDS if days_left <= t), None)


def notices_due(*, today: date) -> list[tuple[Fund, int, PI, list[list[str]], list[str]]]:
    """(fund, threshold, PI, projects, copies) of every notice due today, whether written or not."""
    funding = FundingMap.load()
    costs: dict[tuple[int, str], Any] | None = None
    currency = Organization.current().expected_currency
    due = []
    for fund in Fund.objects.filter(award_end__isnull=False).order_by("fund_org"):
        assert fund.award_end is not None
        threshold = threshold_reached(fund.award_end, today)
        if threshold is None:
            continue
        by_pi: dict[int, list[Project]] = {}
        for project in Project.objects.filter(active=True, pi__isnull=False).select_related("pi").order_by("code"):
            split = funding.split_on(project.pk, today)
            funds = [f for f, _ in split] if split else [project.fund_org]
            if fund.fund_org in funds:
                by_pi.setdefault(project.pi_id or 0, []).append(project)
        if not by_pi:
            continue
        if costs is None:
            costs = fund_costs(month=f"{today:%Y-%m}", funding=funding)
        for projects in by_pi.values():
            pi = projects[0].pi
            assert pi is not None
            listed = [
                [p.code, p.title, f"{currency} {round_cents(costs.get((p.pk, fund.fund_org), ZERO)):,.2f}"]
                for p in projects
            ]
            due.append((fund, threshold, pi, listed, _copies(pi, {p.pk for p in projects})))
    return due


def _copies(pi: PI, project_ids: set[int]) -> list[str]:
    """The PI's delegates who can see every project the notice lists."""
    delegates = PortalDelegate.objects.filter(pi=pi).prefetch_related("projects").order_by("email")
    return [d.email for d in delegates if d.all_projects or project_ids <= {p.pk for p in d.projects.all()}]


def notices_send(*, actor: Actor, today: date | None = None, dry_run: bool = False) -> NoticeReport:
    """Write the notices due today (each fund, threshold and PI once) and send the pending ones."""
    today = today or timezone.localdate()
    report = NoticeReport(today=str(today), dry_run=dry_run)
    for fund, threshold, pi, projects, copies in notices_due(today=today):
        assert fund.award_end is not None  # notices_due keeps funds with an end only
        report.due.append(PlannedNotice(fund.fund_org, threshold, str(fund.award_end), pi.email, copies, projects))
        if dry_run:
            continue
        try:
            with transaction.atomic():
                notice, created = FundNotice.objects.get_or_create(
                    fund=fund, threshold=threshold, pi=pi,
                    defaults={"recipient": pi.email, "copies": copies, "projects": projects,
                              "award_end": fund.award_end},
                )  # fmt: skip
                if created:
                    audit_record(
                        actor=actor, action="fund_notice.queue", obj=notice,
                        after={"fund": fund.fund_org, "threshold": threshold, "recipient": pi.email},
                    )  # fmt: skip
        except IntegrityError:  # another run wrote it a moment ago
            created = False
        report.written += created
        report.already_sent += not created
    if not dry_run:
        pending = FundNotice.objects.filter(status=FundNotice.Status.PENDING).order_by("pk")
        for pk in pending.values_list("pk", flat=True):
            outcome = notice_send(notice_id=pk)
            if outcome == "sent":
                report.sent += 1
            elif outcome != "skipped":
                report.failed.append(f"notice {pk}: {outcome}")
    return report


def notice_send(*, notice_id: int) -> str:
    """Send one pending notice if this call claims it: "sent", "skipped" or the reason it was not."""
    claimed = FundNotice.objects.filter(pk=notice_id, status=FundNotice.Status.PENDING).update(
        status=FundNotice.Status.SENDING
    )
    if not claimed:
        return "skipped"
    notice = FundNotice.objects.select_related("fund", "pi").get(pk=notice_id)
    org = Organization.current()
    context = {"org": org, "notice": notice, "fund": notice.fund, "pi": notice.pi,
               "days": (notice.award_end - timezone.localdate()).days,
               "portal_url": settings.OPENCHARGEBACK_PUBLIC_URL}  # fmt: skip
    message = EmailMessage(
        subject=f"{notice.fund.fund_org} ends on {notice.award_end}: {notice.threshold}-day notice"[:300],
        body=render_to_string("statements/fund_notice.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notice.recipient],
        cc=notice.copies,
        reply_to=[org.contact_email] if org.contact_email else None,
        headers={"X-OpenChargeback-Fund-Notice": str(notice.pk)},
    )
    try:
        message.send()
    except OSError as exc:
        why = refusal(exc)
        if why.kind == "temporary":
            status = FundNotice.Status.PENDING  # the next run sends it
        elif why.kind == "unknown":
            status = FundNotice.Status.SENDING  # may have gone out: left for a person
        else:
            status = FundNotice.Status.FAILED
        FundNotice.objects.filter(pk=notice.pk).update(status=status, last_error=why.text)
        return why.text
    FundNotice.objects.filter(pk=notice.pk, status=FundNotice.Status.SENDING).update(
        status=FundNotice.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    audit_record(
        actor=Actor.system("outbox"), action="fund_notice.sent", obj=notice,
        after={"fund": notice.fund.fund_org, "threshold": notice.threshold, "recipient": notice.recipient},
    )  # fmt: skip
    return "sent"
