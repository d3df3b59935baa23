"""Give the role groups the permissions of the portal delegate model created by 0003."""

from django.db import migrations

from chargeback.roles import roles_sync


def forwards(apps, schema_editor):
    roles_sync(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("statements", "0003_portal_delegate")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
