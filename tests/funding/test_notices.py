"""Award expiry notices: 90, 60 and 30 days before a fund ends, once per threshold."""

from __future__ import annotations

from django.core import mail

from statements.models import FundNotice, PortalDelegate

from .conftest import PERIOD, charge, write


def test_notices_go_out_once_per_threshold_and_not_again_on_rerun(lab, run, focus_files, tmp_path):
    run("data", "import", "funds", write(tmp_path, "end.csv", "fund_org,end\nNIH-R01,2025-03-31\n"))
    lab("genomics,NIH-R01,60,2025-01-01,\ngenomics,NSF-CAREER,40,2025-01-01,\n")
    PortalDelegate.objects.create(pi=lab_pi(), email="manager@example.edu", all_projects=True)
    assert run("ingest", str(focus_files.write("aws.csv", [charge("100.01", "2025-01-02", "i-1")])),
               "-s", "aws", "-p", PERIOD).code == 0  # fmt: skip

    dry = run("notices", "send", "--dry-run", "--today", "2025-01-10")
    assert dry.code == 0, dry.err
    assert "NIH-R01 ends 2025-03-31 (90-day notice) → alice@example.edu" in dry.out
    assert not mail.outbox and not FundNotice.objects.exists()

    assert run("notices", "send", "--today", "2025-01-10").code == 0
    [first] = mail.outbox
    assert first.to == ["alice@example.edu"] and first.cc == ["manager@example.edu"]
    assert first.subject == "NIH-R01 ends on 2025-03-31: 90-day notice"
    assert "genomics - Genomics: USD 60.01" in first.body  # 60 % of 100.01, month to date

    assert run("notices", "send", "--today", "2025-01-11").code == 0
    assert run("notices", "send", "--today", "2025-01-29").code == 0  # 61 days left
    assert len(mail.outbox) == 1
    assert run("notices", "send", "--today", "2025-01-30").code == 0  # 60 days left
    assert run("notices", "send", "--today", "2025-01-31").code == 0
    assert run("notices", "send", "--today", "2025-03-01").code == 0  # 30 days left
    assert run("notices", "send", "--today", "2025-03-02").code == 0
    assert [m.subject.rsplit(": ", 1)[1] for m in mail.outbox] == ["90-day notice", "60-day notice", "30-day notice"]
    assert sorted(FundNotice.objects.values_list("threshold", "status")) == [(30, "sent"), (60, "sent"), (90, "sent")]


def test_a_fund_first_seen_45_days_before_its_end_gets_only_the_60_day_notice(lab, run, tmp_path):
    run("data", "import", "funds", write(tmp_path, "end.csv", "fund_org,end\nNIH-R01,2025-03-31\n"))

    assert run("notices", "send", "--today", "2025-02-14").code == 0
    assert [m.subject for m in mail.outbox] == ["NIH-R01 ends on 2025-03-31: 60-day notice"]


def lab_pi():
    from billing.models import PI

    return PI.objects.get(email="alice@example.edu")
