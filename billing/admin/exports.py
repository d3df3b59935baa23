"""Spreadsheet exports of a filtered changelist: a filter the list does not know is a 400."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import BadRequest
from django.http import HttpRequest


class FilteredExportMixin:
    """The export takes the changelist's filters from the query string (django-import-export);
    an unknown or malformed one (`?format=0`) is the client's mistake, not a server error."""

    def get_export_queryset(self, request: HttpRequest) -> Any:
        try:
            return super().get_export_queryset(request)  # type: ignore[misc]
        except IncorrectLookupParameters as exc:
            raise BadRequest(f"This list has no such filter: {exc}") from None
