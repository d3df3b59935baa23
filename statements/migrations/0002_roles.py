"""Give the role groups the statement permissions (generate, send) created by 0001."""

import importlib

from django.db import migrations

roles = importlib.import_module("chargeback.migrations.0002_roles")


def forwards(apps, schema_editor):
    roles.roles_sync(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("statements", "0001_initial"),
        ("chargeback", "0002_roles"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
