"""The portal's project page shows the project's funding and each fund's remaining award time."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from billing.models import PI, Project
from tests.portal.conftest import portal_user

from .conftest import write


def test_the_project_page_shows_each_funds_share_and_days_left(lab, run, tmp_path, settings):
    ends = timezone.localdate() + timedelta(days=45)
    run("data", "import", "funds", write(tmp_path, "end.csv", f"fund_org,end\nNSF-CAREER,{ends}\n"))
    lab("genomics,NIH-R01,60,2024-01-01,\ngenomics,NSF-CAREER,40,2024-01-01,\n")
    client = Client()
    alice = portal_user("alice@example.edu")
    PI.objects.filter(email="alice@example.edu").update(user=alice)
    client.force_login(alice)

    page = client.get(f"/portal/projects/{Project.objects.get(code='genomics').pk}/")

    assert page.status_code == 200
    text = " ".join(page.content.decode().split())
    assert 'NIH-R01 — Genome assembly</th> <td class="num">60%</td>' in text
    assert 'NSF-CAREER — Protein folding</th> <td class="num">40%</td>' in text
    assert f"{ends} (45 days left)" in text
    assert "2025-12-31 (ended)" in text or "2025-12-31 (" in text and "left)" in text
