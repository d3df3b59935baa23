"""The rules and sources a new installation starts with (seeded by a migration, editable in the admin)."""

from __future__ import annotations

from typing import Any

DEFAULT_TAG_KEYS = [
    ("pi_email", "pi_email"),
    ("project_id", "project_id"),
    ("fund_org", "fund_org"),
    ("cost_center", "cost_center"),
    ("account_code", "account_code"),
    ("reference_1", "reference_1"),
    ("reference_2", "reference_2"),
]


# Anchored at the start of the file name, so `it_storage_2025-01.csv` is nobody's guess.
DEFAULT_SOURCES = [
    ("aws", "Amazon Web Services", "aws-* aws_*"),
    ("azure", "Microsoft Azure", "azure-* azure_*"),
    ("gcp", "Google Cloud", "gcp-* gcp_*"),
    ("hpc", "HPC cluster", "hpc-* hpc_*"),
    ("storage", "Research storage", "storage-* storage_*"),
]


def defaults_seed(apps: Any) -> None:
    TagMapping = apps.get_model("billing", "TagMapping")
    for field, key in DEFAULT_TAG_KEYS:
        TagMapping.objects.get_or_create(field=field, tag_key=key)
    Source = apps.get_model("billing", "Source")
    for name, display, pattern in DEFAULT_SOURCES:
        Source.objects.get_or_create(name=name, defaults={"display_name": display, "file_pattern": pattern})
