"""Give the role groups the permissions of the budget, dispute and notice models (reviewers resolve disputes)."""

from django.db import migrations

from chargeback.roles import roles_sync


def forwards(apps, schema_editor):
    roles_sync(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("statements", "0008_disputes_and_notices"), ("chargeback", "0004_organization_pis_set_budgets")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
