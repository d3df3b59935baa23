"""Sign-in through django-allauth: staff sign in by email; accounts come from administrators."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.auth_backends import AuthenticationBackend
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    """No self-sign-up: the signup page says it is closed and creates nobody."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False


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
