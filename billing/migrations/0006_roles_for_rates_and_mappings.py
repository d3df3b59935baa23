"""Give the staff roles the permissions of the rate, subsidy and account-mapping models."""

from django.db import migrations

from chargeback.roles import roles_sync


def forwards(apps, schema_editor):
    roles_sync(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_account_mappings_rates_subsidies"), ("chargeback", "0002_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
