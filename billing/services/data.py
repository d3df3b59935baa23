"""Configuration as files: master data and rules out of and into the database.

Each kind of record goes through the admin's own django-import-export resource
(billing/resources.py): the same columns, the same validation (`full_clean`, the models' checks
such as overlapping rates) and, for an import, the same audit event (`<model>.import` with the
row counts). An import is all or nothing: every row is checked and saved inside one transaction,
and the first bad row refuses the whole file with one line naming its row and column. A dry run
does the same work and rolls it back. Rows are matched on their natural key (a source's name, a
PI's email, a rate's name and first day …); rows absent from a file are left as they are.

A folder (`data_import_all`) holds one `<kind>.csv` per kind and is applied in dependency order
(KINDS) in one transaction, so a project may name a PI that the same folder adds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from import_export import resources
from import_export.formats import base_formats
from import_export.results import Result, RowResult

from billing.resources import (
    AccountMappingResource,
    BudgetResource,
    FlagPatternResource,
    FundOrgPatternResource,
    FundResource,
    PIResource,
    ProjectFundingResource,
    ProjectResource,
    ProviderInvoiceResource,
    RateResource,
    SourceResource,
    SubsidyRuleResource,
    TagMappingResource,
)
from chargeback.audit import Actor, records_imported
from chargeback.errors import BillingError

# Every kind, in the order a folder is applied: what a row names must come first.
KINDS: dict[str, type[resources.ModelResource]] = {
    "sources": SourceResource,
    "pis": PIResource,
    "projects": ProjectResource,
    "funds": FundResource,
    "funding": ProjectFundingResource,
    "mappings": AccountMappingResource,
    "rates": RateResource,
    "subsidies": SubsidyRuleResource,
    "tag-mappings": TagMappingResource,
    "flag-patterns": FlagPatternResource,
    "fund-org-patterns": FundOrgPatternResource,
    "invoices": ProviderInvoiceResource,
    "budgets": BudgetResource,
}
FILE_FORMATS: dict[str, type[base_formats.TablibFormat]] = {
    "csv": base_formats.CSV,
    "xlsx": base_formats.XLSX,
    "json": base_formats.JSON,
}


@dataclass
class DataImportReport:
    """What an import did (or, in a dry run, would do) with one file."""

    kind: str
    file: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed(self) -> int:
        return self.created + self.updated


def kind_resource(kind: str) -> resources.ModelResource:
    if kind not in KINDS:
        raise BillingError(f"unknown kind {kind!r} (choose from {', '.join(KINDS)})")
    return KINDS[kind]()


def kind_columns(kind: str) -> list[str]:
    """The columns of a kind's file, in order (the first ones identify a row)."""
    resource = kind_resource(kind)
    return [field.column_name for field in resource.get_export_fields()]


# -- export ------------------------------------------------------------------------------------


def data_export(*, kind: str, file_format: str = "csv") -> bytes:
    """Every record of a kind as a CSV, XLSX or JSON file (formulae escaped)."""
    if file_format not in FILE_FORMATS:
        raise BillingError(f"unknown file format {file_format!r} (choose from {', '.join(FILE_FORMATS)})")
    dataset = kind_resource(kind).export()
    data = FILE_FORMATS[file_format]().export_data(dataset)
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def data_export_all(*, folder: Path) -> list[Path]:
    """The whole configuration as `<kind>.csv` files in a folder (created if need be)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BillingError(f"{folder}: cannot create the folder ({exc.strerror or exc})") from None
    written = []
    for kind in KINDS:
        path = folder / f"{kind}.csv"
        _write(path, data_export(kind=kind))
        written.append(path)
    return written


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise BillingError(f"{path}: cannot write ({exc.strerror or exc})") from None


# -- import ------------------------------------------------------------------------------------


def data_import(*, kind: str, path: Path, actor: Actor, dry_run: bool = False) -> DataImportReport:
    """Create and update the records of one file; all or nothing (see the module docstring)."""
    kind_resource(kind)
    with transaction.atomic():
        report = _import_file(kind, path, actor, dry_run)
        if dry_run:
            transaction.set_rollback(True)
    return report


def data_import_all(*, folder: Path, actor: Actor, dry_run: bool = False) -> list[DataImportReport]:
    """Apply a folder of `<kind>.csv` files in dependency order, in one transaction."""
    if not folder.is_dir():
        raise BillingError(f"{folder}: no such folder")
    unknown = sorted(p.name for p in folder.glob("*.csv") if p.stem not in KINDS)
    if unknown:
        raise BillingError(f"{folder}: {', '.join(unknown)} not a kind (expected {', '.join(KINDS)}, each .csv)")
    files = [(kind, folder / f"{kind}.csv") for kind in KINDS if (folder / f"{kind}.csv").is_file()]
    if not files:
        raise BillingError(f"{folder}: no configuration files (expected {', '.join(k + '.csv' for k in KINDS)})")
    with transaction.atomic():
        reports = [_import_file(kind, path, actor, dry_run) for kind, path in files]
        if dry_run:
            transaction.set_rollback(True)
    return reports


def _import_file(kind: str, path: Path, actor: Actor, dry_run: bool) -> DataImportReport:
    resource = kind_resource(kind)
    dataset = _read(path)
    _check_columns(kind, path, list(dataset.headers or []))
    result = resource.import_data(dataset, dry_run=False, raise_errors=False, use_transactions=True)
    problem = _first_problem(result, resource, path)
    if problem:
        raise BillingError(problem)
    totals = result.totals
    report = DataImportReport(
        kind=kind, file=path.name, dry_run=dry_run, rows=len(dataset),
        created=totals[RowResult.IMPORT_TYPE_NEW], updated=totals[RowResult.IMPORT_TYPE_UPDATE],
        unchanged=totals[RowResult.IMPORT_TYPE_SKIP],
    )  # fmt: skip
    if report.changed and not dry_run:
        model = resource._meta.model
        records_imported(model=model, actor=actor, totals=dict(totals), file_name=path.name)
    return report


def _read(path: Path) -> Any:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FILE_FORMATS:
        raise BillingError(f"{path}: not a .csv, .xlsx or .json file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BillingError(f"{path}: no such file") from None
    except OSError as exc:
        raise BillingError(f"{path}: cannot read ({exc.strerror or exc})") from None
    fmt = FILE_FORMATS[suffix]()
    try:
        if fmt.is_binary():
            return fmt.create_dataset(raw)
        text = raw.decode("utf-8-sig")
        if not text.strip():
            raise BillingError(f"{path.name}: the file is empty")
        return fmt.create_dataset(text)
    except UnicodeDecodeError:
        raise BillingError(f"{path}: not a UTF-8 text file") from None
    except BillingError:
        raise
    except Exception as exc:  # tablib and openpyxl raise many kinds for a malformed file
        raise BillingError(f"{path}: cannot be read as {suffix.upper()} ({exc})") from None


def _check_columns(kind: str, path: Path, headers: list[Any]) -> None:
    columns = kind_columns(kind)
    unknown = [str(h) for h in headers if h not in columns]
    if unknown:
        known = ", ".join(columns)
        raise BillingError(f"{path.name}: unknown column {', '.join(unknown)} (columns of {kind}: {known})")
    duplicated = sorted({str(h) for h in headers if headers.count(h) > 1})
    if duplicated:
        raise BillingError(f"{path.name}: column {', '.join(duplicated)} given twice")
    keys = [KINDS[kind]().fields[name].column_name for name in KINDS[kind]._meta.import_id_fields]
    missing = [k for k in keys if k not in headers]
    if missing:
        raise BillingError(f"{path.name}: missing column {', '.join(missing)}, which identifies a row of {kind}")


def _first_problem(result: Result, resource: resources.ModelResource, path: Path) -> str:
    """The first error of an import as one line: `FILE, row N, column C: message`."""
    for error in result.base_errors:
        return f"{path.name}: {_one_line(error.error)}"
    columns = {name: field.column_name for name, field in resource.fields.items()}
    columns.update({field.attribute: field.column_name for field in resource.fields.values() if field.attribute})
    for invalid in result.invalid_rows:
        where = f"{path.name}, row {invalid.number + 1}"
        for name, messages in invalid.field_specific_errors.items():
            return f"{where}, column {columns.get(name, name)}: {_one_line(' '.join(messages))}"
        return f"{where}: {_one_line(' '.join(invalid.non_field_specific_errors))}"
    for number, errors in result.row_errors():
        return f"{path.name}, row {number + 1}: {_one_line(errors[0].error)}"
    return ""


def _one_line(error: Any) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
