"""Give the role groups the permissions of the portal delegate model created by 0003."""

import importlib

from django.db import migrations

roles = importlib.import_module("chargeback.migrations.0002_roles")


def forwards(apps, schema_editor):
    roles.roles_sync(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("statements", "0003_portal_delegate")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
