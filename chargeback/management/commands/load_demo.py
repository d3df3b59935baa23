"""`openchargeback load-demo` (also `load_demo`): the demo organization, its rules, a user per role and sample data."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.utils import encrypt
from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import CommandParser
from django.db import models, transaction

from billing.models import PI, Charge
from billing.services.data import data_import_all
from billing.services.ingest import IngestReport, batch_ingest
from chargeback import roles
from chargeback.audit import Actor, audit_record
from chargeback.command import ChargebackCommand, Error
from chargeback.formatting import money
from chargeback.models import Organization

# `aws-2025-01.csv`, `storage-2025-01.csv.gz`: the source, then the billing period.
DEMO_FILE = re.compile(r"^(?P<source>[a-z][a-z0-9_]*)-(?P<period>\d{4}-\d{2})\.csv(?:\.gz)?$")


@dataclass(frozen=True)
class DemoUser:
    email: str  # also the user name; staff sign in with it (allauth, by email)
    password: str
    role: str  # a role group, or "PI" for a portal user linked to the PI with this email
    staff: bool
    superuser: bool = False
    authenticator: bool = False  # the demo's authenticator app (finance admins must have one)


PI_ROLE = "PI"
# The demo's authenticator app and recovery codes, published like the passwords: add the secret
# to any authenticator app (or compute the code with `oathtool --totp -b SECRET`).
DEMO_TOTP_SECRET = "OCBDEMO2FINANCE7AUTHENTICATORAPP"  # noqa: S105 (a demo, like the passwords)
DEMO_RECOVERY_SEED = "openchargeback-demo-recovery-codes"
DEMO_USERS = (
    DemoUser(
        "finance@example.edu", "demo-finance", roles.FINANCE_ADMIN, staff=True, superuser=True, authenticator=True
    ),
    DemoUser("reviewer@example.edu", "demo-reviewer", roles.REVIEWER, staff=True),
    DemoUser("viewer@example.edu", "demo-viewer", roles.VIEWER, staff=True),
    DemoUser("alice.chen@example.edu", "demo-pi", PI_ROLE, staff=False),
    DemoUser("jose.nunez@example.edu", "demo-pi", PI_ROLE, staff=False),
)


@dataclass(frozen=True)
class DemoFile:
    path: Path
    source: str
    month: str


def fixtures_dir() -> Path:
    return Path(settings.BASE_DIR) / "fixtures"


def demo_files(folder: Path) -> list[DemoFile]:
    """The shipped FOCUS files, period by period (a project's first sighting sets its defaults)."""
    files = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        match = DEMO_FILE.match(path.name)
        if match is None:
            raise Error(f"{path}: not a demo file name (expected SOURCE-YYYY-MM.csv or .csv.gz)")
        files.append(DemoFile(path, match["source"], match["period"]))
    if not files:
        raise Error(f"{folder}: no demo files")
    return sorted(files, key=lambda f: (f.month, f.source))


def _assign(obj: models.Model, values: dict[str, Any], what: str) -> list[str]:
    """Set the fields that differ, validate, save; the changes as `what: field` lines."""
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if obj.pk is not None and not changed:
        return []
    for name in changed:
        setattr(obj, name, values[name])
    try:
        obj.full_clean()
    except ValidationError as exc:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise Error(f"demo setup, {what}: {details}") from None
    created = obj.pk is None
    obj.save()
    return [f"{what}: created"] if created else [f"{what}: {', '.join(changed)}"]


def apply_rules(organization: dict[str, Any], actor: Actor) -> list[str]:
    """The organization, then the sources and rules of fixtures/config, through `data import all`."""
    changes = _assign(Organization.current(), organization, "organization")
    for report in data_import_all(folder=fixtures_dir() / "config", actor=actor):
        if report.changed:
            changes.append(f"{report.file}: {report.created} created, {report.updated} updated")
    return changes


def apply_roles() -> list[str]:
    grants = Group.permissions.through.objects.filter(group__name__in=roles.ROLES)
    before = grants.count()
    roles.roles_sync(global_apps)
    added = grants.count() - before
    return [f"roles: {added} permissions granted"] if added else []


def apply_users() -> list[str]:
    User = get_user_model()
    changes: list[str] = []
    for demo in DEMO_USERS:
        user = User.objects.filter(username=demo.email).first()
        if user is None:
            user = User(username=demo.email)
            user.set_password(demo.password)  # only when created: a changed password is kept
        values = {"email": demo.email, "is_active": True, "is_staff": demo.staff, "is_superuser": demo.superuser}
        changes += _assign(user, values, f"user {demo.email}")
        if demo.role != PI_ROLE and not user.groups.filter(name=demo.role).exists():
            user.groups.add(Group.objects.get(name=demo.role))
            changes.append(f"user {demo.email}: added to {demo.role}")
        changes += apply_email_address(user, demo.email)
        if demo.authenticator:
            changes += apply_authenticator(user)
    return changes


def apply_authenticator(user: AbstractBaseUser) -> list[str]:
    """The demo's authenticator app and recovery codes, unless the user has an app already (kept)."""
    if Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists():
        return []
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": encrypt(DEMO_TOTP_SECRET)})
    Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.RECOVERY_CODES).delete()
    data = {"seed": encrypt(DEMO_RECOVERY_SEED), "used_mask": 0}
    Authenticator.objects.create(user=user, type=Authenticator.Type.RECOVERY_CODES, data=data)
    return [f"user {user.get_username()}: authenticator app set up"]


def demo_recovery_codes() -> list[str]:
    """The demo's recovery codes (each works once), as allauth derives them from the demo's seed."""
    return RecoveryCodes(Authenticator(data={"seed": encrypt(DEMO_RECOVERY_SEED), "used_mask": 0})).generate_codes()


def apply_email_address(user: AbstractBaseUser, email: str) -> list[str]:
    """The user's address as allauth's verified (and, if none is yet, primary) sign-in address."""
    address = EmailAddress.objects.filter(user=user, email=email.lower()).first()
    address = address or EmailAddress(user=user, email=email.lower())
    other_primary = EmailAddress.objects.filter(user=user, primary=True).exclude(pk=address.pk).exists()
    values = {"verified": True, "primary": address.primary or not other_primary}
    return _assign(address, values, f"email address {email}")


def link_pis(batch_ids: list[int]) -> tuple[list[str], list[str]]:
    """Name the demo PIs after their `pi_name` tag and link the PI users to their PI."""
    changes: list[str] = []
    warnings: list[str] = []
    names: dict[int, str] = {}
    unnamed = Charge.objects.filter(batch_id__in=batch_ids, pi__name="").values_list("pi_id", "tags")
    for pi_id, tags in unnamed:
        name = tags.get("pi_name") if isinstance(tags, dict) else None
        if pi_id is not None and isinstance(name, str) and name.strip():
            names.setdefault(pi_id, name.strip()[:200])
    for unnamed_pi in PI.objects.filter(pk__in=names, name=""):
        unnamed_pi.name = names[unnamed_pi.pk]
        unnamed_pi.save(update_fields=["name"])
        changes.append(f"PI {unnamed_pi.email}: named {unnamed_pi.name}")
    User = get_user_model()
    for demo in DEMO_USERS:
        if demo.role != PI_ROLE:
            continue
        pi = PI.objects.filter(email=demo.email).first()
        user = User.objects.get(username=demo.email)
        if pi is None:
            warnings.append(f"{demo.email} is not a PI in the demo files; the user is not linked")
        elif pi.user_id is None and not PI.objects.filter(user=user).exists():
            pi.user = user
            pi.save(update_fields=["user"])
            changes.append(f"PI {pi.email}: linked to user {user.get_username()}")
        elif pi.user_id != user.pk:
            warnings.append(f"PI {pi.email} is linked to another user; left as it is")
        if pi is not None and pi.name and not (user.first_name or user.last_name):
            user.first_name, _, user.last_name = pi.name.partition(" ")
            user.save(update_fields=["first_name", "last_name"])
            changes.append(f"user {demo.email}: named {pi.name}")
    return changes, warnings


# The demo's monthly cycle: January's flagged charges are decided (as a reviewer would), then it is
# closed, its statements generated and emailed; February stays open so that there is something to
# review.
DEMO_CLOSED_PERIOD = "2025-01"
DEMO_OPEN_PERIOD = "2025-02"


def review_demo_month(actor: Actor) -> None:
    """Decide the closed month's flagged charges the way a reviewer would: a provider credit or a GPU
    job that was expected is approved; a charge without a PI, a project or a valid fund/org cannot
    be billed to anyone and is rejected (absorbed)."""
    from billing.selectors import review_queue
    from billing.services.review import charges_approve, charges_reject

    flagged = list(review_queue(month=DEMO_CLOSED_PERIOD))
    expected = {"negative_amount", "pattern_match"}
    approve = [c.pk for c in flagged if {r.partition(":")[0] for r in c.flag_reason_list} <= expected]
    reject = [c.pk for c in flagged if c.pk not in approve]
    if approve:
        charges_approve(ids=approve, actor=actor, note="demo review: expected, bill it")
    if reject:
        charges_reject(ids=reject, actor=actor, note="demo review: no PI or project to bill; absorbed")


def run_demo_month(actor: Actor) -> dict[str, Any]:
    """Close the demo's first month and generate and send its statements (again: a no-op)."""
    from billing.models import BillingPeriod
    from billing.services.periods import period_close
    from journals.models import JournalExport
    from journals.services.export import journal_export
    from statements.services.delivery import deliveries_queue
    from statements.services.generate import statements_generate
    from statements.services.render import statement_render

    period = BillingPeriod.objects.filter(period=DEMO_CLOSED_PERIOD).first()
    if period is None:
        raise Error(f"the demo files have no {DEMO_CLOSED_PERIOD} data")
    if period.status == BillingPeriod.Status.OPEN and not period.statements.exists():
        review_demo_month(actor)
        period_close(month=DEMO_CLOSED_PERIOD, actor=actor, notes="demo: the month is over")
        period.refresh_from_db()
    if period.status != BillingPeriod.Status.CLOSED:  # reopened or finalized by hand: leave it alone
        return {"statements": 0, "new_versions": 0, "excluded_flagged_charges": 0, "emails_queued": 0, "journal": ""}
    report = statements_generate(month=DEMO_CLOSED_PERIOD, actor=actor)
    queued = deliveries_queue(month=DEMO_CLOSED_PERIOD, actor=actor).queued if report.statements else 0
    journal = JournalExport.objects.filter(period=period).order_by("-sequence").first()
    number = journal.number if journal is not None else ""
    if journal is None and report.statements:
        # The journal needs every PDF; render here what a worker has not rendered yet (idempotent).
        for pk in period.statements.filter(status="draft").values_list("pk", flat=True):
            statement_render(statement_id=pk)
        number = journal_export(month=DEMO_CLOSED_PERIOD, format_name="gl", actor=actor).number
    return {**report.as_dict(), "emails_queued": queued, "journal": number}


class Command(ChargebackCommand):
    help = (
        "Load the demo organization, rules, users and sample FOCUS files (make demo). It sets up "
        "'Example University Research Computing' (fixtures/demo_organization.json), the sources and rules "
        "of fixtures/config (applied as `openchargeback data import all fixtures/config` would), a "
        "user per role (finance, reviewer, viewer and two PIs; the email is the user name; the finance "
        "user, a finance admin, also gets a published authenticator app secret and recovery codes), imports "
        "every file in fixtures/focus, then closes January 2025, generates and emails its statements and "
        "exports its GL journal. "
        "Running it again changes nothing: files already imported are skipped, unchanged statements keep "
        "their version, nobody is emailed twice and existing users keep their passwords and authenticator apps. "
        "Refuses to run with DEBUG off unless --force, because the demo users have published passwords."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (a demo site only: known passwords)"
        )
        super().add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise Error(
                "DEBUG is off: the demo creates users with published passwords. "
                "On a demo site, run it with --force (or with DEBUG=true)."
            )
        actor = Actor.system("demo")
        organization = self._read_organization(fixtures_dir() / "demo_organization.json")
        files = demo_files(fixtures_dir() / "focus")

        with transaction.atomic():
            changes = apply_rules(organization, actor) + apply_roles() + apply_users()
            if changes:
                audit_record(actor=actor, action="demo.load", after={"changes": changes})
        reports = [batch_ingest(paths=[f.path], source_name=f.source, month=f.month, actor=actor) for f in files]
        with transaction.atomic():
            linked, warnings = link_pis([r.batch_id for r in reports if r.batch_id is not None])
            if linked:
                audit_record(actor=actor, action="demo.load", after={"changes": linked})
        changes += linked
        data_statements = run_demo_month(actor)

        imported = sum(r.status == "applied" for r in reports)
        rows, flagged = sum(r.rows for r in reports), sum(r.flagged_rows for r in reports)
        data = {
            "organization": Organization.current().name,
            "changes": changes,
            "warnings": warnings,
            "files": [{"file": f.path.name, **r.as_dict()} for f, r in zip(files, reports, strict=True)],
            "files_imported": imported,
            "files_already_imported": len(reports) - imported,
            "rows": rows,
            "flagged": flagged,
            "users": [self._user_data(u) for u in DEMO_USERS],
            "statements": data_statements,
        }
        self.emit(options, data, self._text(data, reports))

    @staticmethod
    def _user_data(user: DemoUser) -> dict[str, Any]:
        data: dict[str, Any] = {"email": user.email, "password": user.password, "role": user.role}
        if user.authenticator:
            data |= {"totp_secret": DEMO_TOTP_SECRET, "recovery_codes": demo_recovery_codes()}
        return data

    @staticmethod
    def _read_organization(path: Path) -> dict[str, Any]:
        try:
            organization = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise Error(f"{path}: cannot read the demo organization ({exc})") from None
        if not isinstance(organization, dict) or "name" not in organization:
            raise Error(f"{path}: not an organization (a JSON object with at least a name)")
        return dict(organization)

    @staticmethod
    def _text(data: dict[str, Any], reports: list[IngestReport]) -> str:
        lines = [f"Demo for {data['organization']}"]
        changes = data["changes"]
        lines.append(f"  setup: {len(changes)} changes" if changes else "  setup: already in place, nothing changed")
        for item, report in zip(data["files"], reports, strict=True):
            status = "imported" if report.status == "applied" else "already imported"
            currency = report.currencies[0] if len(report.currencies) == 1 else ""
            lines.append(
                f"  {item['file']:<24} {status:<16} batch {report.batch_id:<4} {report.rows:>4} rows "
                f"{report.flagged_rows:>3} flagged  billed {money(report.billed_total, currency)}"
            )
        lines.append(
            f"Files: {data['files_imported']} imported, {data['files_already_imported']} already imported; "
            f"{data['rows']} rows, {data['flagged']} flagged for review."
        )
        st = data["statements"]
        mail_to = f" (files in {settings.EMAIL_FILE_PATH})" if getattr(settings, "EMAIL_FILE_PATH", "") else ""
        lines.append(
            f"Month {DEMO_CLOSED_PERIOD}: closed; {st['statements']} statements ({st['new_versions']} new), "
            f"{st['emails_queued']} emails sent{mail_to}; journal {st['journal'] or '(none)'}; "
            f"{st['excluded_flagged_charges']} flagged charges left out until reviewed. "
            f"{DEMO_OPEN_PERIOD} stays open for review."
        )
        lines += [f"Warning: {w}" for w in data["warnings"]]
        lines.append("Sign in at /admin/ with the email and password (users created earlier keep their password):")
        for user in DEMO_USERS:
            role = {PI_ROLE: "PI (the portal; not an admin user)"}.get(user.role, user.role)
            role += " (superuser)" if user.superuser else ""
            lines.append(f"  {user.email:<26} {user.password:<15} {role}")
        if any(u.authenticator for u in DEMO_USERS):
            lines.append(
                f"The finance user also needs the code of an authenticator app: add the secret {DEMO_TOTP_SECRET} "
                f"to one (or run: oathtool --totp -b {DEMO_TOTP_SECRET}), or use one of these recovery codes "
                f"(each works once): {' '.join(demo_recovery_codes())}"
            )
        return "\n".join(lines)
