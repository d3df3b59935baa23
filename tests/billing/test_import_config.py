"""`openchargeback import-config`: moving an old OpenChargeback config.yaml into the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from billing.models import FlagPattern, FundOrgPattern, Source, TagMapping
from chargeback.models import AuditEvent, Organization
from journals.models import JournalFormat

# The shape of the old tool's config.example.yaml, with the documentation's realistic values.
OLD_CONFIG = r"""
dev_mode: false
currency: "$"
database:
  path: ./instance/billing.db
smtp:
  host: smtp.example.edu
  port: 587
  use_tls: true
  username: ${SMTP_USER}
  password: ${SMTP_PASSWORD}
email:
  from_address: hpc-billing@example.edu
  from_name: Research Computing Billing
  subject_template: "Research Computing Charges - {billing_period}"
tag_mapping:
  pi_email: "pi_email"
  project_id: "project"
  fund_org: "fund_org"
  cost_center: "cost_center"
  account_code: "account_code"
  reference_1: "grant_number"
  reference_2: ""
output:
  pdf_dir: ./instance/output/pdfs
  journal_dir: ./instance/output/journals
  email_dir: ./instance/output/emails
logging:
  level: INFO
  format: splunk
  file: ./instance/logs/openchargeback.log
web:
  enabled: true
  host: 127.0.0.1
  port: 8000
  secret_key: ${WEB_SECRET_KEY}
  session_lifetime_hours: 8
  users:
    admin:
      email: admin@example.edu
      display_name: "Admin User"
      password_hash: "$2b$12$abcdefghijklmnopqrstuv"
      role: admin
      recovery: true
review:
  flag_patterns:
    - ".*gpu.*"
    - ".*p4d\\..*"
    - ".*sandbox.*"
  fund_org_patterns:
    - "^\\d{6}-\\d{4}$"
    - "^[A-Z]+-[A-Z0-9-]+-\\d{4}$"
imports:
  known_sources:
  - name: AWS
    pattern: aws
    fund_org: IT-CLOUD-AWS
    account_code: "54100"
  - name: Azure Local
    pattern: azure-local
    fund_org: ""
    account_code: ""
  - name: HPC
    pattern: hpc
    fund_org: IT-HPC-COMPUTE
    account_code: "54200"
journal:
  fund_org_regex: "^(?P<fund>\\d{6})-(?P<orgn>\\d{4})$"
  account_code_regex: "^\\d{5}$"
  template: journal_gl.csv
  default_account: "54000"
  debit_description: "{source} {period} Research Computing Charges"
  credit_description: "{source} {period} RC Revenue"
"""

Run = Callable[..., Any]


@pytest.fixture
def old_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(OLD_CONFIG, encoding="utf-8")
    return path


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def rule_counts() -> dict[str, int]:
    return {
        "tag_mappings": TagMapping.objects.count(),
        "flag_patterns": FlagPattern.objects.count(),
        "fund_org_patterns": FundOrgPattern.objects.count(),
        "sources": Source.objects.count(),
        "journal_formats": JournalFormat.objects.count(),
        "audit_events": AuditEvent.objects.filter(action="config.import").count(),
    }


@pytest.mark.django_db
def test_it_makes_the_imported_tag_key_first_and_keeps_the_old_one_after_it(run: Run, old_config: Path) -> None:
    result = run("import-config", str(old_config))

    assert result.code == 0, result.err
    keys = list(
        TagMapping.objects.filter(field="project_id").order_by("priority", "id").values_list("tag_key", "priority")
    )
    assert keys == [("project", 0), ("project_id", 1)]
    assert TagMapping.objects.filter(field="reference_1", tag_key="grant_number", priority=0).exists()
    assert TagMapping.objects.get(field="pi_email").tag_key == "pi_email"


@pytest.mark.django_db
def test_it_skips_an_empty_tag_key_as_disabled_and_keeps_existing_mappings(run: Run, old_config: Path) -> None:
    result = run("import-config", str(old_config), "--format", "json")

    assert list(TagMapping.objects.filter(field="reference_2").values_list("tag_key", flat=True)) == ["reference_2"]
    assert "tag_mapping.reference_2" in result.json()["ignored"]


@pytest.mark.django_db
def test_it_imports_flag_patterns_searching_the_fields_the_old_tool_searched(run: Run, old_config: Path) -> None:
    run("import-config", str(old_config))

    patterns = {p.pattern: p for p in FlagPattern.objects.all()}
    assert set(patterns) == {".*gpu.*", r".*p4d\..*", ".*sandbox.*"}
    gpu = patterns[".*gpu.*"]
    assert gpu.name == "imported-gpu"
    assert gpu.fields == "service_name,resource_id,resource_name"
    assert gpu.enabled
    assert all(p.name.startswith("imported") for p in patterns.values())


@pytest.mark.django_db
def test_it_imports_fund_org_patterns(run: Run, old_config: Path) -> None:
    run("import-config", str(old_config))

    assert list(FundOrgPattern.objects.values_list("pattern", flat=True)) == [
        r"^\d{6}-\d{4}$",
        r"^[A-Z]+-[A-Z0-9-]+-\d{4}$",
    ]


@pytest.mark.django_db
def test_it_turns_known_sources_into_sources_with_a_substring_glob_and_the_credit_side(
    run: Run, old_config: Path
) -> None:
    run("import-config", str(old_config))

    aws = Source.objects.get(name="aws")
    assert (aws.file_pattern, aws.credit_fund_org, aws.gl_account) == ("*aws*", "IT-CLOUD-AWS", "54100")
    assert aws.display_name == "Amazon Web Services"  # the seeded display name is not replaced by "AWS"
    azure_local = Source.objects.get(name="azure-local")
    assert (azure_local.display_name, azure_local.file_pattern) == ("Azure Local", "*azure-local*")
    assert (azure_local.credit_fund_org, azure_local.gl_account) == ("", "")
    assert Source.objects.get(name="hpc").credit_fund_org == "IT-HPC-COMPUTE"


@pytest.mark.django_db
def test_an_empty_value_never_blanks_what_a_source_already_has(run: Run, tmp_path: Path) -> None:
    Source.objects.filter(name="aws").update(credit_fund_org="IT-CLOUD", gl_account="54100")
    config = write_config(
        tmp_path,
        'imports:\n  known_sources:\n  - name: AWS\n    pattern: ""\n    fund_org: ""\n    account_code: "54999"\n',
    )

    result = run("import-config", str(config), "--format", "json")

    aws = Source.objects.get(name="aws")
    assert (aws.file_pattern, aws.credit_fund_org, aws.gl_account) == ("aws-* aws_*", "IT-CLOUD", "54999")
    assert result.json()["updated"]["sources"] == 1


@pytest.mark.django_db
def test_the_old_sender_becomes_the_contact_statements_give_for_questions(run: Run, old_config: Path) -> None:
    """The old tool printed email.from_address on its statements ("please contact …")."""
    org = Organization.current()
    org.contact_phone = "+1 555 0100"
    org.save()

    dry = run("import-config", str(old_config), "--dry-run", "--format", "json").json()
    assert dry["updated"]["organization"] == 1 and Organization.current().contact_email == ""

    result = run("import-config", str(old_config))

    assert result.code == 0, result.err
    assert "organization contact (on statements): contact_email '' → 'hpc-billing@example.edu'" in result.out
    org.refresh_from_db()
    assert (org.contact_email, org.contact_name, org.contact_phone) == (
        "hpc-billing@example.edu", "Research Computing Billing", "+1 555 0100",
    )  # fmt: skip
    assert run("import-config", str(old_config), "--format", "json").json()["unchanged"]["organization"] == 1


@pytest.mark.django_db
def test_a_sender_that_is_not_an_email_address_refuses_the_import(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, OLD_CONFIG.replace("hpc-billing@example.edu", "${FROM_ADDRESS}"))

    result = run("import-config", str(config))

    assert result.code == 1
    assert result.err == "email.from_address: '${FROM_ADDRESS}' is not an email address"
    assert Organization.current().contact_email == ""


@pytest.mark.django_db
def test_it_writes_the_gl_journal_format_from_the_journal_section(run: Run, old_config: Path) -> None:
    run("import-config", str(old_config))

    gl = JournalFormat.objects.get(name="gl")
    assert gl.kind == JournalFormat.Kind.GL
    assert gl.fund_org_regex == r"^(?P<fund>\d{6})-(?P<orgn>\d{4})$"
    assert gl.account_code_regex == r"^\d{5}$"
    assert gl.default_account == "54000"
    assert gl.debit_description == "{source} {period} Research Computing Charges"
    assert gl.credit_description == "{source} {period} RC Revenue"
    assert gl.max_description_length == 35


@pytest.mark.django_db
def test_it_updates_an_existing_gl_format_only_where_the_file_gives_a_value(run: Run, tmp_path: Path) -> None:
    JournalFormat.objects.create(name="gl", kind=JournalFormat.Kind.GL, default_account="50000", row_template="x")
    config = write_config(tmp_path, 'journal:\n  default_account: "54000"\n  account_code_regex: ""\n')

    run("import-config", str(config))

    gl = JournalFormat.objects.get(name="gl")
    assert (gl.default_account, gl.row_template, gl.account_code_regex) == ("54000", "x", "")


@pytest.mark.django_db
def test_running_it_again_changes_nothing_and_duplicates_nothing(run: Run, old_config: Path) -> None:
    run("import-config", str(old_config))
    after_first = rule_counts()

    again = run("import-config", str(old_config), "--format", "json")

    assert again.code == 0
    report = again.json()
    assert sum(report["created"].values()) == 0
    assert sum(report["updated"].values()) == 0
    assert report["changes"] == []
    assert rule_counts() == {**after_first, "audit_events": after_first["audit_events"] + 1}
    keys = list(TagMapping.objects.filter(field="project_id").order_by("priority").values_list("tag_key", "priority"))
    assert keys == [("project", 0), ("project_id", 1)]


@pytest.mark.django_db
def test_a_dry_run_reports_the_changes_and_writes_nothing(run: Run, old_config: Path) -> None:
    before = rule_counts()
    gl_account = Source.objects.get(name="aws").gl_account

    result = run("import-config", str(old_config), "--dry-run", "--format", "json")

    assert result.code == 0
    report = result.json()
    assert report["dry_run"] is True
    assert report["created"]["flag_patterns"] == 3
    assert report["created"]["sources"] == 1
    assert report["created"]["journal_formats"] == 1
    assert rule_counts() == before
    assert TagMapping.objects.get(field="project_id").priority == 0
    assert Source.objects.get(name="aws").gl_account == gl_account


@pytest.mark.django_db
def test_a_dry_run_says_so_in_the_text_summary(run: Run, old_config: Path) -> None:
    result = run("import-config", str(old_config), "--dry-run")

    assert result.out.startswith("Dry run (nothing written)")
    assert "flag patterns" in result.out


@pytest.mark.django_db
def test_an_invalid_flag_regex_refuses_the_whole_import_naming_the_pattern(run: Run, tmp_path: Path) -> None:
    text = OLD_CONFIG.replace('- ".*sandbox.*"', '- "gpu[a-"')
    config = write_config(tmp_path, text)
    before = rule_counts()

    result = run("import-config", str(config))

    assert result.code == 1
    assert "review.flag_patterns[2]" in result.err
    assert "'gpu[a-'" in result.err
    assert "not a valid regular expression" in result.err
    assert "\n" not in result.err
    assert rule_counts() == before
    assert not Source.objects.filter(name="azure-local").exists()


@pytest.mark.django_db
def test_an_invalid_journal_regex_is_refused(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, 'journal:\n  fund_org_regex: "^(?P<fund>[0-9]+"\n')

    result = run("import-config", str(config))

    assert result.code == 1
    assert "journal.fund_org_regex" in result.err
    assert not JournalFormat.objects.filter(name="gl").exists()


@pytest.mark.django_db
def test_flag_patterns_that_are_not_a_list_are_refused_naming_the_key(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, 'review:\n  flag_patterns: ".*gpu.*"\n')

    result = run("import-config", str(config))

    assert result.code == 1
    assert result.err == "review.flag_patterns must be a list (found text)"
    assert not FlagPattern.objects.exists()


@pytest.mark.django_db
def test_an_unquoted_account_number_is_refused_with_a_hint(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, "imports:\n  known_sources:\n  - name: HPC\n    account_code: 54200\n")

    result = run("import-config", str(config))

    assert result.code == 1
    assert "imports.known_sources[0] ('HPC').account_code must be text" in result.err
    assert '"54200"' in result.err


@pytest.mark.django_db
def test_a_top_level_list_is_refused(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, "- tag_mapping\n- review\n")

    result = run("import-config", str(config))

    assert result.code == 1
    assert "top level must be a mapping" in result.err


@pytest.mark.django_db
def test_malformed_yaml_is_one_line_naming_the_line(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, 'review:\n  flag_patterns: [".*gpu.*"\ntag_mapping: {\n')

    result = run("import-config", str(config))

    assert result.code == 1
    assert "not valid YAML at line" in result.err
    assert "\n" not in result.err


@pytest.mark.django_db
def test_a_missing_file_is_one_line(run: Run, tmp_path: Path) -> None:
    result = run("import-config", str(tmp_path / "nope.yaml"))

    assert result.code == 1
    assert result.err == f"{tmp_path / 'nope.yaml'}: no such file"


@pytest.mark.django_db
def test_runtime_settings_and_unknown_keys_are_reported_as_ignored_with_a_reason(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, OLD_CONFIG + "branding:\n  logo: logo.png\n")

    report = run("import-config", str(config), "--format", "json").json()

    ignored = report["ignored"]
    for key in ("dev_mode", "currency", "database", "smtp", "email", "output", "logging", "web", "web.users"):
        assert ignored[key], key
    assert "EMAIL_HOST" in ignored["smtp"]
    assert "admin" in ignored["web.users"]
    assert "Research Computing Billing <hpc-billing@example.edu>" in ignored["email"]
    assert ignored["branding"] == "not an OpenChargeback config key"
    assert "journal.template" in ignored
    assert "tag_mapping" not in ignored and "review" not in ignored


@pytest.mark.django_db
def test_secrets_never_reach_the_report(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, OLD_CONFIG.replace("${SMTP_PASSWORD}", "hunter2-literal"))

    result = run("import-config", str(config), "--format", "json")

    assert "hunter2" not in result.out
    assert "$2b$12$" not in result.out


@pytest.mark.django_db
def test_the_text_summary_lists_changes_ignored_keys_and_warnings(run: Run, old_config: Path) -> None:
    result = run("import-config", str(old_config))

    assert result.out.startswith(f"Imported: {old_config}")
    assert "source azure-local: added, files *azure-local*" in result.out
    assert "smtp" in result.out and "EMAIL_HOST" in result.out
    assert "warning: no credit fund/org for source(s) azure-local" in result.out


@pytest.mark.django_db
def test_json_output_has_counts_per_kind(run: Run, old_config: Path) -> None:
    report = run("import-config", str(old_config), "--format", "json").json()

    assert report["file"] == str(old_config)
    assert report["dry_run"] is False
    assert report["created"] == {
        "tag_mappings": 2,  # project, grant_number
        "flag_patterns": 3,
        "fund_org_patterns": 2,
        "sources": 1,  # azure-local; aws and hpc are seeded
        "journal_formats": 1,
        "organization": 0,  # there is always one: its contact is updated
    }
    assert report["updated"]["sources"] == 2
    assert report["updated"]["tag_mappings"] == 2  # project_id and reference_1 keys moved after the new ones
    assert report["unchanged"]["tag_mappings"] == 4


@pytest.mark.django_db
def test_it_writes_one_audit_event_with_the_report(run: Run, old_config: Path) -> None:
    run("import-config", str(old_config))

    event = AuditEvent.objects.get(action="config.import")
    assert event.actor.startswith("cli:")
    assert event.after is not None
    assert event.after["created"]["flag_patterns"] == 3
    assert event.after["dry_run"] is False


@pytest.mark.django_db
def test_no_audit_event_for_a_dry_run(run: Run, old_config: Path) -> None:
    run("import-config", str(old_config), "--dry-run")

    assert not AuditEvent.objects.filter(action="config.import").exists()


@pytest.mark.django_db
def test_an_existing_flag_pattern_name_is_not_reused(run: Run, tmp_path: Path) -> None:
    FlagPattern.objects.create(name="imported-gpu", pattern="GPU-only", fields="service_name")
    config = write_config(tmp_path, 'review:\n  flag_patterns: [".*gpu.*", "[0-9]+"]\n')

    run("import-config", str(config))

    names = dict(FlagPattern.objects.values_list("pattern", "name"))
    assert names[".*gpu.*"] == "imported-gpu-1"
    assert names["[0-9]+"] == "imported-0-9"
