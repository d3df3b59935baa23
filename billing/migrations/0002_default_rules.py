from django.db import migrations

from billing.defaults import defaults_seed


def seed(apps, schema_editor):
    defaults_seed(apps)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
