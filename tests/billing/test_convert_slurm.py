"""`openchargeback convert slurm` and `ingest --from slurm`: worked examples checked by hand.

fixtures/samples/sacct-2025-01.txt, January 2025, rates: cpu 0.01 per SU, gpu 2.50 per SU, debug
0.01 per SU (fully subsidised), largemem 0.01 per SU with 2 SU per CPU-hour (its jobs have no
billing TRES).

  1001 chen-lab gpu      billing=4, 31 Jan 22:00 → 1 Feb 02:00: January gets 2 h = 8 SU = 20.00
  1002 chen-lab cpu      billing=64, 10 h                      = 640 SU = 6.40
  1007 chen-lab cpu      billing=10, 31 Dec 20:00 → 1 Jan 04:00: 4 h = 40 SU = 0.40
  1003 chen-lab debug    billing=16, 0.5 h = 8 SU: list 0.08, billed 0.00
  1004 diaz-lab largemem 48 CPUs x 12 h x 2 = 1152 SU = 11.52
  1006 sandbox  cpu      billing=8, 1 h = 8 SU = 0.08 (no account mapping)
  1005 running, 1008 pending, 1009 cancelled before it started: not billed

  1856 SU; list 38.48, subsidies 0.08, billed 38.40, in 5 lines (account x partition).
"""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.converters.focus import conformance_problems
from billing.models import PI, AccountMapping, Charge, Project, Rate, Source, SubsidyRule, SubsidyUsage

pytestmark = pytest.mark.django_db

SACCT = Path(__file__).resolve().parents[2] / "fixtures" / "samples" / "sacct-2025-01.txt"
HEADER = "JobID|Cluster|Account|User|Partition|QOS|Start|End|ElapsedRaw|State|AllocCPUS|AllocTRES\n"


@pytest.fixture
def cluster(db):
    start = date(2024, 7, 1)
    for name, partition, price, multiplier in (
        ("cpu-su", "cpu", "0.01", "1"), ("gpu-a100-su", "gpu", "2.50", "1"),
        ("debug-su", "debug", "0.01", "1"), ("largemem-su", "largemem", "0.01", "2"),
    ):  # fmt: skip
        Rate.objects.create(name=name, kind="slurm", applies_to=partition, unit="SU", price=Decimal(price),
                            multiplier=Decimal(multiplier), effective_from=start)  # fmt: skip
    alice = PI.objects.create(email="alice.chen@example.edu")
    bob = PI.objects.create(email="bob.diaz@example.edu")
    genomics = Project.objects.create(code="genomics-core", pi=alice, fund_org="BIO-2025-001")
    climate = Project.objects.create(code="climate-model", pi=bob, fund_org="GEO-2025-014")
    AccountMapping.objects.create(kind="slurm_account", value="chen-lab", project=genomics)
    AccountMapping.objects.create(kind="slurm_account", value="diaz-lab", project=climate)
    hpc = Source.objects.get(name="hpc")
    SubsidyRule.objects.create(code="debug-free", label="Debug partition, free of charge", partition="debug",
                               percent=Decimal(100), source=hpc, effective_from=start)  # fmt: skip


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def totals(report: dict[str, str]) -> tuple[Decimal, Decimal, Decimal]:
    return Decimal(report["list_total"]), Decimal(report["subsidy_total"]), Decimal(report["billed_total"])


def by_resource(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {r["ResourceId"]: r for r in rows}


class TestConvert:
    def test_the_january_file_adds_up_to_the_cent(self, run, cluster, tmp_path):
        out = tmp_path / "hpc-2025-01.csv"
        result = run("convert", "slurm", str(SACCT), "-p", "2025-01", "-o", str(out), "--format", "json")
        assert result.code == 0, result.err
        report = result.json()
        assert totals(report) == (Decimal("38.48"), Decimal("0.08"), Decimal("38.40"))
        assert report["subsidies"] == {"debug-free": "0.08"}
        assert report["rows"] == 5 and report["lines_read"] == 9 and report["lines_billed"] == 6
        assert report["skipped"] == {"no start or end time": 1, "state PENDING": 1, "state RUNNING": 1}
        assert report["unmapped"] == ["sandbox"]
        assert report["quantity"] == "1856"  # 8 + 680 + 8 + 1152 + 8 SU
        rows = by_resource(read(out))
        assert set(rows) == {"sol/gpu/chen-lab", "sol/cpu/chen-lab", "sol/debug/chen-lab", "sol/largemem/diaz-lab",
                             "sol/cpu/sandbox"}  # fmt: skip
        cpu = rows["sol/cpu/chen-lab"]
        assert (cpu["PricingQuantity"], cpu["ListCost"], cpu["BilledCost"], cpu["x_Jobs"]) == (
            "680.0",
            "6.8",
            "6.8",
            "2",
        )
        assert cpu["ChargePeriodStart"] == "2025-01-01T00:00:00Z"  # job 1007 began in December
        assert rows["sol/largemem/diaz-lab"]["PricingQuantity"] == "1152.0"
        assert rows["sol/largemem/diaz-lab"]["ListCost"] == "11.52"

    def test_a_gpu_job_crossing_midnight_at_month_end_is_split_by_time(self, run, cluster, tmp_path):
        january, february = tmp_path / "jan.csv", tmp_path / "feb.csv"
        run("convert", "slurm", str(SACCT), "-p", "2025-01", "-o", str(january), "--per-job")
        run("convert", "slurm", str(SACCT), "-p", "2025-02", "-o", str(february), "--per-job")
        jan = by_resource(read(january))["sol/gpu/chen-lab/1001"]
        feb = by_resource(read(february))["sol/gpu/chen-lab/1001"]
        assert (jan["ChargePeriodStart"], jan["ChargePeriodEnd"]) == ("2025-01-31T22:00:00Z", "2025-02-01T00:00:00Z")
        assert (feb["ChargePeriodStart"], feb["ChargePeriodEnd"]) == ("2025-02-01T00:00:00Z", "2025-02-01T02:00:00Z")
        assert (jan["x_ServiceUnits"], jan["ListCost"], jan["BilledCost"]) == ("8", "20.0", "20.0")
        assert (feb["x_ServiceUnits"], feb["ListCost"]) == ("8", "20.0")
        assert feb["BillingPeriodStart"] == "2025-02-01T00:00:00Z" and feb["BillingPeriodEnd"] == "2025-03-01T00:00:00Z"

    def test_a_fully_subsidised_partition_still_shows_its_list_price(self, run, cluster, tmp_path):
        out = tmp_path / "jan.csv"
        run("convert", "slurm", str(SACCT), "-p", "2025-01", "-o", str(out))
        debug = by_resource(read(out))["sol/debug/chen-lab"]
        assert (debug["ListCost"], debug["BilledCost"], debug["EffectiveCost"]) == ("0.08", "0.0", "0.0")
        assert debug["x_SubsidyCode"] == "debug-free"
        assert debug["x_SubsidyLabel"] == "Debug partition, free of charge"
        assert debug["x_SubsidyAmount"] == "0.08"

    def test_the_cluster_time_zone_moves_a_job_into_the_next_month(self, run, cluster, tmp_path):
        out = tmp_path / "jan.csv"
        run("convert", "slurm", str(SACCT), "-p", "2025-01", "-o", str(out), "--timezone", "America/Denver")
        # 31 Jan 22:00 in Denver is 1 Feb 05:00 UTC: job 1001 is all February's.
        assert "sol/gpu/chen-lab" not in by_resource(read(out))

    def test_a_job_across_a_daylight_saving_change_is_billed_for_the_time_it_ran(self, run, cluster, tmp_path):
        jobs = tmp_path / "sacct-2025-03.txt"
        jobs.write_text(
            SACCT.read_text().splitlines()[0] + "\n"
            # Denver springs forward at 02:00 on 9 March: 01:00 to 03:30 local is 1.5 hours.
            "2001|sol|chen-lab|achen|cpu|normal|2025-03-09T00:59:00|2025-03-09T01:00:00|2025-03-09T03:30:00|5400|"
            "COMPLETED|10|billing=10,cpu=10,node=1\n"
        )
        out = tmp_path / "mar.csv"
        result = run("convert", "slurm", str(jobs), "-p", "2025-03", "-o", str(out), "--timezone", "America/Denver")
        assert result.code == 0, result.err
        row = by_resource(read(out))["sol/cpu/chen-lab"]
        assert (row["x_ServiceUnits"], row["ListCost"]) == ("15", "0.15")  # 10 billing units x 1.5 h x 0.01

    def test_a_suspended_job_is_billed_for_its_elapsed_time_not_end_minus_start(self, run, cluster, focus_files):
        # sacct's ElapsedRaw leaves out the hour job 4001 was suspended: 4 h from start to end, 3 h run.
        # Job 4002 ran 4 of the 8 hours from 31 Jan 20:00 to 1 Feb 04:00: half in each month.
        jobs = focus_files.raw("sacct.txt", HEADER + (
            "4001|sol|chen-lab|achen|cpu|normal|2025-01-10T08:00:00|2025-01-10T12:00:00|10800|COMPLETED|8|billing=8\n"
            "4002|sol|chen-lab|achen|cpu|normal|2025-01-31T20:00:00|2025-02-01T04:00:00|14400|COMPLETED|8|billing=8\n"
        ))  # fmt: skip
        out = focus_files.root / "o.csv"
        for period in ("2025-01", "2025-02"):
            assert run("convert", "slurm", str(jobs), "-p", period, "-o", str(out), "--per-job").code == 0
            rows = by_resource(read(out))
            if period == "2025-01":
                suspended = rows["sol/cpu/chen-lab/4001"]
                assert (suspended["PricingQuantity"], suspended["ListCost"]) == ("24.0", "0.24")  # 8 x 3 h x 0.01
            assert rows["sol/cpu/chen-lab/4002"]["PricingQuantity"] == "16.0"  # 8 x 2 h in each month
        # Without ElapsedRaw, the time from start to end is billed.
        without = focus_files.raw("other.txt", HEADER.replace("|ElapsedRaw", "") + (
            "4001|sol|chen-lab|achen|cpu|normal|2025-01-10T08:00:00|2025-01-10T12:00:00|COMPLETED|8|billing=8\n"
        ))  # fmt: skip
        report = run("convert", "slurm", str(without), "-p", "2025-01", "--dry-run", "--format", "json").json()
        assert report["quantity"] == "32"  # 8 x 4 h

    def test_a_price_change_mid_period_gives_a_line_per_price(self, run, cluster, tmp_path):
        # The documented way: end the old rate on the last day, start the new one (same name) the day after.
        # A job on each of those two days is priced at the rate of its day.
        Rate.objects.filter(name="cpu-su").update(effective_to=date(2025, 1, 19))
        Rate.objects.create(name="cpu-su", kind="slurm", applies_to="cpu", unit="SU", price=Decimal("0.02"),
                            effective_from=date(2025, 1, 20))  # fmt: skip
        jobs = tmp_path / "sacct-2025-01.txt"
        jobs.write_text(
            SACCT.read_text().splitlines()[0] + "\n"
            "3001|sol|chen-lab|achen|cpu|normal|2025-01-19T08:00:00|2025-01-19T08:00:00|2025-01-19T09:00:00|3600|"
            "COMPLETED|100|billing=100,cpu=100,node=1\n"
            "3002|sol|chen-lab|achen|cpu|normal|2025-01-20T08:00:00|2025-01-20T08:00:00|2025-01-20T09:00:00|3600|"
            "COMPLETED|100|billing=100,cpu=100,node=1\n"
        )
        out = tmp_path / "jan.csv"
        assert run("convert", "slurm", str(jobs), "-p", "2025-01", "-o", str(out)).code == 0
        lines = sorted((r["ListUnitPrice"], r["PricingQuantity"], r["ListCost"]) for r in read(out))
        assert lines == [("0.01", "100.0", "1.0"), ("0.02", "100.0", "2.0")]  # each line: quantity x its price

    def test_december_ends_at_midnight_on_new_years_eve(self, run, cluster):
        """Job 1007 runs from 31 Dec 20:00 to 1 Jan 04:00: December bills its 4 h x 10 SU x 0.01 = 0.40."""
        report = run("convert", "slurm", str(SACCT), "-p", "2024-12", "--dry-run", "--format", "json").json()
        assert totals(report) == (Decimal("0.40"), Decimal(0), Decimal("0.40"))
        assert report["lines_billed"] == 1

    def test_billable_states_can_be_narrowed(self, run, cluster):
        report = run("convert", "slurm", str(SACCT), "-p", "2025-01", "--dry-run", "--states", "COMPLETED",
                     "--format", "json").json()  # fmt: skip
        assert report["skipped"]["state FAILED"] == 1 and report["skipped"]["state TIMEOUT"] == 1
        assert Decimal(report["billed_total"]) == Decimal("26.48")  # 20.00 + 6.40 + 0.00 (debug) + 0.08

    def test_a_dry_run_prints_the_what_if_summary_and_writes_nothing(self, run, cluster, tmp_path):
        out = tmp_path / "hpc.csv"
        result = run("convert", "slurm", str(SACCT), "-p", "2025-01", "--dry-run", "-o", str(out))
        assert result.code == 0, result.err
        assert "dry run, nothing written" in result.out
        assert "accounts      3 (unmapped: sandbox)" in result.out
        assert "usage         1856 SU" in result.out
        assert "list          38.48" in result.out
        assert "subsidies     0.08 (debug-free 0.08)" in result.out
        assert "billed        38.40" in result.out
        assert not out.exists()
        assert not SubsidyUsage.objects.exists()

    def test_the_output_conforms_to_focus_1_2(self, run, cluster, tmp_path):
        for per_job in ([], ["--per-job"]):
            out = tmp_path / f"out{len(per_job)}.csv"
            assert run("convert", "slurm", str(SACCT), "-p", "2025-01", "-o", str(out), *per_job).code == 0
            assert conformance_problems(out) == []

    @pytest.mark.parametrize(
        "args, message",
        [
            (["-p", "2025-01"], "give -o OUT.csv, or --dry-run"),
            (["-p", "2025-13", "--dry-run"], "'2025-13' is not a billing period"),
            (["-p", "2025-01", "--dry-run", "--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        ],
    )
    def test_mistakes_are_one_clear_line(self, run, cluster, args, message):
        result = run("convert", "slurm", str(SACCT), *args)
        assert result.code == 1 and message in result.err

    def test_a_partition_without_a_rate_names_it_with_the_file_and_line_of_its_first_job(
        self, run, cluster, focus_files
    ):
        path = focus_files.raw("s.txt", HEADER + (
            "6|sol|chen-lab|a|cpu|n|2025-01-02T00:00:00|2025-01-02T01:00:00|3600|COMPLETED|4|billing=4\n"
            "7|sol|chen-lab|a|bigmem|n|2025-01-02T00:00:00|2025-01-02T01:00:00|3600|COMPLETED|4|billing=4\n"
            "8|sol|chen-lab|a|bigmem|n|2025-01-03T00:00:00|2025-01-03T01:00:00|3600|COMPLETED|4|billing=4\n"
        ))  # fmt: skip
        for command in (("convert", "slurm"), ("ingest", "--from", "slurm")):
            result = run(*command, str(path), "-p", "2025-01", "--dry-run")
            assert result.code == 1
            assert result.err == (
                "s.txt:3: column Partition: no rate for partition 'bigmem' on 2025-01-02; "
                "add one under Rates in the admin"
            )

    def test_a_malformed_line_is_named(self, run, cluster, focus_files):
        path = focus_files.raw("s.txt", HEADER + "7|sol|chen-lab\n")
        result = run("convert", "slurm", str(path), "-p", "2025-01", "--dry-run")
        assert result.code == 1 and "s.txt:2: expected 12 fields like the header, found 3" in result.err


class TestFiscalYearCap:
    """Provost GPU subsidy: 50 % of gpu usage, at most 100.00 per fiscal year (from July).
    Earlier periods of FY2025 used 95.00 of it; in January two gpu jobs of 20.00 each run:
    the first (ends 10 Jan) gets only the 5.00 left, the second (20 Jan) gets nothing."""

    @pytest.fixture
    def provost(self, cluster):
        hpc = Source.objects.get(name="hpc")
        rule = SubsidyRule.objects.create(
            code="provost-gpu", label="Provost HPC subsidy", source=hpc, partition="gpu", percent=Decimal(50),
            cap=Decimal(100), cap_period="fiscal_year", fiscal_year_start_month=7, effective_from=date(2024, 7, 1),
        )  # fmt: skip
        SubsidyUsage.objects.create(rule=rule, window="FY2025", period="2024-11", source=hpc, amount=Decimal(60))
        SubsidyUsage.objects.create(rule=rule, window="FY2025", period="2024-12", source=hpc, amount=Decimal(35))
        return rule

    @pytest.fixture
    def two_gpu_jobs(self, focus_files):
        return focus_files.raw("sacct-2025-01.txt", HEADER + (
            "2001|sol|chen-lab|achen|gpu|normal|2025-01-10T08:00:00|2025-01-10T10:00:00|7200|COMPLETED|8|billing=4\n"
            "2002|sol|chen-lab|achen|gpu|normal|2025-01-20T08:00:00|2025-01-20T10:00:00|7200|COMPLETED|8|billing=4\n"
        ))  # fmt: skip

    def test_the_cap_runs_out_mid_month_at_the_job_where_it_ran_out(self, run, provost, two_gpu_jobs, tmp_path):
        out = tmp_path / "jan.csv"
        report = run("convert", "slurm", str(two_gpu_jobs), "-p", "2025-01", "-o", str(out), "--per-job",
                     "--format", "json").json()  # fmt: skip
        assert totals(report) == (Decimal("40.00"), Decimal("5.00"), Decimal("35.00"))
        rows = by_resource(read(out))
        first, second = rows["sol/gpu/chen-lab/2001"], rows["sol/gpu/chen-lab/2002"]
        assert (first["ListCost"], first["x_SubsidyAmount"], first["BilledCost"]) == ("20.0", "5", "15.0")
        assert (second["ListCost"], second["x_SubsidyAmount"], second["BilledCost"]) == ("20.0", "", "20.0")
        assert SubsidyUsage.objects.get(period="2025-01").amount == Decimal(5)

    def test_converting_the_month_again_does_not_spend_the_cap_twice(self, run, provost, two_gpu_jobs, tmp_path):
        for _ in range(2):
            report = run("convert", "slurm", str(two_gpu_jobs), "-p", "2025-01", "-o", str(tmp_path / "j.csv"),
                         "--format", "json").json()  # fmt: skip
            assert report["subsidy_total"] == "5"
        assert SubsidyUsage.objects.filter(rule=provost, period="2025-01").count() == 1

    def test_the_balance_carries_into_the_next_period_and_a_new_fiscal_year_starts_fresh(
        self, run, provost, focus_files
    ):
        jobs = focus_files.raw("sacct.txt", HEADER + (
            "3001|sol|chen-lab|achen|gpu|normal|2025-01-05T08:00:00|2025-01-05T10:00:00|7200|COMPLETED|8|billing=4\n"
            "3002|sol|chen-lab|achen|gpu|normal|2025-02-05T08:00:00|2025-02-05T10:00:00|7200|COMPLETED|8|billing=4\n"
            "3003|sol|chen-lab|achen|gpu|normal|2025-07-05T08:00:00|2025-07-05T10:00:00|7200|COMPLETED|8|billing=4\n"
        ))  # fmt: skip
        out = str(focus_files.root / "o.csv")
        january = run("convert", "slurm", str(jobs), "-p", "2025-01", "-o", out, "--format", "json").json()
        february = run("convert", "slurm", str(jobs), "-p", "2025-02", "-o", out, "--format", "json").json()
        july = run("convert", "slurm", str(jobs), "-p", "2025-07", "-o", out, "--format", "json").json()
        assert (january["subsidy_total"], february["subsidy_total"], july["subsidy_total"]) == ("5", "0", "10")


class TestWhichSubsidiesApply:
    """Four subsidy rules, spent in priority order job by job as the jobs ended (2 h x billing=4 = 8 SU
    x 2.50 = 20.00 a gpu job; the cpu job is 8 SU x 0.01 = 0.08):

      early-jan      50 % of gpu usage from 1 to 10 January (inclusive)
      genomics-gpu   25 % of what is left, service "hpc COMPUTE (gpu PARTITION)" (any case), genomics only
      bob-grant      Bob's jobs: everything up to 3.00 a month (a cap without a percent)
      climate-tenth  10 % of what is left, climate-model only

      4001 genomics gpu 10 Jan: 10.00 + 25 % of 10.00 = 2.50 -> 12.50, billed 7.50
      4002 genomics gpu 20 Jan: (early-jan has ended) 25 % of 20.00 = 5.00, billed 15.00
      4003 climate  gpu 20 Jan: bob-grant 3.00, then 10 % of 17.00 = 1.70 -> 4.70, billed 15.30
      4004 genomics cpu 20 Jan: another service, no rule -> billed 0.08
      4005 climate  gpu 25 Jan: bob-grant is spent, so climate-tenth still gives 2.00, billed 18.00
    Totals: list 80.08, subsidies 24.20, billed 55.88."""

    def test_rules_apply_only_within_their_dates_service_project_and_cap(self, run, cluster, focus_files, tmp_path):
        hpc = Source.objects.get(name="hpc")
        genomics, climate = Project.objects.get(code="genomics-core"), Project.objects.get(code="climate-model")
        bob = PI.objects.get(email="bob.diaz@example.edu")
        rules: list[dict[str, Any]] = [
            {"code": "early-jan", "percent": Decimal(50), "partition": "gpu", "effective_to": date(2025, 1, 10)},
            {"code": "genomics-gpu", "percent": Decimal(25), "service_name": "hpc COMPUTE (gpu PARTITION)",
             "project": genomics},
            {"code": "bob-grant", "cap": Decimal(3), "pi": bob},
            {"code": "climate-tenth", "percent": Decimal(10), "partition": "gpu", "project": climate},
        ]  # fmt: skip
        for priority, rule in enumerate(rules, start=1):
            SubsidyRule.objects.create(label=rule["code"], priority=priority, source=hpc,
                                       effective_from=date(2025, 1, 1), **rule)  # fmt: skip
        jobs = focus_files.raw("sacct.txt", HEADER + "".join(
            f"{job}|sol|{account}|u|{partition}|normal|2025-01-{day}T08:00:00|2025-01-{day}T10:00:00|7200"
            "|COMPLETED|8|billing=4\n"
            for job, account, partition, day in (
                (4001, "chen-lab", "gpu", 10), (4002, "chen-lab", "gpu", 20), (4003, "diaz-lab", "gpu", 20),
                (4004, "chen-lab", "cpu", 20), (4005, "diaz-lab", "gpu", 25),
            )
        ))  # fmt: skip
        out = tmp_path / "jan.csv"
        report = run("convert", "slurm", str(jobs), "-p", "2025-01", "-o", str(out), "--per-job",
                     "--format", "json").json()  # fmt: skip
        figures = {
            r["ResourceId"].rsplit("/", 1)[1]: (Decimal(r["ListCost"]), Decimal(r["x_SubsidyAmount"] or 0),
                                                Decimal(r["BilledCost"]))
            for r in read(out)
        }  # fmt: skip
        assert figures == {
            "4001": (Decimal("20.00"), Decimal("12.50"), Decimal("7.50")),
            "4002": (Decimal("20.00"), Decimal("5.00"), Decimal("15.00")),
            "4003": (Decimal("20.00"), Decimal("4.70"), Decimal("15.30")),
            "4004": (Decimal("0.08"), Decimal(0), Decimal("0.08")),
            "4005": (Decimal("20.00"), Decimal("2.00"), Decimal("18.00")),
        }
        assert totals(report) == (Decimal("80.08"), Decimal("24.20"), Decimal("55.88"))


class TestIngestFromSlurm:
    def test_convert_and_import_in_one_step_attributes_through_the_account_mapping(self, run, cluster):
        result = run("ingest", "--from", "slurm", str(SACCT), "-p", "2025-01", "--format", "json")
        assert result.code == 0, result.err
        data = result.json()
        assert data["import"]["rows"] == 5
        assert Decimal(data["import"]["billed_total"]) == Decimal("38.40")
        assert Decimal(data["import"]["list_total"]) == Decimal("38.48")
        charges = {c.resource_id: c for c in Charge.objects.select_related("project")}
        gpu = charges["sol/gpu/chen-lab"]
        assert gpu.project.code == "genomics-core" and gpu.attribution_rule == "slurm_account:chen-lab"
        assert gpu.review_state == "ok"
        assert charges["sol/largemem/diaz-lab"].project.code == "climate-model"
        debug = charges["sol/debug/chen-lab"]
        assert (debug.list_cost, debug.billed_cost) == (Decimal("0.08"), Decimal("0"))
        assert debug.extensions["x_SubsidyLabel"] == "Debug partition, free of charge"
        # An unmapped account is flagged, not dropped.
        sandbox = charges["sol/cpu/sandbox"]
        assert sandbox.project is None and sandbox.billed_cost == Decimal("0.08")
        assert sandbox.flag_reason_list == ["missing_pi", "missing_project", "missing_fund_org"]

    def test_the_usage_file_is_kept_with_the_batch_next_to_the_focus_file_it_became(self, run, cluster):
        from billing.models import ImportFile

        assert run("ingest", "--from", "slurm", str(SACCT), "-p", "2025-01").code == 0
        focus, usage = ImportFile.objects.order_by("id")
        assert (focus.role, focus.rows) == ("focus", 5)
        assert (usage.role, usage.name, usage.rows) == ("usage", SACCT.name, 0)
        assert usage.batch_id == focus.batch_id
        assert usage.stored.read() == SACCT.read_bytes()
        assert usage.sha256 == hashlib.sha256(SACCT.read_bytes()).hexdigest() and usage.size == SACCT.stat().st_size
        # The charges still name the FOCUS file they were read from.
        assert Charge.objects.first().file_index == 0

    def test_the_period_can_come_from_the_file_name_and_a_dry_run_records_no_subsidy(self, run, cluster):
        result = run("ingest", "--from", "slurm", str(SACCT), "--dry-run", "--format", "json")
        assert result.code == 0, result.err
        assert result.json()["import"]["period"] == "2025-01"
        assert not Charge.objects.exists() and not SubsidyUsage.objects.exists()

    def test_an_applied_import_records_the_subsidies_used(self, run, cluster):
        run("ingest", "--from", "slurm", str(SACCT), "-p", "2025-01")
        assert SubsidyUsage.objects.get().amount == Decimal("0.08")

    def test_when_recording_the_subsidies_fails_nothing_is_imported_and_no_cap_is_spent(
        self, run, cluster, monkeypatch
    ):
        from django.db import DatabaseError

        from billing.models import ImportBatch

        record = SubsidyUsage.objects.bulk_create

        def record_then_fail(*args, **kwargs):
            record(*args, **kwargs)
            raise DatabaseError("disk I/O error")

        monkeypatch.setattr(SubsidyUsage.objects, "bulk_create", record_then_fail)
        with pytest.raises(DatabaseError):
            run("ingest", "--from", "slurm", str(SACCT), "-p", "2025-01")
        assert not ImportBatch.objects.exists() and not Charge.objects.exists()
        assert not SubsidyUsage.objects.exists()

    def test_a_dry_run_of_files_already_imported_records_nothing(self, run, cluster):
        from chargeback.models import AuditEvent

        run("ingest", "--from", "slurm", str(SACCT), "-p", "2025-01")
        SubsidyUsage.objects.all().delete()
        events = AuditEvent.objects.count()
        result = run("ingest", "--from", "slurm", str(SACCT), "-p", "2025-01", "--dry-run", "--format", "json")
        assert result.code == 0 and result.json()["import"]["status"] == "already_imported"
        assert not SubsidyUsage.objects.exists() and AuditEvent.objects.count() == events

    def test_converter_options_need_from(self, run, cluster):
        result = run("ingest", str(SACCT), "-p", "2025-01", "--per-job")
        assert result.code == 1 and "Slurm options" in result.err


class TestTheAdminImportPage:
    def test_a_finance_admin_imports_sacct_output_as_the_slurm_file_kind(self, client, finance_admin, cluster):
        from django.urls import reverse

        client.force_login(finance_admin)
        page = client.get(reverse("admin:billing_importbatch_import")).content.decode()
        assert "Slurm sacct" in page and "Storage usage" in page
        with SACCT.open("rb") as fh:
            preview = client.post(reverse("admin:billing_importbatch_import"),
                                  {"files": [fh], "source": "", "period": "2025-01", "kind": "slurm"})  # fmt: skip
        assert preview.status_code == 200, preview.content
        report = preview.context["report"]
        assert (report.status, report.source, report.rows) == ("dry_run", "hpc", 5)
        assert report.billed_total == Decimal("38.40")
        assert not SubsidyUsage.objects.exists()  # a preview spends no cap
        data = {"token": preview.context["staged"].token, "source": "hpc", "period": "2025-01", "kind": "slurm"}
        done = client.post(reverse("admin:billing_importbatch_import_confirm"), data)
        assert done.status_code == 302
        assert Charge.objects.count() == 5
        assert SubsidyUsage.objects.get().amount == Decimal("0.08")
        # The uploaded sacct output is kept with the batch, and downloads as it was uploaded.
        batch = Charge.objects.first().batch
        usage = batch.files.get(role="usage")
        assert usage.name == SACCT.name
        listing = client.get(reverse("admin:billing_importbatch_changelist")).content.decode()
        assert f"{SACCT.name}</a> (usage, converted)" in listing
        download = client.get(reverse("admin:billing_importbatch_file", args=[usage.pk]))
        assert b"".join(download.streaming_content) == SACCT.read_bytes()

    def test_a_sacct_file_taken_for_focus_is_refused_with_the_reason(self, client, finance_admin, cluster):
        from django.urls import reverse

        client.force_login(finance_admin)
        with SACCT.open("rb") as fh:
            page = client.post(reverse("admin:billing_importbatch_import"),
                               {"files": [fh], "source": "hpc", "period": "2025-01"})  # fmt: skip
        assert "missing mandatory column" in page.content.decode()
        assert not Charge.objects.exists()
