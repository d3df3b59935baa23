"""Source detection never guesses: anchored built-in patterns, and two matching sources are refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from billing.models import ImportBatch, Source
from tests.conftest import make_staff, minimal_row

pytestmark = pytest.mark.django_db


def test_a_file_named_after_another_thing_no_longer_falls_to_storage(run, focus_files):
    storage = focus_files.write("storage-2025-01.csv", [minimal_row("10", resource=f"vol-{i}") for i in range(15)])
    assert run("ingest", str(storage)).code == 0
    batch = ImportBatch.objects.get()
    assert batch.source.name == "storage"

    result = run("ingest", str(focus_files.write("it_storage_2025-01.csv", [minimal_row("1")])))
    assert (result.code, result.err) == (
        1, "cannot tell the source from the file name 'it_storage_2025-01.csv'; give --source"
    )  # fmt: skip
    assert list(ImportBatch.objects.values_list("pk", "status")) == [(batch.pk, "applied")]


@pytest.mark.parametrize(
    "name, source",
    [("AWS-2025-01.csv.gz", "aws"), ("azure_export_2025-01.csv", "azure"), ("hpc-usage-2025-01.csv", "hpc"),
     ("gcp_billing_202501.csv", "gcp")],
)  # fmt: skip
def test_the_built_in_patterns_match_names_that_start_with_the_source(run, focus_files, name, source):
    path = focus_files.write(name, [minimal_row("1")], gz=name.endswith(".gz"))
    result = run("ingest", str(path), "--dry-run", "--format", "json")
    assert result.code == 0, result.err
    assert result.json()["source"] == source


def test_a_name_two_sources_match_is_refused_with_both_names(run, focus_files):
    assert run("sources", "add", "s3", "--pattern", "aws-s3-*").code == 0
    path = focus_files.write("aws-s3-2025-01.csv", [minimal_row("1")])
    result = run("ingest", str(path))
    assert (result.code, result.err) == (
        1, "the file name 'aws-s3-2025-01.csv' matches the patterns of sources aws and s3; give --source"
    )  # fmt: skip
    assert not ImportBatch.objects.exists()
    assert run("ingest", str(path), "--source", "s3").code == 0
    assert ImportBatch.objects.get().source.name == "s3"


def test_the_admin_refuses_the_same_name_and_asks_to_choose_the_source(run, focus_files):
    assert run("sources", "add", "s3", "--pattern", "aws-s3-*").code == 0
    client = Client()
    client.force_login(make_staff("finance@example.edu", "Finance admin"))
    path = focus_files.write("aws-s3-2025-01.csv", [minimal_row("1")])
    with path.open("rb") as fh:
        response = client.post(reverse("admin:billing_importbatch_import"), {"files": [fh], "source": "", "period": ""})
    assert response.context["error"] == (
        "the file name 'aws-s3-2025-01.csv' matches the patterns of sources aws and s3; choose the source"
    )
    assert response.context["staged"] is not None  # the files are kept for the choice
    assert not ImportBatch.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_anchors_built_in_patterns_still_on_their_old_default() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("billing", "0008_import_file_role")])
    old_apps: Any = executor.loader.project_state([("billing", "0008_import_file_role")]).apps
    old_source = old_apps.get_model("billing", "Source")
    # (A transactional test before this one may have emptied the seeded sources: make them.)
    old_source.objects.update_or_create(name="storage", defaults={"file_pattern": "*storage*"})
    old_source.objects.update_or_create(name="aws", defaults={"file_pattern": "*aws*"})
    old_source.objects.update_or_create(name="hpc", defaults={"file_pattern": "cluster-*.csv"})  # someone's own
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    patterns = dict(Source.objects.values_list("name", "file_pattern"))
    assert patterns["storage"] == "storage-* storage_*"
    assert patterns["aws"] == "aws-* aws_*"
    assert patterns["hpc"] == "cluster-*.csv"
