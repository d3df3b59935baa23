"""Sign-in through django-allauth.

Staff sign in by email and password (and an authenticator app, chargeback.mfa); their accounts
come from administrators. PIs and their delegates sign in with a one-time code sent to their
address (or a password they set), or through the university's single sign-on: their account is
created on first sign-in, but only for an address that belongs to a PI or a delegate, and it is
linked to the PI record only once the address is verified (by the code, or by the identity provider).

An account has one address, its own: nobody adds addresses to their account (the page that would
is gone), a code or a password reset goes only to the account whose address it is, and a PI record
links only to the account whose verified primary address it is. An address that reached another
account anyway (added before these rules, or by hand) leads nowhere and cannot be confirmed there.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.auth_backends import AuthenticationBackend
from allauth.account.forms import RequestLoginCodeForm as BaseRequestLoginCodeForm
from allauth.account.forms import ResetPasswordForm as BaseResetPasswordForm
from allauth.account.models import EmailAddress
from allauth.account.signals import email_confirmed, user_logged_in
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse

from chargeback.audit import Actor, audit_record
from chargeback.mfa import staff_has_second_factor

log = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    """No self-sign-up: the signup page says it is closed and creates nobody.

    After signing in, staff land on the admin and everyone else on the portal.
    """

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        user = request.user
        if user.is_authenticated and not user.is_staff:
            return "/portal/"
        return super().get_login_redirect_url(request)

    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        """Only an account's own address is confirmed: a confirmation link for an address that
        sits on someone else's account (never its primary) would hand that address over."""
        if not address_is_own(email_address):
            self.add_message(
                request,
                messages.ERROR,
                "account/messages/email_confirmation_failed.txt",
                {"email": email_address.email},
            )
            return False
        return bool(super().confirm_email(request, email_address))


def address_is_own(email_address: EmailAddress) -> bool:
    """Whether the address is its account's own: the primary one, which is also the user's email."""
    own = (email_address.user.email or "").strip().lower()
    return email_address.primary or email_address.email.strip().lower() == own


def address_account(email: str) -> AbstractUser | None:
    """The active account an address signs in to: the one where it is verified, else the one whose
    own address it is (an account made for it, not yet proved). An unverified address that sits on
    another account leads nowhere, unlike allauth's own lookup, which matches it too."""
    email = email.strip().lower()
    verified = EmailAddress.objects.filter(email__iexact=email, verified=True).select_related("user").first()
    if verified is not None:
        user = verified.user
    else:
        user = get_user_model().objects.filter(email__iexact=email).order_by("pk").first()
    return cast("AbstractUser", user) if user is not None and user.is_active else None


def email_addresses_page(request: HttpRequest) -> HttpResponse:
    """allauth's "manage email addresses" page does not exist here: a delegate could add a PI's
    address there, and the PI's sign-in code or confirmation link would then open her account.
    Staff addresses are set by an administrator; PI and delegate addresses come from the PI
    records and delegations."""
    raise Http404("Email addresses are not managed here.")


def portal_address_known(email: str) -> bool:
    """Whether an address belongs to a PI or to someone a PI gave portal access."""
    from billing.models import PI
    from statements.models import PortalDelegate

    email = email.strip().lower()
    return PI.objects.filter(email=email).exists() or PortalDelegate.objects.filter(email=email).exists()


def portal_user_create(*, email: str) -> AbstractBaseUser | None:
    """A portal account for a PI's or delegate's address: no password, the address unverified.

    Nothing else: the account gets access only once the address is verified (the sign-in code
    does that) and is linked then. None when the address is taken after all (a concurrent request).
    """
    email = email.strip().lower()
    User = get_user_model()
    try:
        with transaction.atomic():
            user = User(username=email, email=email)
            user.set_unusable_password()
            user.save()
            EmailAddress.objects.create(user=user, email=email, verified=False, primary=True)
            audit_record(actor=Actor.system("portal-sign-in"), action="portal.account_create", obj=user)
    except IntegrityError:
        return None
    return user


class RequestLoginCodeForm(BaseRequestLoginCodeForm):
    """allauth's "email me a sign-in code" form that also serves PIs and delegates without an account.

    The answer is the same whether the address is known or not (allauth's enumeration
    prevention); a code is only ever sent to a known address, for the account whose address it
    is (`address_account`), and never to staff.
    """

    def clean_email(self) -> str:
        email = super().clean_email()
        if not email:
            return email
        user = address_account(email)
        self._user: AbstractBaseUser | None = user
        if user is not None and (user.is_staff or user.is_superuser):
            # Staff sign in with their password (and its failed-attempt limits), never by a code
            # that anyone reading their mailbox could use. Answered like an unknown address.
            self._user = None
            return email
        if user is None and portal_address_known(email):
            User = get_user_model()
            taken = User.objects.filter(email__iexact=email).exists() or User.objects.filter(username=email).exists()
            if not taken:
                self._user = portal_user_create(email=email)
        return email


class ResetPasswordForm(BaseResetPasswordForm):
    """allauth's password reset, sent only to the account whose address it is, and for staff only
    when an authenticator app protects the account: for them a mailbox alone is never enough
    (the reset then still ends at the sign-in page, which asks for the app's code)."""

    def clean_email(self) -> str:
        email = super().clean_email()
        user = address_account(email)
        if user is not None and (user.is_staff or user.is_superuser) and not staff_has_second_factor(user):
            user = None  # answered like an unknown address: nothing is sent
        self.users = [user] if user is not None else []
        return email


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on creates an account only for a PI's or delegate's provider-verified address.

    It never signs in to an existing account by a matching address (SOCIALACCOUNT_EMAIL_AUTHENTICATION
    is off): someone who already has an account connects the provider from their account page.
    """

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        User = get_user_model()
        for address in sociallogin.email_addresses:
            if not address.verified:
                continue
            if User.objects.filter(email__iexact=address.email).exists():
                continue
            if portal_address_known(address.email):
                return True
        return False


def pi_link_user(*, user: AbstractBaseUser) -> list[str]:
    """Link the account to the PI record of its verified primary address; the emails linked.

    Only the account's own address counts, once verified (another address on the account, even
    verified, never links a PI), only a PI record without an account is linked, and an account is
    linked to at most one PI.
    """
    from billing.models import PI

    if PI.objects.filter(user_id=user.pk).exists():
        return []
    primary = EmailAddress.objects.filter(user=user, verified=True, primary=True).values_list("email", flat=True)
    emails = sorted({e.strip().lower() for e in primary})
    with transaction.atomic():
        pi = PI.objects.select_for_update().filter(email__in=emails, user__isnull=True).order_by("email").first()
        if pi is None:
            return []
        pi.user = user  # type: ignore[assignment]
        pi.save(update_fields=["user"])
        audit_record(actor=Actor.for_user(user), action="pi.link_user", obj=pi, after={"user": user.get_username()})
    return [pi.email]


@receiver(user_logged_in, dispatch_uid="openchargeback-link-pi-on-login")
def _link_pi_on_login(sender: Any, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any) -> None:
    pi_link_user(user=user)


@receiver(email_confirmed, dispatch_uid="openchargeback-link-pi-on-confirm")
def _link_pi_on_confirm(sender: Any, request: HttpRequest, email_address: EmailAddress, **kwargs: Any) -> None:
    pi_link_user(user=email_address.user)


class EmailAuthenticationBackend(AuthenticationBackend):
    """allauth's backend, which also finds a `User.email` typed with capitals in the admin.

    allauth lowercases the email it is given and looks it up exactly, which finds the addresses
    it stored itself (always lowercase) but not an administrator's "Jane.Doe@Example.edu" on the
    user: that colleague could never sign in. Such users are matched case-insensitively, only
    after allauth found nobody, so an ordinary failed sign-in costs no extra password check.
    """

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> AbstractBaseUser | None:
        user = super().authenticate(request, **credentials)
        email, password = credentials.get("email"), credentials.get("password")
        if user is not None or not email or not password:
            return user
        candidates = get_user_model().objects.filter(email__iexact=email).exclude(email=email.lower())
        for candidate in candidates:
            if candidate.check_password(password) and self.user_can_authenticate(candidate):
                return candidate
        return None


def admin_branding(request: HttpRequest) -> dict[str, Any]:
    """The admin's names, for the sign-in pages that extend the admin's templates."""
    return {"site_header": admin.site.site_header, "site_title": admin.site.site_title}
