"""Statements (one per PI and project per period, versioned, frozen) and the email outbox."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from billing.models import PI, BillingPeriod, Project
from chargeback.money import ExactDecimalField, MoneyField


def statement_upload_to(instance: Statement, filename: str) -> str:
    return f"statements/{instance.period.period}/{filename}"


class Statement(models.Model):
    """What one PI owes for one project in one period, frozen when generated.

    The number identifies the PI and project in the period and stays the same across versions;
    regenerating with different content makes a new version and supersedes the old one. A sent
    version's lines, totals and PDF never change.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (PDF pending)"
        FINAL = "final", "Final"
        SENT = "sent", "Sent"
        SUPERSEDED = "superseded", "Superseded"

    # Allowed moves; anything else is a bug or a race, refused by the services.
    TRANSITIONS: dict[str, set[str]] = {
        Status.DRAFT: {Status.FINAL, Status.SUPERSEDED},
        Status.FINAL: {Status.SENT, Status.SUPERSEDED},
        Status.SENT: {Status.SUPERSEDED},
        Status.SUPERSEDED: set(),
    }

    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="statements")
    pi = models.ForeignKey(PI, on_delete=models.PROTECT, related_name="statements")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT, related_name="statements")
    sequence = models.PositiveIntegerField(help_text="Per-period statement sequence")
    number = models.CharField(max_length=20, db_index=True, help_text="YYYY-MM-NNNNNN")
    version = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    currency = models.CharField(max_length=3, blank=True)
    fund_orgs = models.CharField(max_length=300, blank=True, help_text="The fund/orgs the charges named")
    # Frozen totals: exact sums of the charges, and the rounded amounts the PI sees.
    charge_count = models.PositiveIntegerField(default=0)
    list_exact = ExactDecimalField(default=0)
    billed_exact = ExactDecimalField(default=0)
    list_total = ExactDecimalField(default=0, help_text="List price, rounded to cents")
    discount_total = ExactDecimalField(default=0, help_text="List minus amount due")
    amount_due = ExactDecimalField(default=0, help_text="Sum of billed cost, rounded once to cents")
    content_sha256 = models.CharField(max_length=64, help_text="Of the frozen lines; unchanged content, no version")
    pdf = models.FileField(upload_to=statement_upload_to, max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_pages = models.PositiveSmallIntegerField(default=0)
    generated_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["period__period", "number", "version"]
        constraints = [
            models.UniqueConstraint(fields=["number", "version"], name="statement_number_version"),
            models.UniqueConstraint(
                fields=["period", "pi", "project"],
                condition=~models.Q(status="superseded"),
                name="one_current_statement_per_project",
            ),
        ]
        indexes = [models.Index(fields=["period", "status"], name="statement_period_status")]
        permissions = [
            ("generate_statement", "Can generate statements"),
            ("send_statement", "Can send and resend statement email"),
        ]

    def __str__(self) -> str:
        return f"{self.number} v{self.version}"

    @property
    def is_current(self) -> bool:
        return self.status != self.Status.SUPERSEDED

    @property
    def discount_percent(self) -> str:
        if not self.list_total:
            return "0"
        return f"{(self.discount_total / self.list_total * 100):.1f}"


class StatementLine(models.Model):
    """A frozen line: charges of one source, service, fund/org, account and kind.

    `amount` is in cents and the lines of a statement add up exactly to its amount due
    (largest remainder); credits, refunds and corrections are lines of their own.
    """

    class Kind(models.TextChoices):
        USAGE = "usage", "Usage"
        PURCHASE = "purchase", "Purchase"
        TAX = "tax", "Tax"
        CREDIT = "credit", "Credit"
        ADJUSTMENT = "adjustment", "Adjustment"
        CORRECTION = "correction", "Correction"

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.USAGE)
    source = models.CharField(max_length=50)
    service_name = models.CharField(max_length=300, blank=True)
    fund_org = models.CharField(max_length=100, blank=True)
    account_code = models.CharField(max_length=50, blank=True)
    charge_count = models.PositiveIntegerField()
    list_exact = ExactDecimalField()
    billed_exact = ExactDecimalField()
    list_amount = ExactDecimalField(help_text="Cents")
    amount = ExactDecimalField(help_text="Cents")
    amortized = models.BooleanField(
        default=False, help_text="Billed at amortized cost (the source's effective billing basis)"
    )
    corrects = models.CharField(
        max_length=7, blank=True, help_text="The earlier month (YYYY-MM) a correction line corrects"
    )

    class Meta:
        ordering = ["statement", "position"]

    def __str__(self) -> str:
        return f"{self.statement} {self.source} {self.service_name}"

    @property
    def discount(self) -> object:
        return self.list_amount - self.amount


class Delivery(models.Model):
    """The outbox: one email to one PI with their statements of a period.

    Written in the same transaction as the decision to send; a worker claims it with a
    conditional update (pending → sending) so a repeated task never sends twice.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="deliveries")
    pi = models.ForeignKey(PI, on_delete=models.PROTECT, related_name="deliveries")
    recipient = models.EmailField()
    copies = models.JSONField(default=list, blank=True, help_text="Delegates copied on the email")
    statements = models.ManyToManyField(Statement, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    resend_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="resends")
    subject = models.CharField(max_length=300, blank=True)
    amount_due = MoneyField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    actor = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due")]

    def __str__(self) -> str:
        return f"delivery {self.pk} to {self.recipient} ({self.period})"


class GenerationRun(models.Model):
    """One `generate` of a period: what it produced, for the report and the progress page."""

    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="generation_runs")
    actor = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    statements = models.ManyToManyField(Statement, related_name="generation_runs", blank=True)
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"generation {self.pk} of {self.period}"


class PortalDelegate(models.Model):
    """Read access to a PI's portal pages for someone else: a lab manager, a grant administrator.

    Granted by the PI (on the portal) or a finance admin (in the admin) to an email address; the
    person signs in with that address once it is verified (a sign-in code proves it). With
    `all_projects` they see all of the PI's projects, present and future; otherwise exactly the
    listed projects, as long as those still belong to the PI.
    """

    pi = models.ForeignKey(PI, on_delete=models.CASCADE, related_name="portal_delegates")
    email = models.EmailField(help_text="Stored lower-case; the delegate signs in with it")
    all_projects = models.BooleanField(default=False, help_text="All of the PI's projects, also future ones")
    projects = models.ManyToManyField(Project, blank=True, related_name="portal_delegates")
    note = models.CharField(max_length=200, blank=True, help_text="e.g. lab manager, grant administrator")
    email_statements = models.BooleanField(
        default=False,
        help_text="Copied on the PI's statement email, when they may see every statement it carries",
    )
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pi", "email"]
        verbose_name = "portal delegate"
        constraints = [models.UniqueConstraint(fields=["pi", "email"], name="portal_delegate_once_per_pi")]
        indexes = [models.Index(fields=["email"], name="portal_delegate_email")]

    def __str__(self) -> str:
        return f"{self.email} for {self.pi.email}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class StatementLineShare(models.Model):
    """One fund's share of a statement line funded by a split, in cents.

    The shares of a line are allocated by largest remainder, so they add up exactly to the line's
    amount; the journal debits each fund its share. Lines of projects without a split have none.
    """

    line = models.ForeignKey(StatementLine, on_delete=models.CASCADE, related_name="shares")
    fund_org = models.CharField(max_length=100)
    percent = models.DecimalField(max_digits=5, decimal_places=2)
    amount = ExactDecimalField(help_text="Cents")

    class Meta:
        ordering = ["line", "fund_org"]

    def __str__(self) -> str:
        return f"{self.line} {self.fund_org} {self.amount}"


class FundNotice(models.Model):
    """The outbox of award expiry notices: one email to one PI per fund and threshold, exactly once.

    The unique constraint makes a second run (or a second worker) find the row already there; the
    send is claimed with a conditional update (pending → sending), as for statement email.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    fund = models.ForeignKey("billing.Fund", on_delete=models.CASCADE, related_name="notices")
    threshold = models.PositiveSmallIntegerField(help_text="Days before the award ends: 90, 60 or 30")
    pi = models.ForeignKey(PI, on_delete=models.PROTECT, related_name="fund_notices")
    recipient = models.EmailField()
    copies = models.JSONField(default=list, blank=True, help_text="Delegates who can see the funded projects")
    award_end = models.DateField()
    projects = models.JSONField(default=list, help_text="[code, title, month-to-date cost on the fund]")
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["fund", "threshold", "pi"], name="fund_notice_once_per_threshold"),
        ]

    def __str__(self) -> str:
        return f"{self.threshold}-day notice of {self.fund_id} to {self.recipient}"


class Dispute(models.Model):
    """A PI's or delegate's objection to charges of the open month, and the reviewer's answer.

    The charges are flagged `disputed` (billing.services.charge_flags) while the dispute is open:
    they stay out of the statements and in the review queue, and the month cannot close.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    class Outcome(models.TextChoices):
        APPROVE = "approve", "Approved as is"
        REATTRIBUTE = "reattribute", "Attribution fixed"
        REJECT = "reject", "Rejected (not billed)"

    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="disputes")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="disputes")
    pi = models.ForeignKey(PI, on_delete=models.PROTECT, related_name="disputes")
    charges = models.ManyToManyField("billing.Charge", related_name="disputes")
    service_name = models.CharField(max_length=300, blank=True, help_text="Set when a whole service line is disputed")
    comment = models.TextField()
    raised_by = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    reply = models.TextField(blank=True)
    resolved_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "period"], name="dispute_status_period")]
        permissions = [("resolve_dispute", "Can resolve disputes raised on the portal")]

    def __str__(self) -> str:
        what = f"service {self.service_name}" if self.service_name else "charges"
        return f"dispute {self.pk}: {self.project.code} {what} ({self.period.period})"


class Notice(models.Model):
    """The outbox of portal notices: a dispute's resolution, the reviewers' dispute digest, budget alerts.

    `key` is unique: the decision to send a notice (`dispute-resolved:<id>`,
    `budget-alerts:<email>:<day>` …) writes at most one row, so nobody is told twice; a worker
    claims the row with a conditional update (pending → sending) before it sends.
    """

    class Kind(models.TextChoices):
        DISPUTE_RESOLVED = "dispute_resolved", "Dispute resolved"
        DISPUTE_DIGEST = "dispute_digest", "Open disputes (daily digest)"
        BUDGET_ALERTS = "budget_alerts", "Budget alerts (daily digest)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    key = models.CharField(max_length=300, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    recipient = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    budget_alerts = models.ManyToManyField("billing.BudgetAlert", blank=True, related_name="notices")
    dispute = models.ForeignKey(Dispute, null=True, blank=True, on_delete=models.PROTECT, related_name="notices")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="notice_status_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient}"
