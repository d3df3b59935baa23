"""The three staff roles as Django groups (the role table is `chargeback.roles`)."""

from django.db import migrations

from chargeback.roles import ROLES, roles_sync


def forwards(apps, schema_editor):
    roles_sync(apps, schema_editor.connection.alias)


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("chargeback", "0001_initial"),
        ("billing", "0002_default_rules"),
        ("journals", "0001_initial"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
