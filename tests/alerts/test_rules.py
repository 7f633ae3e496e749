"""The alert rules: conventions, committed files, promtool check and unit tests."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.processes import REPO, require_binary

from trashmonitor.alerts.config import DEFAULT_CONFIG, MixinConfig, duration_seconds
from trashmonitor.alerts.promtool import run_promtool
from trashmonitor.alerts.render import rendered_rule_files, to_yaml
from trashmonitor.alerts.rules import (
    SEVERITIES,
    RecordingRule,
    all_alerts,
    prometheus_rule,
    rule_file,
    rule_groups,
)
from trashmonitor.dashboards.build import rendered_dashboards
from trashmonitor.dashboards.inspect import panel_expressions
from trashmonitor.monitor.model import Thresholds

ALERTS_DIR = REPO / "alerts"
UNIT_TESTS = sorted((ALERTS_DIR / "tests").glob("*.test.yaml"))
RUNBOOK = REPO / "docs" / "runbook.md"
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")
CAMEL_CASE = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$")


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool")


def _unit_test_documents() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in UNIT_TESTS]


def test_committed_rule_files_match_a_fresh_render() -> None:
    for name, text in rendered_rule_files().items():
        committed = (ALERTS_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"alerts/{name} is stale: run `just generate`"


def test_alert_names_share_one_camel_case_prefix() -> None:
    alerts = all_alerts()
    names = [alert.name for alert in alerts]
    assert len(names) == len(set(names))
    for name in names:
        assert name.startswith(DEFAULT_CONFIG.alert_prefix)
        assert CAMEL_CASE.match(name), name


def test_every_alert_has_severity_summary_templated_description_and_runbook() -> None:
    for alert in all_alerts():
        rendered = alert.as_dict()
        assert rendered["labels"]["severity"] in SEVERITIES
        assert rendered["annotations"]["summary"].endswith(".")
        if not alert.expr.startswith("absent("):  # absent() results carry no labels
            assert "{{" in rendered["annotations"]["description"], alert.name
        assert rendered["annotations"]["runbook_url"].startswith(DEFAULT_CONFIG.runbook_base_url)
        duration_seconds(rendered["for"])


def _github_anchor(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_every_runbook_url_points_at_a_section_of_docs_runbook() -> None:
    headings = re.findall(r"^#{2,3} (.+)$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE)
    anchors = {_github_anchor(heading) for heading in headings}
    missing = {alert.runbook_anchor for alert in all_alerts()} - anchors
    assert not missing, f"docs/runbook.md lacks sections for: {sorted(missing)}"


def test_camera_alerts_exclude_parked_cameras_and_platform_alerts_do_not_need_to() -> None:
    parked = "unless on (site, camera) (camera:trashmon_camera_parked:max == 1)"
    for alert in all_alerts():
        assert (parked in alert.expr) == alert.per_camera, alert.name


def test_recording_rules_are_named_level_metric_operation_and_used() -> None:
    groups = rule_groups()
    records = [rule for group in groups for rule in group.rules if isinstance(rule, RecordingRule)]
    readers = [rule.expr for group in groups for rule in group.rules]
    for text in rendered_dashboards().values():
        readers += [expr for _, expr in panel_expressions(json.loads(text))]
    for rule in records:
        assert RECORD_NAME.match(rule.record), rule.record
        assert any(rule.record in expr for expr in readers), f"{rule.record} is never used"


def test_issue_list_of_alerts_is_covered() -> None:
    """Issue 6 §1 names these situations; each must have an alert."""
    required = {
        "CameraDown", "StreamStalled", "PlaceholderOnly", "LowFps", "BlackImage",
        "FrozenImage", "AgentOffline", "AgentStale", "FfmpegRestartLoop", "DeviceMissing",
        "RtpPacketLoss", "FramesInError", "MediamtxUnreachable", "MonitorAbsent",
        "DnsOutOfSync", "DnsReconcileFailing", "CertificateExpiring",
        "MonitorBlind",  # issue 12 §2: no successful poll within a bound
        "CaptureScrapeFailing",  # issue 14 §1: replaces CaptureScrapeAbsent
    }  # fmt: skip
    names = {alert.name.removeprefix(DEFAULT_CONFIG.alert_prefix) for alert in all_alerts()}
    assert required <= names


def test_no_rule_depends_on_scraping_the_capture_hosts() -> None:
    """Issue 14 §1: the camera alerts read what the monitor re-exports from MQTT; the
    agents' own trashcam_* series exist only where Prometheus reaches the capture hosts.
    The only rule about those scrapes fires on a failing one, never on their absence."""
    for group in rule_groups():
        for rule in group.rules:
            assert "trashcam_" not in rule.expr, rule
            assert "absent(" not in rule.expr or "trashcam" not in rule.expr, rule
    scrape = next(a for a in all_alerts() if a.name.endswith("CaptureScrapeFailing"))
    assert f'up{{job="{DEFAULT_CONFIG.capture_job}"}}' in scrape.expr
    assert "absent(" not in scrape.expr


def test_placeholder_alert_does_not_trust_mediamtx_ready_alone() -> None:
    """The seed's rule alerted on paths{state="ready"}, which a placeholder also reports."""
    placeholder = next(a for a in all_alerts() if a.name.endswith("PlaceholderOnly"))
    assert "trashmon_camera_online" in placeholder.expr


def test_monitor_absent_uses_the_up_idiom() -> None:
    absent = next(a for a in all_alerts() if a.name.endswith("MonitorAbsent"))
    assert absent.expr.startswith('absent(up{job="trashmon-monitor"} == 1) or on () ')


def test_prometheus_rule_wraps_the_same_groups() -> None:
    resource = prometheus_rule()
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"] == rule_file()
    committed = yaml.safe_load((ALERTS_DIR / "prometheusrule.yaml").read_text())
    assert committed["spec"] == yaml.safe_load((ALERTS_DIR / "trashmonitor.rules.yaml").read_text())


def test_promtool_check_rules_accepts_the_shipped_file(promtool: str) -> None:
    result = run_promtool(["check", "rules", str(ALERTS_DIR / "trashmonitor.rules.yaml")])
    assert result.ok, result.output
    expected = sum(len(group.rules) for group in rule_groups())
    assert f"SUCCESS: {expected} rules found" in result.output


def test_promtool_check_rules_accepts_the_operator_spec(promtool: str, tmp_path: Path) -> None:
    spec = yaml.safe_load((ALERTS_DIR / "prometheusrule.yaml").read_text())["spec"]
    path = tmp_path / "spec.yaml"
    path.write_text(to_yaml(spec))
    result = run_promtool(["check", "rules", str(path)])
    assert result.ok, result.output


def test_promtool_check_rules_rejects_a_broken_expression(promtool: str, tmp_path: Path) -> None:
    """The check above can fail: promtool really parses the expressions."""
    document = rule_file()
    document["groups"][1]["rules"][0]["expr"] += " and on ("
    path = tmp_path / "broken.yaml"
    path.write_text(to_yaml(document))
    assert not run_promtool(["check", "rules", str(path)]).ok


def test_promtool_unit_tests_pass(promtool: str) -> None:
    assert UNIT_TESTS, "no alerts/tests/*.test.yaml"
    result = run_promtool(["test", "rules", *map(str, UNIT_TESTS)])
    assert result.ok, result.output


def test_every_alert_has_firing_not_firing_pending_and_parked_cases() -> None:
    """Reads the promtool test files: coverage of every alert, checked mechanically."""
    fires: set[str] = set()
    quiet: dict[str, list[int]] = {}
    fire_times: dict[str, list[int]] = {}
    parked_groups: set[str] = set()
    for document in _unit_test_documents():
        for case in document["tests"]:
            series = " ".join(item["series"] for item in case["input_series"])
            for check in case["alert_rule_test"]:
                name, minutes = check["alertname"], int(duration_seconds(check["eval_time"]))
                if check["exp_alerts"]:
                    fires.add(name)
                    fire_times.setdefault(name, []).append(minutes)
                else:
                    quiet.setdefault(name, []).append(minutes)
                if 'state="parked"' in series:
                    parked_groups.add(name)
    for alert in all_alerts():
        assert alert.name in fires, f"{alert.name}: no case where it fires"
        assert alert.name in quiet, f"{alert.name}: no case where it stays quiet"
        # A quiet check before the first firing one shows the `for` window holding it.
        assert min(quiet[alert.name]) < min(fire_times[alert.name]), alert.name
        if alert.per_camera:
            assert alert.name in parked_groups, f"{alert.name}: no parked camera in its test"


def test_unit_tests_catch_a_missing_parked_exclusion(promtool: str, tmp_path: Path) -> None:
    """Render rules without the parked guard: the promtool tests must fail on them."""
    document = rule_file()
    for group in document["groups"]:
        for rule in group["rules"]:
            rule["expr"] = rule["expr"].replace(
                " unless on (site, camera) (camera:trashmon_camera_parked:max == 1)", ""
            )
    (tmp_path / "trashmonitor.rules.yaml").write_text(to_yaml(document))
    shutil.copy(ALERTS_DIR / "central.rules.yaml", tmp_path)  # central.test.yaml's rules
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    for path in UNIT_TESTS:
        shutil.copy(path, tests_dir / path.name)
    result = run_promtool(["test", "rules", *(str(tests_dir / p.name) for p in UNIT_TESTS)])
    assert not result.ok
    assert "TrashmonCameraDown" in result.output


def test_config_rejects_a_malformed_duration() -> None:
    with pytest.raises(ValueError, match="5 m"):
        MixinConfig(camera_down_for="5 m")


def test_config_override_changes_the_rendered_for_window() -> None:
    fast = DEFAULT_CONFIG.with_overrides(camera_down_for="2s")
    down = next(a for a in all_alerts(fast) if a.name.endswith("CameraDown"))
    assert down.for_ == "2s"


def test_docs_alert_table_lists_every_alert_with_its_severity_and_for() -> None:
    text = (REPO / "docs" / "observability.md").read_text(encoding="utf-8")
    for alert in all_alerts():
        row = f"| [{alert.name}](runbook.md#{alert.runbook_anchor}) | {alert.severity} | "
        assert f"{row}{alert.for_} |" in text, f"docs/observability.md: no row for {alert.name}"


def test_the_agent_stale_alert_and_panel_use_the_health_models_threshold() -> None:
    # One source: an alert at another age than the model's `agent_stale` would page about
    # agents the monitor calls fresh (it was 180 s against the model's 90 s).
    limit = Thresholds().agent_stale_after
    assert DEFAULT_CONFIG.agent_stale_seconds == limit
    (stale,) = (rule for rule in all_alerts() if rule.name.endswith("AgentStale"))
    assert f"> {limit:g} and" in stale.expr
    panels = "".join(rendered_dashboards().values())
    assert f"TrashmonAgentStale fires above {limit:g} s" in panels
