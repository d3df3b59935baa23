"""The admin's import page (upload → preview → confirm), the import history, roll back and downloads."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.test import Client
from django.urls import reverse

from billing.admin import imports as imports_admin
from billing.models import BillingPeriod, Charge, ImportBatch
from billing.services.batches import batch_rollback, uploads_root
from billing.services.ingest import batch_ingest
from billing.services.periods import period_close
from chargeback.audit import Actor
from chargeback.errors import BillingError
from chargeback.models import AuditEvent
from tests.conftest import FocusFiles, give_authenticator, minimal_row, tags

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:billing_importbatch_import"
CONFIRM_URL = "admin:billing_importbatch_import_confirm"


def staff(username: str, group: str | None) -> User:
    user = User.objects.create_user(username=username, email=f"{username}@example.edu", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    if group == "Finance admin":
        give_authenticator(user)  # the role reaches the admin only with one
    return user


@pytest.fixture
def finance_admin() -> User:
    return staff("finance", "Finance admin")


@pytest.fixture
def reviewer() -> User:
    return staff("reviewer", "Reviewer")


@pytest.fixture
def viewer() -> User:
    return staff("viewer", "Viewer")


@pytest.fixture
def finance(client: Client, finance_admin: User) -> Client:
    client.force_login(finance_admin)
    return client


def upload(client: Client, *paths: Path, source: str = "", period: str = "") -> Any:
    handles = [p.open("rb") for p in paths]
    try:
        return client.post(reverse(IMPORT_URL), {"files": handles, "source": source, "period": period})
    finally:
        for handle in handles:
            handle.close()


def confirm(client: Client, response: Any, **extra: str) -> Any:
    report = response.context["report"]
    data = {"token": response.context["staged"].token, "source": report.source, "period": report.period, **extra}
    return client.post(reverse(CONFIRM_URL), data)


def staged_folders() -> list[Path]:
    root = uploads_root()
    return sorted(root.iterdir()) if root.exists() else []


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def imported(path: Path, source: str = "hpc") -> ImportBatch:
    report = batch_ingest(paths=[path], source_name=source, actor=Actor.cli(), replace=True)
    assert report.batch_id is not None
    return ImportBatch.objects.get(pk=report.batch_id)


class TestTheImportPage:
    def test_a_finance_admin_sees_the_form_with_the_sources_and_a_drop_zone(self, finance):
        response = finance.get(reverse(IMPORT_URL))
        assert response.status_code == 200
        html = response.content.decode()
        assert 'type="file"' in html and "multiple" in html
        assert "data-dropzone" in html
        assert "chargeback/import.js" in html and "chargeback/import.css" in html
        assert '<option value="hpc">' in html
        assert '"pattern": "hpc-* hpc_*"' in html  # for the JS guess

    def test_the_changelist_has_an_import_files_button(self, finance):
        response = finance.get(reverse("admin:billing_importbatch_changelist"))
        assert reverse(IMPORT_URL) in response.content.decode()
        assert "Import files" in response.content.decode()

    def test_replace_prefills_the_source_and_period(self, finance):
        response = finance.get(reverse(IMPORT_URL), {"source": "aws", "period": "2025-01"})
        form = response.context["form"]
        assert form["source"].value() == "aws"
        assert form["period"].value() == "2025-01"


class TestUploadPreviewConfirm:
    def test_one_file_previews_its_numbers_and_writes_nothing(self, finance, focus_files: FocusFiles):
        path = focus_files.write(
            "hpc-2025-01.csv",
            [minimal_row("10.005", listed="20"), minimal_row("2.50", tag_json=tags(pi=None))],
        )
        response = upload(finance, path)
        assert response.status_code == 200
        assert response.templates[0].name == "admin/billing/importbatch/import_preview.html"
        report = response.context["report"]
        assert (report.status, report.source, report.period, report.rows) == ("dry_run", "hpc", "2025-01", 2)
        assert report.billed_total == Decimal("12.505")
        html = response.content.decode()
        assert "22.50 USD" in html  # list total
        assert "12.51 USD" in html  # billed total, rounded for display only
        assert "1 row, 2.50 USD" in html  # flagged
        assert "missing_pi" in html
        assert "2025-01 (2 rows)" in html
        assert not ImportBatch.objects.exists() and not Charge.objects.exists()
        assert len(staged_folders()) == 1

    def test_confirm_creates_one_batch_removes_the_staging_and_links_to_it(
        self, finance, finance_admin, focus_files: FocusFiles
    ):
        path = focus_files.write("hpc-2025-01.csv", [minimal_row("10"), minimal_row("2.50")])
        response = confirm(finance, upload(finance, path))
        batch = ImportBatch.objects.get()
        assert response.status_code == 302
        assert response.url == reverse("admin:billing_importbatch_change", args=[batch.pk])
        assert f"Imported batch {batch.pk}: 2 rows, billed 12.50 USD" in messages_of(response)[0]
        assert (batch.status, batch.row_count, batch.billed_total) == ("applied", 2, Decimal("12.50"))
        assert batch.actor == "finance@example.edu" and batch.user == finance_admin
        event = AuditEvent.objects.get(action="batch.import")
        assert event.source_ip == "127.0.0.1"
        assert staged_folders() == []
        assert finance.get(response.url).status_code == 200

    def test_two_files_preview_and_import_as_one_batch(self, finance, focus_files: FocusFiles):
        part1 = focus_files.write("aws-2025-01-part1.csv", [minimal_row("1.25"), minimal_row("2")])
        part2 = focus_files.write("aws-2025-01-part2.csv", [minimal_row("3", tag_json=tags(pi=None))])
        preview = upload(finance, part1, part2)
        report = preview.context["report"]
        assert report.files == ["aws-2025-01-part1.csv", "aws-2025-01-part2.csv"]
        assert (report.source, report.period, report.rows) == ("aws", "2025-01", 3)
        assert report.billed_total == Decimal("6.25")
        assert report.flag_counts == {"missing_pi": 1}
        html = preview.content.decode()
        assert "aws-2025-01-part1.csv" in html and "aws-2025-01-part2.csv" in html
        assert "6.25 USD" in html and "1 row, 3.00 USD" in html

        confirm(finance, preview)
        batch = ImportBatch.objects.get()
        assert [f.name for f in batch.files.all()] == ["aws-2025-01-part1.csv", "aws-2025-01-part2.csv"]
        assert [f.rows for f in batch.files.all()] == [2, 1]
        assert Charge.objects.filter(batch=batch).count() == 3
        assert staged_folders() == []

    def test_source_and_period_are_detected_from_the_file_names(self, finance, focus_files: FocusFiles):
        path = focus_files.write("storage_202502.csv", [minimal_row("4", period="2025-02")])
        response = upload(finance, path)
        assert (response.context["report"].source, response.context["report"].period) == ("storage", "2025-02")
        assert response.context["detected"] == {"source": True, "period": True}
        assert "(detected from the file name)" in response.content.decode()

    def test_without_a_period_in_the_name_it_comes_from_the_first_row(self, finance, focus_files: FocusFiles):
        path = focus_files.write("hpc-export.csv", [minimal_row("4", period="2025-03")])
        assert upload(finance, path).context["report"].period == "2025-03"

    def test_a_chosen_source_and_period_win_over_detection(self, finance, focus_files: FocusFiles):
        path = focus_files.write("hpc-2025-01.csv", [minimal_row("4", period="2025-02")])
        report = upload(finance, path, source="aws", period="2025-02").context["report"]
        assert (report.source, report.period) == ("aws", "2025-02")

    def test_a_bad_file_shows_file_line_and_column_and_nothing_is_written(self, finance, focus_files: FocusFiles):
        path = focus_files.write("hpc-2025-01.csv", [minimal_row("1"), minimal_row("abc")])
        response = upload(finance, path)
        assert response.status_code == 200
        assert response.templates[0].name == "admin/billing/importbatch/import_form.html"
        assert response.context["error"] == "hpc-2025-01.csv:3: column ListCost: 'abc' is not a number"
        assert "hpc-2025-01.csv:3: column ListCost: &#x27;abc&#x27; is not a number" in response.content.decode()
        assert 'type="file"' in response.content.decode()  # the form to try again
        assert not ImportBatch.objects.exists() and not Charge.objects.exists()
        assert staged_folders() == []

    def test_after_a_bad_file_guesses_from_its_name_are_dropped_and_choices_kept(
        self, finance, focus_files: FocusFiles
    ):
        path = focus_files.write("hpc-2025-01.csv", [minimal_row("x")])
        with path.open("rb") as fh:
            data = {"files": [fh], "source": "hpc", "period": "2025-01", "detected": "source"}
            form = finance.post(reverse(IMPORT_URL), data).context["form"]
        assert (form["source"].value(), form["period"].value()) == (None, "2025-01")

    def test_values_the_page_guessed_show_as_detected(self, finance, focus_files: FocusFiles):
        path = focus_files.write("hpc-2025-01.csv", [minimal_row("1")])
        with path.open("rb") as fh:
            data = {"files": [fh], "source": "hpc", "period": "2025-01", "detected": "source,period"}
            response = finance.post(reverse(IMPORT_URL), data)
        assert response.context["detected"] == {"source": True, "period": True}

    def test_an_undetectable_source_keeps_the_files_and_asks_for_it(self, finance, focus_files: FocusFiles):
        path = focus_files.write("export-2025-01.csv", [minimal_row("4")])
        response = upload(finance, path)
        assert "cannot tell the source from the file name 'export-2025-01.csv'" in response.context["error"]
        token = response.context["staged"].token
        again = finance.post(reverse(IMPORT_URL), {"token": token, "source": "hpc", "period": ""})
        assert again.context["report"].source == "hpc"
        confirm(finance, again)
        assert ImportBatch.objects.get().source.name == "hpc"

    def test_an_undetectable_period_is_asked_for_in_the_admin_s_words(self, finance, focus_files: FocusFiles):
        response = upload(finance, focus_files.write("hpc-usage.csv", []))  # no period in its name or rows
        error = response.context["error"]
        assert error == "cannot tell the billing period from the file names or contents; choose the period"
        assert "--period" not in response.content.decode()

    def test_a_closed_period_is_refused_in_the_preview(self, finance, focus_files: FocusFiles):
        imported(focus_files.write("hpc-2025-01.csv", [minimal_row("1")]))
        period_close(month="2025-01", actor=Actor.cli())
        response = upload(finance, focus_files.write("hpc-2025-01-v2.csv", [minimal_row("2")]))
        assert "period 2025-01 is closed; imports are refused" in response.context["error"]
        assert ImportBatch.objects.count() == 1

    def test_the_same_files_again_say_already_imported(self, finance, focus_files: FocusFiles):
        path = focus_files.write("hpc-2025-01.csv", [minimal_row("1")])
        batch = imported(path)
        response = upload(finance, path)
        assert response.context["report"].status == "already_imported"
        html = response.content.decode()
        assert f"batch {batch.pk}" in html and "Confirm import" not in html
        assert staged_folders() == []

    def test_confirming_twice_says_already_imported(self, finance, focus_files: FocusFiles):
        path = focus_files.write("hpc-2025-01.csv", [minimal_row("1")])
        first_preview, second_preview = upload(finance, path), upload(finance, path)  # e.g. two browser tabs
        first = confirm(finance, first_preview)
        batch = ImportBatch.objects.get()
        second = confirm(finance, second_preview)
        assert second.url == first.url
        assert messages_of(second)[-1] == f"These files were already imported as batch {batch.pk}; nothing changed."
        assert ImportBatch.objects.count() == 1

    def test_a_new_file_for_the_same_source_and_period_replaces_the_batch(self, finance, focus_files: FocusFiles):
        old = imported(focus_files.write("hpc-2025-01.csv", [minimal_row("1")]))
        preview = upload(finance, focus_files.write("hpc-2025-01-fixed.csv", [minimal_row("2")]))
        assert preview.context["replaces"]["batch_id"] == old.pk
        html = preview.content.decode()
        assert f"batch {old.pk}</a>" in html and "1 rows, billed 1.00 USD" in html
        assert "0 review decisions will carry over" in html and 'name="replace"' in html
        refused = confirm(finance, preview)  # the box not ticked: nothing is replaced
        assert refused.context["error"] == (
            f"Nothing was imported: source hpc already has batch {old.pk} for 2025-01 (1 rows, billed 1.00, "
            f"0 reviewed charges); tick “Replace batch {old.pk}” to replace it"
        )
        old.refresh_from_db()
        assert old.status == "applied" and ImportBatch.objects.count() == 1
        response = confirm(finance, preview, replace="on")
        assert f"It replaces batch {old.pk}" in messages_of(response)[0]
        old.refresh_from_db()
        assert old.status == "superseded"

    def test_cancel_discards_the_staged_files(self, finance, focus_files: FocusFiles):
        preview = upload(finance, focus_files.write("hpc-2025-01.csv", [minimal_row("1")]))
        response = confirm(finance, preview, cancel="Cancel")
        assert response.url == reverse("admin:billing_importbatch_changelist")
        assert staged_folders() == [] and not ImportBatch.objects.exists()

    def test_large_uploads_go_to_a_temporary_file_and_are_staged_in_chunks(
        self, finance, focus_files: FocusFiles, settings: Any, monkeypatch: pytest.MonkeyPatch
    ):
        settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
        path = focus_files.write("hpc-2025-01.csv", [minimal_row("1.5", resource=f"i-{n}") for n in range(500)])
        seen: list[type] = []
        real_stage = imports_admin.upload_stage

        def spy(*, files: list[Any], user_id: int | None) -> Any:
            seen.extend(type(f) for f in files)
            for f in files:
                whole_read = f.file.read

                def sized_read(size: int = -1, whole_read: Any = whole_read) -> bytes:
                    assert size > 0, "the whole upload was read at once"
                    return whole_read(size)

                monkeypatch.setattr(f.file, "read", sized_read)
            return real_stage(files=files, user_id=user_id)

        monkeypatch.setattr(imports_admin, "upload_stage", spy)
        response = upload(finance, path)
        assert seen == [TemporaryUploadedFile]
        assert response.context["report"].rows == 500
        (staged,) = response.context["staged"].paths
        assert staged.read_bytes() == path.read_bytes()

    def test_stale_staging_folders_are_swept(self, finance):
        old, fresh = uploads_root() / ("a" * 32), uploads_root() / ("b" * 32)
        for folder in (old, fresh):
            folder.mkdir(parents=True)
        two_days_ago = time.time() - 2 * 86400
        os.utime(old, (two_days_ago, two_days_ago))
        finance.get(reverse(IMPORT_URL))
        assert staged_folders() == [fresh]


class TestTokens:
    @pytest.mark.parametrize("token", ["../../etc", "A" * 32, "a" * 31, "a" * 32 + "/..", ""])
    def test_a_malformed_token_is_refused(self, finance, token):
        assert (
            finance.post(reverse(CONFIRM_URL), {"token": token, "source": "hpc", "period": "2025-01"}).status_code
            == 400
        )
        assert finance.post(reverse(IMPORT_URL), {"token": token, "source": "hpc"}).status_code == 400
        assert not ImportBatch.objects.exists()

    def test_an_unknown_token_is_refused_with_a_message(self, finance):
        response = finance.post(reverse(CONFIRM_URL), {"token": "0" * 32, "source": "hpc", "period": "2025-01"})
        assert response.status_code == 302 and response.url == reverse(IMPORT_URL)
        assert "no longer staged" in messages_of(response)[0]
        assert not ImportBatch.objects.exists()

    def test_another_users_upload_cannot_be_confirmed(self, client, finance, focus_files: FocusFiles):
        preview = upload(finance, focus_files.write("hpc-2025-01.csv", [minimal_row("1")]))
        client.force_login(staff("other", "Finance admin"))
        response = confirm(client, preview)
        assert response.status_code == 302 and not ImportBatch.objects.exists()

    def test_confirm_is_post_only(self, finance):
        assert finance.get(reverse(CONFIRM_URL)).status_code == 405


@pytest.fixture
def batch(focus_files: FocusFiles) -> ImportBatch:
    return imported(focus_files.write("hpc-2025-01.csv", [minimal_row("10"), minimal_row("5")]))


def rollback_url(batch: ImportBatch) -> str:
    return reverse("admin:billing_importbatch_rollback", args=[batch.pk])


class TestPermissions:
    @pytest.mark.parametrize("persona", ["reviewer", "viewer"])
    def test_reviewers_and_viewers_may_not_import_or_roll_back(self, client, request, persona, batch, focus_files):
        client.force_login(request.getfixturevalue(persona))
        path = focus_files.write("hpc-2025-02.csv", [minimal_row("1", period="2025-02")])
        assert client.get(reverse(IMPORT_URL)).status_code == 403
        with path.open("rb") as fh:
            assert client.post(reverse(IMPORT_URL), {"files": [fh]}).status_code == 403
        assert client.post(reverse(CONFIRM_URL), {"token": "0" * 32}).status_code == 403
        assert client.get(rollback_url(batch)).status_code == 403
        assert client.post(rollback_url(batch), {"reason": "oops"}).status_code == 403
        assert staged_folders() == []
        batch.refresh_from_db()
        assert batch.status == "applied"

    @pytest.mark.parametrize("persona", ["reviewer", "viewer"])
    def test_reviewers_and_viewers_see_the_history_without_import_buttons(self, client, request, persona, batch):
        client.force_login(request.getfixturevalue(persona))
        changelist = client.get(reverse("admin:billing_importbatch_changelist"))
        assert changelist.status_code == 200 and "Import files" not in changelist.content.decode()
        change = client.get(reverse("admin:billing_importbatch_change", args=[batch.pk]))
        assert change.status_code == 200
        assert rollback_url(batch) not in change.content.decode()

    def test_the_finance_admin_sees_roll_back_and_replace_on_the_batch(self, finance, batch):
        html = finance.get(reverse("admin:billing_importbatch_change", args=[batch.pk])).content.decode()
        assert rollback_url(batch) in html
        assert reverse(IMPORT_URL) + "?source=hpc&amp;period=2025-01" in html


class TestRollback:
    def test_the_confirmation_page_asks_for_a_reason_and_changes_nothing(self, finance, batch):
        response = finance.get(rollback_url(batch))
        assert response.status_code == 200
        assert 'name="reason"' in response.content.decode()
        batch.refresh_from_db()
        assert batch.status == "applied"

    def test_rolling_back_deactivates_the_charges_and_is_audited(self, finance, batch):
        response = finance.post(rollback_url(batch), {"reason": "wrong export from the cluster"})
        assert response.status_code == 302
        assert response.url == reverse("admin:billing_importbatch_change", args=[batch.pk])
        assert messages_of(response) == [f"Batch {batch.pk} rolled back: its 2 charges no longer count."]
        batch.refresh_from_db()
        assert batch.status == "rolled_back"
        assert not Charge.objects.filter(batch=batch, active=True).exists()
        event = AuditEvent.objects.get(action="batch.rollback")
        assert (event.actor, event.object_id, event.period) == ("finance@example.edu", str(batch.pk), "2025-01")
        assert event.after == {"status": "rolled_back", "reason": "wrong export from the cluster"}
        assert event.before == {"status": "applied", "active_charges": 2}
        assert event.source_ip == "127.0.0.1"

    def test_a_rolled_back_file_can_be_imported_again(self, finance, batch, focus_files: FocusFiles):
        finance.post(rollback_url(batch), {"reason": "redo"})
        preview = upload(finance, focus_files.root / "hpc-2025-01.csv")
        assert preview.context["report"].status == "dry_run"
        assert preview.context["replaces"] is None

    def test_a_reason_is_required(self, finance, batch):
        response = finance.post(rollback_url(batch), {"reason": "  "})
        assert response.status_code == 200
        batch.refresh_from_db()
        assert batch.status == "applied"

    def test_it_is_refused_for_a_closed_period(self, finance, batch):
        period_close(month="2025-01", actor=Actor.cli())
        page = finance.get(rollback_url(batch))
        assert "Period 2025-01 is closed" in page.content.decode()
        assert 'name="reason"' not in page.content.decode()
        response = finance.post(rollback_url(batch), {"reason": "too late"})
        assert "Period 2025-01 is closed" in response.content.decode()
        batch.refresh_from_db()
        assert batch.status == "applied"
        assert Charge.objects.filter(batch=batch, active=True).count() == 2
        assert not AuditEvent.objects.filter(action="batch.rollback").exists()
        assert (
            rollback_url(batch)
            not in finance.get(reverse("admin:billing_importbatch_change", args=[batch.pk])).content.decode()
        )

    def test_the_service_refuses_a_batch_that_is_not_applied(self, batch, focus_files: FocusFiles):
        imported(focus_files.write("hpc-2025-01-v2.csv", [minimal_row("7")]))
        with pytest.raises(BillingError, match=f"batch {batch.pk} is superseded; only an applied batch"):
            batch_rollback(batch_id=batch.pk, actor=Actor.cli(), reason="x")
        with pytest.raises(BillingError, match="batch 999999 does not exist"):
            batch_rollback(batch_id=999999, actor=Actor.cli(), reason="x")
        with pytest.raises(BillingError, match="needs a reason"):
            batch_rollback(batch_id=batch.pk, actor=Actor.cli(), reason="")

    def test_a_finalized_period_refuses_too(self, batch):
        BillingPeriod.objects.filter(period="2025-01").update(status="finalized")
        with pytest.raises(BillingError, match="period 2025-01 is finalized"):
            batch_rollback(batch_id=batch.pk, actor=Actor.cli(), reason="x")


class TestHistoryAndDownloads:
    def test_the_history_lists_source_period_files_totals_flags_and_actor(self, finance, focus_files: FocusFiles):
        confirm(finance, upload(finance, focus_files.write("hpc-2025-01.csv", [minimal_row("1234.5", listed="2000")])))
        batch = ImportBatch.objects.get()
        html = finance.get(reverse("admin:billing_importbatch_changelist")).content.decode()
        file_url = reverse("admin:billing_importbatch_file", args=[batch.files.get().pk])
        assert f'<a href="{file_url}">hpc-2025-01.csv</a>' in html
        assert "1,234.50 USD" in html  # billed; the list total is on the batch's own page
        assert "finance@example.edu" in html
        filtered = finance.get(reverse("admin:billing_importbatch_changelist"), {"status": "rolled_back"})
        assert file_url not in filtered.content.decode()

    def test_a_batch_page_shows_money_to_the_cent_and_flag_counts_in_words(self, finance, focus_files: FocusFiles):
        rows = [minimal_row("1234.5", listed="2000"), minimal_row("3.333", tag_json=tags(pi=None))]
        confirm(finance, upload(finance, focus_files.write("hpc-2025-01.csv", rows)))
        batch = ImportBatch.objects.get()
        html = finance.get(reverse("admin:billing_importbatch_change", args=[batch.pk])).content.decode()
        assert 'title="2003.333 USD">2,003.33 USD<' in html  # list total: to the cent, exact on hover
        assert '<tr><th scope="row">Missing PI</th><td>1</td></tr>' in html
        assert "2003.3330000000" not in html and "missing_pi" not in html

    def test_the_download_serves_the_stored_original(self, finance, focus_files: FocusFiles):
        path = focus_files.write("storage-2025-01.csv.gz", [minimal_row("3")], gz=True)
        confirm(finance, upload(finance, path))
        stored = ImportBatch.objects.get().files.get()
        response = finance.get(reverse("admin:billing_importbatch_file", args=[stored.pk]))
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == path.read_bytes()
        assert 'attachment; filename="storage-2025-01.csv.gz"' in response["Content-Disposition"]

    def test_viewers_may_download_and_staff_without_view_permission_may_not(self, client, viewer, batch):
        url = reverse("admin:billing_importbatch_file", args=[batch.files.get().pk])
        client.force_login(viewer)
        assert client.get(url).status_code == 200
        client.force_login(staff("nobody", None))
        assert client.get(url).status_code == 403
        client.logout()
        assert client.get(url).status_code == 302  # to the admin login

    def test_a_missing_file_is_a_404(self, finance, batch):
        assert finance.get(reverse("admin:billing_importbatch_file", args=[999999])).status_code == 404
        stored = batch.files.get()
        (Path(settings.MEDIA_ROOT) / stored.stored.name).unlink()
        assert finance.get(reverse("admin:billing_importbatch_file", args=[stored.pk])).status_code == 404
