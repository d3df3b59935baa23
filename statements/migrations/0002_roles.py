"""Give the role groups the statement permissions (generate, send) created by 0001."""

from django.db import migrations

from chargeback.roles import roles_sync


def forwards(apps, schema_editor):
    roles_sync(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("statements", "0001_initial"),
        ("chargeback", "0002_roles"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
