"""The three staff roles as Django groups: Finance admin, Reviewer and Viewer.

The role table lives here, once. The migration that creates the groups, `load-demo`, the
benchmarks and the tests all call `roles_sync`.

Django creates permissions in a post_migrate handler, after every migration has run, so on a
fresh database they do not exist yet when the roles migration runs. `roles_sync` creates them
itself with `create_permissions` for the apps it needs. The historical app configs of a migration
have no models module, which `create_permissions` takes as "no models": the module is set for the
call and put back after.

`roles_sync` works with a migration's historical registry and with the live one (`load-demo`
calls it again, which picks up models added since). It only adds permissions, never takes one
away, so a group an administrator extended keeps its extras.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management import create_permissions

FINANCE_ADMIN = "Finance admin"
REVIEWER = "Reviewer"
VIEWER = "Viewer"
ROLES = (FINANCE_ADMIN, REVIEWER, VIEWER)

ROLE_APPS = ("billing", "chargeback", "statements", "journals")
# Append-only records: nobody edits or deletes them through the admin (Django's bulk delete
# does not call Model.delete), so even the finance admin only views them.
APPEND_ONLY = {("chargeback", "auditevent"), ("billing", "reviewdecision"), ("billing", "periodtransition")}
REVIEWER_EXTRA = {
    ("billing", "approve_charge"), ("billing", "change_charge"), ("statements", "send_statement"),
    ("statements", "resolve_dispute"),
}  # fmt: skip


def _create_permissions(apps: Any, using: str) -> list[str]:
    """Create the permissions of the role apps present in `apps`; return their labels."""
    labels: list[str] = []
    for label in ROLE_APPS:
        try:
            app_config = apps.get_app_config(label)
        except LookupError:  # an app without models has no migration state yet
            continue
        models_module = getattr(app_config, "models_module", None)  # a stub has none at all
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            app_config.models_module = models_module
        labels.append(label)
    return labels


def roles_sync(apps: Any, using: str = "default") -> None:
    """Create the role groups and give each the permissions of its role (adding, never removing)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    labels = _create_permissions(apps, using)
    grants: dict[str, list[Any]] = {role: [] for role in ROLES}
    perms = Permission.objects.using(using).filter(content_type__app_label__in=labels).select_related("content_type")
    for perm in perms:
        app_label, model = perm.content_type.app_label, perm.content_type.model
        viewing = perm.codename.startswith("view_")
        if viewing or (app_label, model) not in APPEND_ONLY:
            grants[FINANCE_ADMIN].append(perm)
        if viewing:
            grants[VIEWER].append(perm)
        if viewing or (app_label, perm.codename) in REVIEWER_EXTRA:
            grants[REVIEWER].append(perm)
    for role, role_perms in grants.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.add(*role_perms)
