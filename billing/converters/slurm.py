"""Slurm: `sacct --allocations --parsable2` output to FOCUS lines.

Service units (SU) are the job's `billing` TRES times its elapsed hours (ElapsedRaw when sacct
gives it, else End − Start), or, when the job has no billing TRES, its allocated CPUs times hours
times the partition rate's multiplier. Only the part of a job inside the period is billed: a job
that runs across a month boundary is split in proportion to its time in each month.
Jobs are priced at the partition's rate on the day each part starts, subsidies are spent in the
order jobs ended, and the lines are summed per account and partition (or kept per job).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from billing.ingest.reader import IngestError
from billing.models import Rate
from billing.pricing import RateBook
from chargeback.money import ZERO, quantize

from .common import Accounts, Context, ConvertReport, add_applied, json_text, money_columns, subsidy_columns
from .focus import FocusLine, decimal, number, utc_z

REQUIRED = ("JobID", "Account", "Partition", "Start", "End", "State")
DEFAULT_BILLABLE = ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                    "DEADLINE", "BOOT_FAIL")  # fmt: skip
NOT_A_TIME = frozenset({"", "Unknown", "None", "N/A"})
EXTENSIONS = ("x_Cluster", "x_SlurmAccount", "x_Partition", "x_JobId", "x_User", "x_QOS", "x_Jobs",
              "x_ServiceUnits", "x_SubsidyCode", "x_SubsidyLabel", "x_SubsidyAmount", "x_Subsidies")  # fmt: skip
SECONDS_PER_HOUR = Decimal(3600)


@dataclass
class Job:
    job_id: str
    cluster: str
    account: str
    user: str
    partition: str
    qos: str
    start: datetime
    end: datetime
    billing: Decimal | None  # the billing TRES
    cpus: Decimal | None
    elapsed: int | None  # ElapsedRaw: seconds run, without the time the job was suspended
    file: str  # where the job was read, for errors
    line: int


@dataclass
class Slice:
    """The part of a job inside the period, priced."""

    job: Job
    start: datetime
    end: datetime
    rate: Rate
    su: Decimal
    list_cost: Decimal
    project: str | None
    applied: list = field(default_factory=list)


@dataclass
class Line:
    key: tuple[str, ...]
    first: Slice
    start: datetime
    end: datetime
    jobs: int = 0
    su: Decimal = ZERO
    hours: Decimal = ZERO
    list_cost: Decimal = ZERO
    subsidies: dict[str, tuple[str, Decimal]] = field(default_factory=dict)


def read_jobs(paths: Sequence[Path], names: Sequence[str], *, zone: tzinfo, report: ConvertReport,
              billable: frozenset[str]) -> list[Job]:  # fmt: skip
    jobs: list[Job] = []
    for path, name in zip(paths, names, strict=True):
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise IngestError(name, None, f"unreadable file ({exc})") from None
        lines = text.splitlines()
        if not lines:
            raise IngestError(name, None, "the file is empty (no header row)")
        header = [h.strip() for h in lines[0].split("|")]
        where = {h.lower(): i for i, h in enumerate(header)}
        missing = [c for c in REQUIRED if c.lower() not in where]
        if missing:
            raise IngestError(
                name,
                1,
                f"missing sacct column {', '.join(missing)} (use sacct --parsable2 with "
                "--format including JobID,Account,Partition,Start,End,State,AllocTRES)",
            )
        if "alloctres" not in where and "alloccpus" not in where:
            raise IngestError(name, 1, "needs AllocTRES (for the billing TRES) or AllocCPUS")

        def cell(cells: list[str], column: str, where: dict[str, int] = where) -> str:
            i = where.get(column.lower())
            return cells[i].strip() if i is not None and i < len(cells) else ""

        for number_, raw in enumerate(lines[1:], start=2):
            if not raw.strip():
                continue
            cells = raw.split("|")
            if len(cells) != len(header):
                raise IngestError(name, number_, f"expected {len(header)} fields like the header, found {len(cells)}")
            report.lines_read += 1
            job_id = cell(cells, "JobID")
            if "." in job_id:  # a job step: the allocation line already counts the job
                report.skip("job step")
                continue
            state = (cell(cells, "State").split() or [""])[0].upper()
            if state not in billable:
                report.skip(f"state {state or 'empty'}")
                continue
            start_text, end_text = cell(cells, "Start"), cell(cells, "End")
            if start_text in NOT_A_TIME or end_text in NOT_A_TIME:
                report.skip("no start or end time")
                continue
            try:
                start = datetime.fromisoformat(start_text).replace(tzinfo=zone)
                end = datetime.fromisoformat(end_text).replace(tzinfo=zone)
            except ValueError:
                raise IngestError(name, number_, f"{start_text!r} or {end_text!r} is not a sacct time") from None
            try:
                billing = _tres(cell(cells, "AllocTRES"), "billing")
                cpus_text = cell(cells, "AllocCPUS")
                cpus = Decimal(cpus_text) if cpus_text else _tres(cell(cells, "AllocTRES"), "cpu")
            except InvalidOperation:
                raise IngestError(name, number_, "AllocTRES or AllocCPUS is not a number", "AllocTRES") from None
            if billing is None and cpus is None:
                raise IngestError(name, number_, "neither a billing TRES nor allocated CPUs", "AllocTRES")
            elapsed_text = cell(cells, "ElapsedRaw")
            if elapsed_text and not elapsed_text.isdigit():
                raise IngestError(name, number_, f"{elapsed_text!r} is not a number of seconds", "ElapsedRaw")
            jobs.append(Job(
                job_id=job_id, cluster=cell(cells, "Cluster"), account=cell(cells, "Account"),
                user=cell(cells, "User"), partition=cell(cells, "Partition"), qos=cell(cells, "QOS"),
                start=start, end=end, billing=billing, cpus=cpus,
                elapsed=int(elapsed_text) if elapsed_text else None, file=name, line=number_,
            ))  # fmt: skip
    return jobs


def _tres(text: str, key: str) -> Decimal | None:
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() == key and value.strip():
            return Decimal(value.strip())
    return None


def convert_slurm(
    paths: Sequence[Path], names: Sequence[str], *, ctx: Context, report: ConvertReport, per_job: bool = False,
    timezone: str = "UTC", billable: Sequence[str] = DEFAULT_BILLABLE, cluster: str = "",
) -> tuple[list[FocusLine], tuple[str, ...]]:  # fmt: skip
    zone = ZoneInfo(timezone)
    jobs = read_jobs(paths, names, zone=zone, report=report, billable=frozenset(s.upper() for s in billable))
    rates = RateBook(kind=Rate.Kind.SLURM, month=ctx.month)
    accounts = Accounts("slurm_account")
    slices: list[Slice] = []
    seen: dict[str, bool] = {}
    for job in jobs:
        start, end = max(job.start, ctx.start), min(job.end, ctx.end)
        if end <= start:
            report.skip("outside the period")
            continue
        rate = rates.require(job.partition, start.date(), "partition", file=job.file, line=job.line,
                             column="Partition")  # fmt: skip
        hours = _seconds_inside(job, start, end) / SECONDS_PER_HOUR
        su = job.billing * hours if job.billing is not None else (job.cpus or ZERO) * hours * rate.multiplier
        su = quantize(su)
        project, _ = accounts.project(job.account)
        seen.setdefault(job.account, project is not None)
        slices.append(Slice(job, start, end, rate, su, quantize(su * rate.price), project))
        report.lines_billed += 1
    # Subsidies are spent in the order the usage happened, so a cap runs out where it did.
    owners = dict(accounts.table.values())
    for piece in sorted(slices, key=lambda s: (s.end, s.job.job_id)):
        piece.applied = ctx.ledger.apply(
            list_cost=piece.list_cost, day=piece.start.date(), service=_service(piece.job.partition),
            partition=piece.job.partition, project=piece.project, pi=owners.get(piece.project or ""),
        )  # fmt: skip
    lines: dict[tuple[str, ...], Line] = {}
    for piece in slices:
        job = piece.job
        # One line per rate (not per rate name): a price change mid-period is two lines, each
        # showing the price its quantity was charged at.
        key = (job.cluster or cluster, job.account, job.partition, str(piece.rate.pk), job.job_id if per_job else "")
        line = lines.get(key)
        if line is None:
            line = lines[key] = Line(key, piece, piece.start, piece.end)
        line.start, line.end = min(line.start, piece.start), max(line.end, piece.end)
        line.jobs += 1
        line.su += piece.su
        line.list_cost += piece.list_cost
        add_applied(line.subsidies, piece.applied)
    report.accounts = sorted(seen)
    report.unmapped = sorted(a for a, mapped in seen.items() if not mapped)
    report.unit = "SU"
    out = [_focus_line(line, ctx=ctx, cluster=cluster, per_job=per_job) for line in lines.values()]
    for line in lines.values():
        report.quantity += line.su
    return out, EXTENSIONS


def _seconds(start: datetime, end: datetime) -> int:
    # In UTC: a job across a daylight-saving change ran an hour more or less than its local start
    # and end say.
    return (end.astimezone(UTC) - start.astimezone(UTC)) // timedelta(seconds=1)


def _seconds_inside(job: Job, start: datetime, end: datetime) -> Decimal:
    """The job's billed seconds between `start` and `end`: its ElapsedRaw (which leaves out the
    time it was suspended) when sacct gives it, else End - Start; a job across a month boundary
    puts a share in each month in proportion to the time between its start and end in each."""
    inside = _seconds(start, end)
    whole = _seconds(job.start, job.end)
    if job.elapsed is None or whole <= 0:
        return Decimal(inside)
    return Decimal(job.elapsed) * inside / whole


def _service(partition: str) -> str:
    return f"HPC compute ({partition} partition)"


def _focus_line(line: Line, *, ctx: Context, cluster: str, per_job: bool) -> FocusLine:
    job, rate = line.first.job, line.first.rate
    name = job.cluster or cluster or "hpc"
    subsidy = sum((a for _, a in line.subsidies.values()), ZERO)
    billed = line.list_cost - subsidy
    resource = f"{name}/{job.partition}/{job.account}" + (f"/{job.job_id}" if per_job else "")
    what = f"job {job.job_id}" if per_job else f"{line.jobs} job{'s' if line.jobs != 1 else ''}"
    focus = ctx.line(
        BillingAccountId=name, BillingAccountName=f"{ctx.provider} ({name})", BillingAccountType="Cluster",
        ChargePeriodStart=utc_z(line.start), ChargePeriodEnd=utc_z(line.end),
        ChargeDescription=f"{name} {job.partition} partition, {what}: {number(line.su)} {rate.unit} "
        f"at {number(rate.price)} per {rate.unit} ({rate.name})",
        ConsumedQuantity=decimal(line.su), ConsumedUnit=rate.unit, PricingQuantity=decimal(line.su),
        PricingUnit=rate.unit, ResourceId=resource, ResourceName=f"{name} {job.partition} ({job.account})",
        ResourceType="Slurm job" if per_job else "Slurm partition", ServiceCategory="Compute",
        ServiceSubcategory="Other (Compute)", ServiceName=_service(job.partition),
        SkuId=rate.name, SkuPriceId=f"{rate.name}@{rate.effective_from}",
        SubAccountId=job.account, SubAccountName=job.account, SubAccountType="Slurm account",
        Tags=json_text({"cluster": name, "partition": job.partition, "slurm_account": job.account}),
        **money_columns(list_cost=line.list_cost, unit_price=rate.price, billed=billed),
    )  # fmt: skip
    focus.extensions = {
        "x_Cluster": name, "x_SlurmAccount": job.account, "x_Partition": job.partition,
        "x_JobId": job.job_id if per_job else "", "x_User": job.user if per_job else "",
        "x_QOS": job.qos if per_job else "", "x_Jobs": str(line.jobs), "x_ServiceUnits": number(line.su),
        **subsidy_columns(line.subsidies),
    }  # fmt: skip
    return focus
