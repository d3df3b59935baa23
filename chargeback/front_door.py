"""`/`: staff go to the admin, everyone else signed in to the portal, anyone else to sign in."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.views.decorators.http import require_safe


@require_safe
def front_door(request: HttpRequest) -> HttpResponseRedirect:
    user = request.user
    if not user.is_authenticated:
        return HttpResponseRedirect(resolve_url("account_login"))
    if user.is_staff:
        return HttpResponseRedirect(resolve_url("admin:index"))
    return HttpResponseRedirect(resolve_url("portal:home"))
