"""What a killed import leaves behind is never trusted and does not pile up.

A stored original is reused only when its size and SHA-256 are the file's; staging folders of
imports that no longer run are removed when the next import starts and by the hourly sweep, as
are partial and orphan copies of originals.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from billing.ingest.reader import file_sha256
from billing.models import ImportFile
from tests.conftest import minimal_row

pytestmark = pytest.mark.django_db
DAY = 24 * 3600


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder (TMPDIR) for this test."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def staging_folder(temp_dir: Path, name: str, *, lock_file: bool = True, age: float = 0) -> Path:
    folder = temp_dir / f"ocb-import-{name}"
    folder.mkdir()
    if lock_file:
        (folder / ".lock").touch()
    (folder / "worker-003.sqlite").write_bytes(b"x" * 100_000)
    if age:
        then = time.time() - age
        os.utime(folder, (then, then))
    return folder


def aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_a_truncated_original_left_by_a_killed_import_is_stored_again_whole(run, focus_files):
    path = focus_files.write("aws-2025-01.csv", [minimal_row(str(n)) for n in range(1, 200)])
    sha, size = file_sha256(path)
    left_behind = Path(settings.MEDIA_ROOT) / "imports" / sha[:2] / sha / "aws-2025-01.csv"
    left_behind.parent.mkdir(parents=True)
    left_behind.write_bytes(path.read_bytes()[: size // 3])  # where the killed run stopped writing

    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")

    assert result.code == 0, result.err
    stored = ImportFile.objects.get()
    assert (stored.size, stored.sha256) == (size, sha)
    with default_storage.open(str(stored.stored.name), "rb") as fh:
        assert fh.read() == path.read_bytes()
    assert [p.name for p in left_behind.parent.iterdir()] == ["aws-2025-01.csv"]  # no partial copy either


def test_the_next_import_removes_staging_folders_of_imports_that_no_longer_run(run, focus_files, temp_dir):
    killed = staging_folder(temp_dir, "killed", age=60)
    very_old_unlocked = staging_folder(temp_dir, "old", lock_file=False, age=2 * DAY)
    running = staging_folder(temp_dir, "running", age=60)
    with (running / ".lock").open("r") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # an import in another process, still at work

        result = run("ingest", str(focus_files.write("aws-2025-01.csv", [minimal_row()])), "-s", "aws")

    assert result.code == 0, result.err
    assert not killed.exists() and not very_old_unlocked.exists()
    assert running.exists()
    assert sorted(p.name for p in temp_dir.iterdir()) == ["ocb-import-running"]  # its own folder is gone too


def test_the_hourly_sweep_removes_abandoned_staging_and_partial_or_orphan_originals(run, focus_files, temp_dir):
    from billing.tasks import sweep_imports

    assert settings.CELERY_BEAT_SCHEDULE["sweep-imports"]["task"] == "billing.tasks.sweep_imports"
    assert run("ingest", str(focus_files.write("aws-2025-01.csv", [minimal_row()])), "-s", "aws").code == 0
    imports = Path(settings.MEDIA_ROOT) / "imports"
    kept = aged(imports / ImportFile.objects.get().stored.name.removeprefix("imports/"), 2 * DAY)
    orphan = imports / "ab" / ("ab" + "0" * 62) / "aws-2025-02.csv"
    orphan.parent.mkdir(parents=True)
    partial = orphan.parent / ".aws-2025-02.csv.x1y2.part"
    partial.write_bytes(b"half")
    orphan.write_bytes(b"whole, but its import never committed")
    aged(partial, 2 * DAY)
    aged(orphan, 2 * DAY)
    recent_partial = orphan.parent / ".aws-2025-03.csv.a1b2.part"
    recent_partial.write_bytes(b"an import storing it right now")
    killed = staging_folder(temp_dir, "killed", age=3600)

    removed = sweep_imports.delay().get()

    assert removed == 3
    assert not killed.exists() and not partial.exists() and not orphan.exists()
    assert kept.exists() and recent_partial.exists()
