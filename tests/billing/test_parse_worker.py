"""Large imports are parsed in a worker process; the result is the same as parsing in-process."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest

from billing.models import PI, Charge, ImportBatch, Project
from tests.conftest import MINIMAL_HEADER, minimal_row, tags

pytestmark = pytest.mark.django_db

FIELDS = ["line_number", "fingerprint", "pi__email", "project__code", "fund_org", "billed_cost", "list_cost",
          "charge_period_start", "tags", "review_state", "flag_reasons"]  # fmt: skip


def rows() -> list[list[str]]:
    out = []
    for i in range(1200):
        pi = None if i % 97 == 0 else f"pi{i % 13}@example.edu"
        out.append(minimal_row(f"{i}.0123456789", resource=f"r{i}", tag_json=tags(pi=pi, project=f"p{i % 17}")))
    out.append(minimal_row("-5", period="2024-12"))
    return out


def imported(run, path, settings, min_bytes: int) -> tuple[list[tuple], dict]:
    settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = min_bytes
    settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS = 100
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json")
    assert result.code == 0, result.err
    data = sorted(Charge.objects.values_list(*FIELDS))
    owners = dict(Project.objects.values_list("code", "pi__email"))
    report = result.json()
    Charge.objects.all().delete()
    ImportBatch.objects.all().delete()
    Project.objects.all().delete()
    PI.objects.all().delete()
    return data, {
        "report": {k: report[k] for k in ("rows", "billed_total", "flag_counts", "new_pis")},
        "owners": owners,
    }


def test_the_worker_and_in_process_parsing_give_identical_charges(run, focus_files, settings):
    path = focus_files.write("big.csv", rows())
    in_worker = imported(run, path, settings, min_bytes=0)
    in_process = imported(run, path, settings, min_bytes=-1)
    assert in_worker == in_process
    assert len(in_worker[0]) == 1201
    assert in_worker[1]["report"]["new_pis"] == 14


def test_a_bad_line_found_by_the_worker_is_reported_and_nothing_is_written(run, focus_files, settings):
    settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = 0
    settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS = 100
    bad = rows()
    bad[700][6] = "12.5.1"
    path = focus_files.write("bad.csv", bad)
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    assert result.code == 1
    assert result.err == "bad.csv:702: column BilledCost: '12.5.1' is not a number"
    assert not Charge.objects.exists() and not ImportBatch.objects.exists() and not PI.objects.exists()


def test_a_bad_line_in_the_importers_own_part_is_reported_and_nothing_is_written(run, focus_files, settings):
    """The importer's part is parsed (and, on PostgreSQL, copied) first; a bad line there stops
    the worker, drops what was written, and names the line as a single pass would."""
    settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = 0
    settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS = 100
    bad = rows()
    bad[250][6] = "12.5.1"  # the first third is the importer's; 200 good lines are written before it
    path = focus_files.write("bad.csv", bad)
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    assert result.code == 1
    assert result.err == "bad.csv:252: column BilledCost: '12.5.1' is not a number"
    assert not Charge.objects.exists() and not ImportBatch.objects.exists() and not PI.objects.exists()


# -- the generated row builder and the careful path agree -----------------------------------------
def same_values(row: list) -> list:
    """A staged row with its amounts as numbers (staged text may differ in trailing zeros)."""
    from billing.ingest.columns import DEDICATED, MONEY
    from billing.ingest.rows import SLOT

    money = {SLOT[target] for target, kind in DEDICATED.values() if kind == MONEY}
    return [Decimal(v) if i in money and v is not None else v for i, v in enumerate(row)]


AMOUNTS = [
    "1", "-0.5", "0", "-0", "12.3400000000", "99999999.9999999999", "123456789.25", "1.12345678905",
    "1e3", " 7", "+4", "5.", ".5", "1_000", "NULL", "",
]  # fmt: skip


@pytest.mark.parametrize("flavor", ["sqlite", "postgresql"])
def test_the_generated_builder_gives_the_rows_of_the_careful_path(focus_files, flavor):
    from billing.ingest.builder import RowBuilder
    from billing.ingest.reader import FileReader
    from billing.ingest.rows import Tally
    from billing.ingest.rules import Attributor, RuleSnapshot

    lines = []
    for i, amount in enumerate(AMOUNTS):
        row = minimal_row("3.5", tag_json=tags(pi=f"pi{i % 3}@example.edu", project=f"p{i % 2}"))
        row[4] = amount  # ListCost; BilledCost stays plain
        lines.append(row)
    lines.append(minimal_row("-2.25", period="2024-12", tag_json='{"pi_email": "NULL"}'))
    lines.append(minimal_row("4", tag_json=""))
    path = focus_files.write("same.csv", lines)
    attributor = Attributor(RuleSnapshot(month="2025-01"))
    with FileReader(path) as reader:
        builder = None
        for cells in reader.lines():
            if builder is None:
                assert reader.plan is not None
                builder = RowBuilder(reader, reader.plan, file_index=0, ck_base=0, flavor=flavor,
                                     attributor=attributor, tally=Tally())  # fmt: skip
                careful = RowBuilder(reader, reader.plan, file_index=0, ck_base=0, flavor=flavor,
                                     attributor=attributor, tally=Tally())  # fmt: skip
            try:
                expected = careful.build_line(list(cells))
            except Exception as exc:  # the careful path refuses it: so must the generated one
                with pytest.raises(type(exc), match=re.escape(str(exc))):
                    builder.build(list(cells))
                continue
            assert same_values(builder.build(list(cells))) == same_values(expected)
    assert builder.tally.combos == careful.tally.combos
    assert (builder.tally.billed_units, builder.tally.list_units) == (
        careful.tally.billed_units, careful.tally.list_units,
    )  # fmt: skip
    assert builder.tally.combo_rows == careful.tally.combo_rows


def test_amounts_are_stored_exactly_whatever_their_shape(run, focus_files):
    amounts = ["1", "-0.5", "0", "12.3400000000", "99999999.9999999999", "123456789.25", "0.0000000001",
               "-7.1234567891", "1.12345678905", "42."]  # fmt: skip
    path = focus_files.write("amounts.csv", [minimal_row(a, resource=f"r{i}") for i, a in enumerate(amounts)])
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json")
    assert result.code == 0, result.err
    stored = dict(Charge.objects.values_list("resource_id", "billed_cost"))
    expected = [Decimal(a).quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP) for a in amounts]
    assert [stored[f"r{i}"] for i in range(len(amounts))] == expected
    assert Decimal(result.json()["billed_total"]) == sum(expected)


def test_a_batch_cut_in_two_keeps_quoted_line_breaks_and_line_numbers(run, focus_files, settings):
    settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = 0
    lines = [minimal_row(f"{i}", resource=f"r{i}\nsecond line" if i % 3 == 0 else f"r{i}") for i in range(400)]
    lines[350][6] = "x"  # BilledCost
    path = focus_files.write("cut.csv", lines)
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01")
    physical = 2 + sum(3 if i % 3 == 0 else 1 for i in range(350))  # two cells of every third row hold a line break
    assert result.code == 1
    assert result.err == f"cut.csv:{physical}: column BilledCost: 'x' is not a number"
    lines[350][6] = "350"
    path = focus_files.write("cut.csv", lines)
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json")
    assert result.code == 0, result.err
    assert result.json()["rows"] == 400
    numbers = list(Charge.objects.order_by("line_number").values_list("line_number", "resource_id"))
    assert numbers[0] == (4, "r0\nsecond line") and numbers[1] == (5, "r1")
    assert [n for n, _ in numbers] == sorted({n for n, _ in numbers})


def test_a_stray_quote_that_misleads_the_cut_still_imports_every_line(run, focus_files, settings):
    settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = 0
    lines = [minimal_row(f"{i}", resource=f"x{i}\ny" if i >= 50 and i % 2 == 0 else f"r{i}") for i in range(100)]
    lines[5][8] = 'ab"c'
    path = focus_files.write("stray.csv", lines)
    path.write_text(path.read_text().replace('"ab""c"', 'ab"c'))  # a bare quote inside an unquoted cell
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json")
    assert result.code == 0, result.err
    assert result.json()["rows"] == 100
    assert Charge.objects.get(line_number=7).resource_id == 'ab"c'
    assert Charge.objects.filter(resource_id__startswith="x").count() == 25


# -- account mappings apply alike on both paths -----------------------------------------------------
MAPPED_FIELDS = [*FIELDS, "sub_account_id", "billing_account_id", "attribution_rule"]


def mapped_rows() -> list[list[str]]:
    """Rows with no project tag whose sub-account (or billing account) is mapped, spread over the
    whole file so that both halves of a cut have them; some tagged rows and unmapped ones between."""
    out = []
    for i in range(1200):
        kind = i % 5
        if kind == 0:  # tagged: the tags attribute it, no mapping applies
            tag_json, sub = tags(pi=f"pi{i % 7}@example.edu", project="tagged"), "999999999999"
        elif kind == 1:  # no project tag, a PI tag: the mapping gives the project, the PI stays the tag's
            tag_json, sub = tags(pi="carol@example.edu", project=None, fund=None), "111111111111"
        elif kind == 2:  # no tags at all: the mapping gives project, owner and fund/org
            tag_json, sub = "", "111111111111" if i % 2 else "/subscriptions/AAAA-bbbb/resourceGroups/x"
        elif kind == 3:  # sub-account not mapped: the billing account mapping applies
            tag_json, sub = tags(pi=None, project=None, fund=None), f"5555{i % 3}"
        else:  # nothing mapped: missing project, flagged
            tag_json, sub = tags(pi=None, project=None, fund=None), "000000000000"
        billing = "ocean-billing" if kind == 3 else "other-billing"
        out.append([*minimal_row(f"{i}.25", resource=f"r{i}", tag_json=tag_json), sub, billing])
    return out


def mapped_import(run, path, settings, min_bytes: int) -> tuple[list[tuple], dict]:
    from billing.models import AccountMapping

    alice = PI.objects.create(email="alice@example.edu")
    bob = PI.objects.create(email="bob@example.edu")
    genomics = Project.objects.create(code="genomics-core", pi=alice, fund_org="BIO-2025-001")
    climate = Project.objects.create(code="climate-model", pi=bob, fund_org="GEO-2025-014")
    ocean = Project.objects.create(code="ocean-lab", pi=bob, fund_org="GEO-2025-020")
    AccountMapping.objects.create(kind="sub_account", value="111111111111", project=genomics)
    AccountMapping.objects.create(kind="sub_account", value="/subscriptions/aaaa-BBBB", project=climate,
                                  fund_org="GEO-OVERRIDE")  # fmt: skip
    AccountMapping.objects.create(kind="billing_account", value="Ocean-Billing", project=ocean)
    settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = min_bytes
    settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS = 100
    result = run("ingest", str(path), "-s", "aws", "-p", "2025-01", "--format", "json")
    assert result.code == 0, result.err
    data = sorted(Charge.objects.values_list(*MAPPED_FIELDS))
    report = result.json()
    Charge.objects.all().delete()
    ImportBatch.objects.all().delete()
    AccountMapping.objects.all().delete()
    Project.objects.all().delete()
    PI.objects.all().delete()
    return data, {k: report[k] for k in ("rows", "billed_total", "flagged_rows", "flag_counts", "new_pis")}


def test_account_mappings_attribute_alike_when_the_file_is_cut_in_two(run, focus_files, settings):
    header = [*MINIMAL_HEADER, "SubAccountId", "BillingAccountId"]
    path = focus_files.write("mapped.csv", mapped_rows(), header)
    in_worker = mapped_import(run, path, settings, min_bytes=0)
    in_process = mapped_import(run, path, settings, min_bytes=-1)
    assert in_worker == in_process
    by_line = {row[0]: row for row in in_worker[0]}
    rule, project, pi, fund = (MAPPED_FIELDS.index(f) for f in ("attribution_rule", "project__code", "pi__email",
                                                               "fund_org"))  # fmt: skip
    first, last = by_line[2 + 1], by_line[2 + 1196]  # line 1 is the header; rows 1 and 1196 are kind 1
    for row in (first, last):
        assert (row[rule], row[project], row[pi]) == ("sub_account:111111111111", "genomics-core", "carol@example.edu")
    azure = by_line[2 + 1192]  # kind 2, even: the subscription's ARM path matches by its id
    assert (azure[rule], azure[project], azure[pi], azure[fund]) == (
        "sub_account:aaaa-bbbb", "climate-model", "bob@example.edu", "GEO-OVERRIDE",
    )  # fmt: skip
    assert by_line[2 + 1198][rule] == "billing_account:ocean-billing"
    assert by_line[2 + 1195][rule] == "" and by_line[2 + 1195][project] == "tagged"
    assert by_line[2 + 1199][rule] == "" and by_line[2 + 1199][project] is None
    assert sum(1 for row in in_worker[0] if row[rule]) == 720


# -- a worker's part comes in several staging files, loaded while it parses on ------------------------
def late_rows() -> list[list[str]]:
    """Combinations first seen far into the file: a project first seen without a PI, claimed by a
    PI some hundred lines later, then named by another PI (flagged); PIs new late in the file."""
    out = []
    for i in range(1500):
        if i < 900:
            tag_json = tags(pi=f"pi{i % 5}@example.edu", project=f"p{i % 7}")
        elif i < 1100:
            tag_json = tags(pi=None, project="late", fund="LATE-1")
        elif i < 1300:
            tag_json = tags(pi="claimer@example.edu", project="late", fund=None)
        elif i < 1400:
            tag_json = tags(pi="other@example.edu", project="late")
        else:
            tag_json = tags(pi=f"new{i % 3}@example.edu", project=f"q{i % 4}")
        out.append(minimal_row(f"{i}.5", resource=f"r{i}", tag_json=tag_json))
    return out


def test_combinations_first_seen_in_later_staging_files_attribute_as_one_pass_does(
    run, focus_files, settings, monkeypatch
):
    from billing.ingest.writer import ChargeWriter

    loaded: list[str] = []
    load = ChargeWriter.load

    def spy(self, stage, combos):
        loaded.append(stage.name)
        return load(self, stage, combos)

    monkeypatch.setattr(ChargeWriter, "load", spy)
    path = focus_files.write("late.csv", late_rows())
    in_worker = imported(run, path, settings, min_bytes=0)
    assert len(loaded) >= 4 and len(set(loaded)) == len(loaded)  # several files, each loaded once
    in_process = imported(run, path, settings, min_bytes=-1)
    assert in_worker == in_process
    assert in_worker[1]["owners"]["late"] == "claimer@example.edu"
    flagged = {row[0]: row[-1] for row in in_worker[0]}
    assert flagged[2 + 1350] == ",project_owner_change,"  # line 1 is the header
    assert flagged[2 + 1000] == ",missing_pi,"


def test_an_import_inside_a_transaction_that_holds_every_attachment_still_loads_each_file(
    run, focus_files, settings, monkeypatch
):
    """SQLite attaches a staging file until the commit; an import inside an outer transaction (as
    here) that already holds the most it allows copies the rest row by row, with the same result."""
    from django.db import connection

    from billing.ingest.writer import ChargeWriter

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL streams staging files to COPY; nothing is attached")
    copied: list[str] = []
    stage_rows = ChargeWriter._stage_rows

    def spy(self, stage):
        copied.append(stage.name)
        return stage_rows(self, stage)

    monkeypatch.setattr(ChargeWriter, "_stage_rows", spy)
    path = focus_files.write("late.csv", late_rows())
    first = imported(run, path, settings, min_bytes=0)
    second = imported(run, path, settings, min_bytes=0)  # the first import's files are still attached
    assert copied and first == second


def test_a_worker_that_dies_fails_the_import_and_writes_nothing(run, focus_files, settings, monkeypatch):
    import sys

    from billing.ingest import pipeline

    # A worker that reads its job and dies without a word, as one killed by the kernel would.
    monkeypatch.setattr(
        pipeline, "WORKER_COMMAND", (sys.executable, "-c", "import sys; sys.stdin.buffer.read(); sys.exit(3)")
    )
    settings.OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = 0
    settings.OPENCHARGEBACK_IMPORT_CHUNK_ROWS = 100
    result = run("ingest", str(focus_files.write("big.csv", rows())), "-s", "aws", "-p", "2025-01")
    assert result.code == 1
    assert result.err == "big.csv: the parsing worker stopped unexpectedly (exit status 3)"
    assert not Charge.objects.exists() and not ImportBatch.objects.exists() and not PI.objects.exists()
