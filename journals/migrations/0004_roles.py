"""Give the Finance admin role the export_journal permission created by 0002 (roles_sync adds it)."""

from django.db import migrations

from chargeback.roles import roles_sync


def forwards(apps, schema_editor):
    roles_sync(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("journals", "0003_example_formats"),
        ("chargeback", "0002_roles"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
