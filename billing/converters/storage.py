"""Storage: a usage report (CSV: project or path, used and quota in GB or TB, tier) to FOCUS lines.

Each tier has a rate (price per TB and month, 1 TB = 1000 GB), a free allowance per project and
month, and a basis: usage or quota. Rows of one project (or path, when the report names no
project) and tier are added up; the allowance comes off that total; subsidies apply to the rest.
The list cost always shows the whole quantity at the rate.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from billing.ingest.reader import IngestError
from billing.models import Project, Rate
from billing.pricing import RateBook
from chargeback.money import ZERO, quantize

from .common import Accounts, Context, ConvertReport, add_applied, json_text, money_columns, subsidy_columns
from .focus import FocusLine, decimal, number, utc_z

EXTENSIONS = ("x_StoragePath", "x_StorageTier", "x_UsedTB", "x_QuotaTB", "x_BilledOn", "x_FreeAllowanceTB",
              "x_FreeAllowanceAmount", "x_SubsidyCode", "x_SubsidyLabel", "x_SubsidyAmount", "x_Subsidies")  # fmt: skip
DEFAULT_TIER = "standard"
GB_PER_TB = Decimal(1000)
UNIT = "TB-Months"  # what every tier is priced in, in the FOCUS unit format (the rate's own unit names it)


@dataclass
class Usage:
    owner: str  # project code, else the path
    project: str
    paths: list[str] = field(default_factory=list)
    tier: str = DEFAULT_TIER
    used: Decimal = ZERO
    quota: Decimal | None = None
    unsized: list[tuple[str, int]] = field(default_factory=list)  # (file, line) of rows without a used size
    first: tuple[str, int] = ("", 0)  # (file, line) of its first row, for errors


def _amount(row: dict[str, str], stem: str, name: str, line: int) -> Decimal | None:
    """`<stem>_tb` or `<stem>_gb` (or `<stem>` in TB) as TB; None when absent or empty."""
    for suffix, scale in (("_tb", Decimal(1)), ("_gb", 1 / GB_PER_TB), ("", Decimal(1))):
        text = (row.get(stem + suffix) or "").strip()
        if text:
            try:
                value = Decimal(text)
                if not value.is_finite() or value < 0:
                    raise InvalidOperation
            except InvalidOperation:
                raise IngestError(name, line, f"{text!r} is not a size", stem + suffix) from None
            return value * scale
    return None


def read_usage(paths: Sequence[Path], names: Sequence[str], *, report: ConvertReport) -> list[Usage]:
    merged: dict[tuple[str, str], Usage] = {}
    for path, name in zip(paths, names, strict=True):
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                header = [h.strip().lower() for h in reader.fieldnames or []]
                reader.fieldnames = header
                if not {"project", "path"} & set(header):
                    raise IngestError(name, 1, "needs a project or a path column")
                if not {"used_gb", "used_tb", "used"} & set(header):
                    raise IngestError(name, 1, "needs a used_gb or used_tb column")
                for row in reader:
                    line = reader.line_num
                    report.lines_read += 1
                    project = (row.get("project") or "").strip()
                    where = (row.get("path") or "").strip()
                    if not project and not where:
                        raise IngestError(name, line, "neither a project nor a path")
                    used = _amount(row, "used", name, line)
                    quota = _amount(row, "quota", name, line)
                    if used is None and quota is None:
                        raise IngestError(name, line, "neither a used size nor a quota", "used")
                    tier = (row.get("tier") or "").strip() or DEFAULT_TIER
                    key = (project or where, tier.lower())
                    usage = merged.get(key)
                    if usage is None:
                        usage = merged[key] = Usage(
                            owner=project or where, project=project, tier=tier, first=(name, line)
                        )
                    if where:
                        usage.paths.append(where)
                    if used is None:
                        usage.unsized.append((name, line))
                    else:
                        usage.used += used
                    if quota is not None:
                        usage.quota = (usage.quota or ZERO) + quota
                    report.lines_billed += 1
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise IngestError(name, None, f"unreadable file ({exc})") from None
    return list(merged.values())


def convert_storage(
    paths: Sequence[Path], names: Sequence[str], *, ctx: Context, report: ConvertReport
) -> tuple[list[FocusLine], tuple[str, ...]]:
    usages = read_usage(paths, names, report=report)
    rates = RateBook(kind=Rate.Kind.STORAGE, month=ctx.month)
    mapped = Accounts("storage_path")
    known = {code: (email, fund) for code, email, fund in Project.objects.values_list("code", "pi__email", "fund_org")}
    lines: list[FocusLine] = []
    seen: dict[str, bool] = {}
    for usage in sorted(usages, key=lambda u: (u.owner, u.tier)):
        rate = rates.require(usage.tier, ctx.start.date(), "storage tier", file=usage.first[0], line=usage.first[1],
                             column="tier")  # fmt: skip
        project, owner = (usage.project, known.get(usage.project, (None, ""))[0]) if usage.project else (None, None)
        if project is None:
            for where in usage.paths:
                project, owner = mapped.project(where)
                if project is not None:
                    break
        seen.setdefault(usage.owner, project is not None)
        on_quota = rate.basis == Rate.Basis.QUOTA
        if on_quota and usage.quota is None:
            report.warnings.append(f"{usage.owner}: no quota in the report; billed on usage")
            on_quota = False
        if not on_quota and usage.unsized:
            # Billed on usage, a row without a used size would silently count as nothing.
            file_name, row_number = usage.unsized[0]
            raise IngestError(file_name, row_number, f"no used size, and tier {usage.tier!r} bills on usage", "used")
        quantity = usage.quota if on_quota and usage.quota is not None else usage.used
        list_cost = quantize(quantity * rate.price)
        free = min(quantity, rate.free_quantity)
        free_amount = quantize(free * rate.price)
        subsidies: dict[str, tuple[str, Decimal]] = {}
        add_applied(subsidies, ctx.ledger.apply(
            list_cost=list_cost - free_amount, day=ctx.start.date(), service=_service(usage.tier),
            partition=usage.tier, project=project, pi=owner,
        ))  # fmt: skip
        billed = list_cost - free_amount - sum((a for _, a in subsidies.values()), ZERO)
        report.quantity += quantity
        tags: dict[str, str] = {"storage_tier": usage.tier}
        if usage.project:  # the report names the project: the tags carry it (and its PI, when known)
            tags["project_id"] = usage.project
            if owner:
                tags["pi_email"] = owner
        line = ctx.line(
            BillingAccountId="storage", BillingAccountName=ctx.provider, BillingAccountType="Storage service",
            ChargePeriodStart=utc_z(ctx.start), ChargePeriodEnd=utc_z(ctx.end),
            ChargeDescription=f"{usage.tier} storage, {number(quantity)} TB-month "
            f"({'quota' if on_quota else 'used'}) at {number(rate.price)} per {rate.unit}"
            + (f", first {number(free)} TB free" if free else ""),
            ConsumedQuantity=decimal(usage.used), ConsumedUnit=UNIT, PricingQuantity=decimal(quantity),
            PricingUnit=UNIT, ResourceId=",".join(usage.paths) or usage.owner, ResourceName=usage.owner,
            ResourceType="Storage allocation", ServiceCategory="Storage", ServiceSubcategory="File Storage",
            ServiceName=_service(usage.tier),
            SkuId=rate.name, SkuPriceId=f"{rate.name}@{rate.effective_from}", SubAccountId=usage.owner,
            SubAccountName=usage.owner, SubAccountType="Storage project" if usage.project else "Storage path",
            Tags=json_text(tags), **money_columns(list_cost=list_cost, unit_price=rate.price, billed=billed),
        )  # fmt: skip
        line.extensions = {
            "x_StoragePath": ",".join(usage.paths), "x_StorageTier": usage.tier, "x_UsedTB": number(usage.used),
            "x_QuotaTB": number(usage.quota) if usage.quota is not None else "",
            "x_BilledOn": "quota" if on_quota else "usage", "x_FreeAllowanceTB": number(free) if free else "",
            "x_FreeAllowanceAmount": number(free_amount) if free else "", **subsidy_columns(subsidies),
        }  # fmt: skip
        lines.append(line)
    report.accounts = sorted(seen)
    report.unmapped = sorted(o for o, ok in seen.items() if not ok)
    report.unit = "TB-month"
    return lines, EXTENSIONS


def _service(tier: str) -> str:
    return f"Research storage ({tier})"
