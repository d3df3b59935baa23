"""Import batches: the import history, the upload → preview → confirm page, roll back and downloads.

Every import view and action needs `billing.import_charges`; downloading a stored original needs
view permission on import batches. The views only call services (`batch_ingest`,
`batch_rollback`, the upload staging), exactly as the CLI does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.defaultfilters import filesizeformat, pluralize
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from billing.ingest.reader import IngestError
from billing.models import PERIOD_RE, ImportBatch, ImportFile, Source
from billing.reasons import reason_words
from billing.services.batches import (
    StagedUpload,
    batch_rollback,
    batch_rollback_refusal,
    upload_discard,
    upload_open,
    upload_stage,
    upload_token_valid,
    uploads_sweep,
)
from billing.services.convert import KINDS, convert_and_ingest
from billing.services.ingest import IngestReport, batch_ingest
from chargeback.admin_base import ReadOnlyAdmin, ReadOnlyInline
from chargeback.audit import Actor
from chargeback.errors import BillingError, ChoiceNeeded, DomainError
from chargeback.formatting import json_table, money, money_html

from .invoices import mark_final

IMPORT_PERMISSION = "billing.import_charges"
TEMPLATES = "admin/billing/importbatch"


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user, source_ip=request.META.get("REMOTE_ADDR"))


def _web(exc: DomainError) -> str:
    """The refusal in the admin's words ("choose the source" where the command line says "give --source")."""
    return exc.web if isinstance(exc, ChoiceNeeded) else str(exc)


def _currency(currencies: list[str]) -> str:
    # Several currencies are never summed under one code; the amounts then show without one.
    return currencies[0] if len(currencies) == 1 else ""


def _import(
    request: HttpRequest, staged: StagedUpload, *, kind: str, source: str | None, month: str | None, dry_run: bool,
    replace: bool = False,
) -> IngestReport:  # fmt: skip
    """The staged files imported (or previewed): FOCUS as they are, usage files converted first."""
    if not kind:
        return batch_ingest(
            paths=staged.paths, source_name=source, month=month, actor=_actor(request), dry_run=dry_run,
            display_names=staged.names, replace=replace,
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="openchargeback-convert-") as folder:
        _, report = convert_and_ingest(
            kind=kind, paths=staged.paths, month=month, source_name=source, actor=_actor(request),
            folder=Path(folder), dry_run=dry_run, display_names=staged.names, replace=replace,
        )  # fmt: skip
    return report


# Forms ------------------------------------------------------------------------------------------


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        items = data if isinstance(data, list | tuple) else [data] if data else []
        if not items and self.required:
            raise ValidationError(self.error_messages["required"], code="required")
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


class TargetForm(forms.Form):
    """Source and period: blank means detect (source from the first file name, period from names or rows)."""

    source = forms.ChoiceField(required=False, help_text="Blank: detected from the first file name.")
    period = forms.CharField(
        required=False,
        max_length=7,
        help_text="YYYY-MM. Blank: detected from the file names, else the first data row.",
        widget=forms.TextInput(attrs={"placeholder": "YYYY-MM", "size": 8, "inputmode": "numeric"}),
    )

    kind = forms.ChoiceField(
        required=False,
        label="File kind",
        choices=[("", "FOCUS CSV"), *KINDS.items()],
        help_text="Slurm sacct output or a storage usage report is converted to FOCUS (priced with the rates "
        "and subsidies) first. Source blank: hpc for Slurm, storage for storage usage.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sources = list(Source.objects.filter(enabled=True))
        choices = [("", "Detect from the file name")] + [(s.name, f"{s.name} — {s}") for s in self.sources]
        self.fields["source"].choices = choices  # type: ignore[attr-defined]

    def clean_period(self) -> str:
        value: str = self.cleaned_data["period"].strip()
        if value and not PERIOD_RE.match(value):
            raise ValidationError("Use YYYY-MM, for example 2025-01.")
        return value


class UploadForm(TargetForm):
    field_order = ["files", "source", "period", "kind"]
    # Named like Form.files (the request's uploads) on purpose: the field is those uploads, and
    # the declarative metaclass keeps it out of the instance's attributes.
    files = MultipleFileField(  # type: ignore[assignment]
        help_text="FOCUS CSV files (.csv or .csv.gz); several files form one batch."
    )

    def clean_files(self) -> list[UploadedFile]:
        files: list[UploadedFile] = self.cleaned_data["files"]
        total = sum(f.size or 0 for f in files)
        if total > settings.OPENCHARGEBACK_MAX_UPLOAD_BYTES:
            raise ValidationError(upload_too_large_message(total))
        return files


def upload_too_large_message(size: int) -> str:
    limit = settings.OPENCHARGEBACK_MAX_UPLOAD_BYTES
    return (
        f"These files are {filesizeformat(size)} together, over the upload limit of {filesizeformat(limit)}. "
        "Upload them gzip-compressed (.csv.gz), in several batches, or import them with 'openchargeback ingest'."
    )


class RollbackForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded in the audit trail.",
    )


# The admin --------------------------------------------------------------------------------------


class ImportFileInline(ReadOnlyInline):
    model = ImportFile
    fields = ("name", "role", "sha256", "size", "rows", "download")
    readonly_fields = fields

    @admin.display(description="Original")
    def download(self, obj: ImportFile) -> str:
        url = reverse("admin:billing_importbatch_file", args=[obj.pk])
        return format_html('<a href="{}">Download</a>', url)


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    # Narrow enough for 1366 px with the side menu open (the list total is on each batch's page).
    list_display = [
        "id", "source", "period", "status", "final", "file_links", "rows", "billed_amount", "flagged", "imported",
    ]  # fmt: skip
    list_display_links = ["id"]
    list_filter = ["status", "source", "period"]
    # The batch's page: amounts to the cent with their currency (exact on hover), JSON in words.
    fields = (
        "source", "period", "status", "supersedes", "content_sha256", "focus_version", "row_count", "list_shown",
        "billed_shown", "flagged_rows", "flagged_shown", "currency_list", "periods_table", "flag_table",
        "warning_list", "actor", "user", "created_at",
    )  # fmt: skip
    readonly_fields = fields
    list_select_related = ["source", "period"]
    inlines = [ImportFileInline]
    actions = [mark_final]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportBatch]:
        return super().get_queryset(request).prefetch_related("files")

    # Columns

    @admin.display(description="Files")
    def file_links(self, obj: ImportBatch) -> str:
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308
            '<a href="{}">{}</a>{}',
            (
                (
                    reverse("admin:billing_importbatch_file", args=[f.pk]),
                    f.name,
                    " (usage, converted)" if f.role == ImportFile.Role.USAGE else "",
                )
                for f in obj.files.all()
            ),  # fmt: skip
        )

    @admin.display(description="Rows", ordering="row_count")
    def rows(self, obj: ImportBatch) -> int:
        return obj.row_count

    @admin.display(description="Billed total", ordering="billed_total")
    def billed_amount(self, obj: ImportBatch) -> str:
        return money(obj.billed_total, _currency(obj.currencies))

    @admin.display(description="List total")
    def list_shown(self, obj: ImportBatch) -> str:
        return money_html(obj.list_total, _currency(obj.currencies))

    @admin.display(description="Billed total")
    def billed_shown(self, obj: ImportBatch) -> str:
        return money_html(obj.billed_total, _currency(obj.currencies))

    @admin.display(description="Flagged cost")
    def flagged_shown(self, obj: ImportBatch) -> str:
        return money_html(obj.flagged_cost, _currency(obj.currencies))

    @admin.display(description="Currencies")
    def currency_list(self, obj: ImportBatch) -> str:
        return ", ".join(obj.currencies) or "-"

    @admin.display(description="Rows per period in the files")
    def periods_table(self, obj: ImportBatch) -> str:
        return json_table(obj.periods_seen)

    @admin.display(description="Rows per flag reason")
    def flag_table(self, obj: ImportBatch) -> str:
        return json_table({reason_words(k): v for k, v in (obj.flag_counts or {}).items()})

    @admin.display(description="Warnings")
    def warning_list(self, obj: ImportBatch) -> str:
        return format_html_join(mark_safe("<br>"), "{}", ((str(w),) for w in obj.warnings or [])) or "-"  # noqa: S308

    @admin.display(description="Imported", ordering="created_at")
    def imported(self, obj: ImportBatch) -> str:
        return format_html('{}<br><span class="oc-quiet">{}</span>', f"{obj.created_at:%Y-%m-%d %H:%M}", obj.actor)

    @admin.display(description="Flagged", ordering="flagged_rows")
    def flagged(self, obj: ImportBatch) -> str:
        if not obj.flagged_rows:
            return "0"
        return f"{obj.flagged_rows} ({money(obj.flagged_cost, _currency(obj.currencies))})"

    # Pages

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        custom = [
            path("import/", wrap(self.import_view), name="billing_importbatch_import"),
            path("import/confirm/", wrap(self.confirm_view), name="billing_importbatch_import_confirm"),
            path("file/<int:file_id>/", wrap(self.download_view), name="billing_importbatch_file"),
            path("<path:object_id>/rollback/", wrap(self.rollback_view), name="billing_importbatch_rollback"),
        ]
        return custom + super().get_urls()

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def _require_import_permission(self, request: HttpRequest) -> None:
        if not self.has_import_permission(request):
            raise PermissionDenied

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"can_import": self.has_import_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = dict(extra_context or {})
        batch = self.get_object(request, unquote(object_id))
        if batch is not None and self.has_import_permission(request):
            refusal = batch_rollback_refusal(batch)
            context["rollback_url"] = (
                None if refusal else reverse("admin:billing_importbatch_rollback", args=[batch.pk])
            )
            context["replace_url"] = None if refusal else self._import_url(batch.source.name, batch.period.period)
        return super().change_view(request, object_id, form_url, extra_context=context)

    @staticmethod
    def _import_url(source: str = "", month: str = "") -> str:
        url = reverse("admin:billing_importbatch_import")
        query = {k: v for k, v in (("source", source), ("period", month)) if v}
        return f"{url}?{urlencode(query)}" if query else url

    def _context(self, request: HttpRequest, title: str, **more: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "has_view_permission": self.has_view_permission(request),
            **more,
        }

    def _render_form(
        self,
        request: HttpRequest,
        form: TargetForm,
        *,
        staged: StagedUpload | None = None,
        error: str = "",
    ) -> TemplateResponse:
        sources = [{"name": s.name, "pattern": s.file_pattern} for s in form.sources if s.file_pattern]
        context = self._context(
            request, "Import files", form=form, staged=staged, error=error, source_patterns=sources,
            confirm_url=reverse("admin:billing_importbatch_import_confirm"),
        )  # fmt: skip
        return TemplateResponse(request, f"{TEMPLATES}/import_form.html", context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Step 1 (choose files, source, period) and step 2 (the dry-run preview)."""
        self._require_import_permission(request)
        uploads_sweep()
        if request.method != "POST":
            initial = {"source": request.GET.get("source", ""), "period": request.GET.get("period", "")}
            # Sent here by UploadLimitMiddleware, which refused an upload before reading it.
            too_large = request.GET.get("too_large", "")
            error = upload_too_large_message(int(too_large)) if too_large.isdigit() else ""
            return self._render_form(request, UploadForm(initial=initial), error=error)
        token = request.POST.get("token")
        if token is None:
            form: TargetForm = UploadForm(request.POST, request.FILES)
            if not form.is_valid():
                return self._render_form(request, form)
            staged = upload_stage(files=form.cleaned_data["files"], user_id=request.user.pk)
        else:
            # The staged files again, with another source or period.
            staged_or_response = self._staged(request, token)
            if isinstance(staged_or_response, HttpResponse):
                return staged_or_response
            staged = staged_or_response
            form = TargetForm(request.POST)
            if not form.is_valid():
                return self._render_form(request, form, staged=staged)
        return self._preview(request, staged, form)

    def _staged(self, request: HttpRequest, token: str) -> StagedUpload | HttpResponse:
        if not upload_token_valid(token):
            return HttpResponseBadRequest("invalid upload token")
        try:
            return upload_open(token=token, user_id=request.user.pk)
        except BillingError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:billing_importbatch_import"))

    def _preview(self, request: HttpRequest, staged: StagedUpload, form: TargetForm) -> TemplateResponse:
        # Fields the page's script filled in from the file name (the person did not choose them).
        guessed = {k for k in request.POST.get("detected", "").split(",") if k in ("source", "period")}
        kind = form.cleaned_data["kind"]
        try:
            report = _import(
                request, staged, kind=kind, source=form.cleaned_data["source"] or None,
                month=form.cleaned_data["period"] or None, dry_run=True,
            )  # fmt: skip
        except IngestError as exc:
            # The file itself is bad: nothing to keep.
            upload_discard(staged.token)
            # The files must be chosen again, so a guess from the old names must not stick.
            fresh = UploadForm(
                initial={k: form.cleaned_data[k] for k in ("source", "period", "kind") if k not in guessed}
            )
            return self._render_form(request, fresh, error=str(exc))
        except BillingError as exc:
            # The files read fine so far; the source or period is refused: keep them, ask again.
            retry = TargetForm(initial={k: form.cleaned_data[k] for k in ("source", "period", "kind")})
            return self._render_form(request, retry, staged=staged, error=_web(exc))
        if report.status == "already_imported":
            upload_discard(staged.token)
        replaces = report.replaces if report.status == "dry_run" else None
        if replaces:
            replaces = {**replaces, "billed": money(replaces["billed_cost"], _currency(report.currencies))}
        context = self._context(
            request, "Import files: preview", report=report, staged=staged, replaces=replaces,
            files=list(zip(staged.names, staged.sizes, strict=True)),
            summary=self._summary(report), flag_counts=sorted(report.flag_counts.items()),
            retry_form=TargetForm(initial={"source": report.source, "period": report.period, "kind": kind}),
            kind=kind,
            confirm_url=reverse("admin:billing_importbatch_import_confirm"),
            detected={k: not form.cleaned_data[k] or k in guessed for k in ("source", "period")},
        )  # fmt: skip
        return TemplateResponse(request, f"{TEMPLATES}/import_preview.html", context)

    @staticmethod
    def _summary(report: IngestReport) -> dict[str, str]:
        currency = _currency(report.currencies)
        return {
            "list_total": money(report.list_total, currency),
            "billed_total": money(report.billed_total, currency),
            "flagged_cost": money(report.flagged_cost, currency),
        }

    def confirm_view(self, request: HttpRequest) -> HttpResponse:
        """Step 3: import the staged files for real (or cancel), then show the batch."""
        self._require_import_permission(request)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        staged_or_response = self._staged(request, request.POST.get("token", ""))
        if isinstance(staged_or_response, HttpResponse):
            return staged_or_response
        staged = staged_or_response
        if "cancel" in request.POST:
            upload_discard(staged.token)
            self.message_user(request, "Import cancelled; nothing was written.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:billing_importbatch_changelist"))
        form = TargetForm(request.POST)
        if not form.is_valid() or not form.cleaned_data["source"] or not form.cleaned_data["period"]:
            return self._render_form(request, form, staged=staged, error="Choose the source and the period.")
        try:
            report = _import(
                request, staged, kind=form.cleaned_data["kind"], source=form.cleaned_data["source"],
                month=form.cleaned_data["period"], dry_run=False, replace=request.POST.get("replace") == "on",
            )  # fmt: skip
        except DomainError as exc:
            # Something changed since the preview (a period closed, say); the files stay staged.
            return self._render_form(request, form, staged=staged, error=f"Nothing was imported: {_web(exc)}")
        upload_discard(staged.token)
        if report.status == "already_imported":
            self.message_user(
                request, f"These files were already imported as batch {report.batch_id}; nothing changed.",
                messages.WARNING,
            )  # fmt: skip
        else:
            summary = self._summary(report)
            text = (
                f"Imported batch {report.batch_id}: {report.rows} rows, billed {summary['billed_total']}, "
                f"{report.flagged_rows} flagged ({summary['flagged_cost']})."
            )
            if report.replaced_batch_id:
                text += f" It replaces batch {report.replaced_batch_id}"
                text += f" ({report.carried_decisions} review decisions carried over)."
            self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:billing_importbatch_change", args=[report.batch_id]))

    def rollback_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A confirmation page that takes a reason; the rollback itself happens on POST only."""
        self._require_import_permission(request)
        batch = self.get_object(request, unquote(object_id))
        if batch is None:
            raise Http404(f"import batch {object_id!r} does not exist")
        form = RollbackForm(request.POST if request.method == "POST" else None)
        error = ""
        if request.method == "POST" and form.is_valid():
            try:
                batch_rollback(batch_id=batch.pk, actor=_actor(request), reason=form.cleaned_data["reason"])
            except BillingError as exc:
                error = str(exc)
            else:
                charges = f"{batch.row_count} charge{pluralize(batch.row_count)}"
                message = f"Batch {batch.pk} rolled back: its {charges} no longer count."
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:billing_importbatch_change", args=[batch.pk]))
        context = self._context(
            request, f"Roll back batch {batch.pk}", batch=batch, form=form, error=error,
            refusal=batch_rollback_refusal(batch), object=batch,
            billed=money(batch.billed_total, _currency(batch.currencies)),
        )  # fmt: skip
        return TemplateResponse(request, f"{TEMPLATES}/rollback.html", context)

    def download_view(self, request: HttpRequest, file_id: int) -> FileResponse:
        """The stored original of an import, as received."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        import_file = ImportFile.objects.filter(pk=file_id).first()
        if import_file is None:
            raise Http404("no such import file")
        try:
            handle = import_file.stored.open("rb")
        except FileNotFoundError:
            raise Http404("the stored file is missing") from None
        return FileResponse(handle, as_attachment=True, filename=import_file.name)
