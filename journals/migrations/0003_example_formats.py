"""Two ready-made template formats to copy from: a generic GL CSV and a Banner-style journal voucher."""

from django.db import migrations

EXAMPLES = [
    {
        "name": "generic-gl-csv",
        "kind": "template",
        "description": "Example: a generic GL upload, one signed amount column per side",
        "header_template": "date,fund,orgn,account,debit,credit,description,reference_id",
        "row_template": (
            "{{ date }},{{ fund }},{{ orgn }},{{ account }},{{ debit }},{{ credit }},{{ description }},"
            "{{ reference_id }}"
        ),
    },
    {
        "name": "banner",
        "kind": "template",
        "description": "Example: Banner-style journal voucher (FOAPAL, positive amount with a D/C indicator)",
        "account_code_regex": r"^[0-9A-Z]{4,6}$",
        "date_format": "%d-%b-%Y",
        "max_description_length": 35,
        "header_template": "SEQ,DOC_REF,TRANS_DATE,RUCL,FUND,ORGN,ACCT,PROG,ACTV,LOCN,AMOUNT,DR_CR,DESCRIPTION",
        "row_template": (
            "{{ line_number }},{{ journal_number }},{{ date }},JE16,{{ fund }},{{ orgn }},{{ account }},"
            "{{ program }},{{ activity }},{{ location }},{{ amount_abs }},{{ dc }},{{ description }}"
        ),
    },
]


def forwards(apps, schema_editor):
    JournalFormat = apps.get_model("journals", "JournalFormat")
    for example in EXAMPLES:
        values = dict(example)
        JournalFormat.objects.using(schema_editor.connection.alias).get_or_create(
            name=values.pop("name"), defaults=values
        )


def backwards(apps, schema_editor):
    JournalFormat = apps.get_model("journals", "JournalFormat")
    JournalFormat.objects.using(schema_editor.connection.alias).filter(
        name__in=[e["name"] for e in EXAMPLES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("journals", "0002_journal_exports")]
    operations = [migrations.RunPython(forwards, backwards)]
