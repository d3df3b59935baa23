"""Built-in sources still on their first, unanchored pattern get the anchored one.

`*storage*` also matched `it_storage_2025-01.csv`; `storage-* storage_*` matches only names that
start with the source. A pattern someone changed is left as it is.
"""

from django.db import migrations, models

# (source, pattern seeded by 0002 before this migration, anchored pattern)
PATTERNS = [
    ("aws", "*aws*", "aws-* aws_*"),
    ("azure", "*azure*", "azure-* azure_*"),
    ("gcp", "*gcp*", "gcp-* gcp_*"),
    ("hpc", "*hpc*", "hpc-* hpc_*"),
    ("storage", "*storage*", "storage-* storage_*"),
]


def anchor(apps, schema_editor):
    Source = apps.get_model("billing", "Source")
    for name, old, new in PATTERNS:
        Source.objects.filter(name=name, file_pattern=old).update(file_pattern=new)


def unanchor(apps, schema_editor):
    Source = apps.get_model("billing", "Source")
    for name, old, new in PATTERNS:
        Source.objects.filter(name=name, file_pattern=new).update(file_pattern=old)


class Migration(migrations.Migration):
    dependencies = [("billing", "0010_charge_fund_org_and_amount_indexes")]
    operations = [
        migrations.AlterField(
            model_name="source",
            name="file_pattern",
            field=models.CharField(
                blank=True,
                help_text="Shell-style file name patterns for auto-detection, separated by spaces, e.g. aws-* aws_*. "
                "A file name matching two sources' patterns is refused, so anchor them at the start of the name",
                max_length=200,
            ),
        ),
        migrations.RunPython(anchor, unanchor),
    ]
