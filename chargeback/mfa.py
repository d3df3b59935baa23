"""Staff sign in with a second factor: allauth's MFA (an authenticator app, with recovery codes).

Finance admins and superusers must have an authenticator app: until they set one up, every admin
page sends them to the set-up page (`StaffMfaMiddleware`). Reviewers and viewers may set one up
too. allauth asks for the app's code (or a recovery code) at every sign-in of an account that has
one, whatever the way in, so after a password reset by mail the sign-in still needs the app; and
staff get a reset mail only when an app protects the account (statements.portal.accounts).
"""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from chargeback import roles


def staff_mfa_required(user: AbstractUser | AnonymousUser) -> bool:
    """Whether this account must have an authenticator app: superusers and finance admins."""
    if isinstance(user, AnonymousUser):
        return False
    return user.is_superuser or user.groups.filter(name=roles.FINANCE_ADMIN).exists()


def staff_has_second_factor(user: AbstractBaseUser) -> bool:
    """Whether an authenticator app protects the account (recovery codes alone do not count)."""
    return bool(is_mfa_enabled(user, [Authenticator.Type.TOTP]))


class StaffMfaMiddleware:
    """A finance admin or superuser without an authenticator app reaches no admin page but its
    "Log out": every other one sends them to set the app up first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        path = request.path_info
        if (
            user.is_authenticated
            and user.is_active
            and user.is_staff
            and path.startswith(reverse("admin:index"))
            and path != reverse("admin:logout")
            and staff_mfa_required(user)
            and not staff_has_second_factor(user)
        ):
            messages.warning(request, "Set up an authenticator app before you use the admin: your role requires it.")
            return HttpResponseRedirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
