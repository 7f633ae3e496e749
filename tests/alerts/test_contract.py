"""Metric names used by rules and dashboards exist where they are read from.

Two checks of the same collection of used names (:func:`used_metric_names`):

* against the running code: a real ``trashmon monitor`` (fake MediaMTX, MQTT, DNS
  reconcile) and a real ``trashmon capture`` (testsrc, publishing to an RTSP peer) are
  started (tests/support/stack.py) and their ``/metrics`` scraped; every name must be
  exported by one of them, or be a MediaMTX family documented in the fixture. Renaming
  a metric in the code breaks this.
* against docs/contracts.md (fast, no processes): the tables document every name, and
  the tables match what the processes export, both ways.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.processes import REPO
from support.stack import running_stack

from trashmonitor.alerts.config import DEFAULT_CONFIG
from trashmonitor.alerts.contract import (
    contract_metric_names,
    exported_metric_names,
    metric_names_in_expression,
    metric_names_in_variable_query,
    undeclared_names,
)
from trashmonitor.alerts.rules import RecordingRule, rule_groups
from trashmonitor.dashboards.build import rendered_dashboards
from trashmonitor.dashboards.inspect import panel_expressions, variable_queries

FIXTURES = Path(__file__).parent / "fixtures"
MEDIAMTX_FIXTURE = FIXTURES / "mediamtx-metrics-v1.20.1.txt"
CONTRACTS = REPO / "docs" / "contracts.md"


def used_metric_names() -> dict[str, set[str]]:
    """Metric name -> where it is used ("alert X", "dashboard Y: panel")."""
    used: dict[str, set[str]] = {}
    for group in rule_groups():
        for rule in group.rules:
            where = rule.record if isinstance(rule, RecordingRule) else f"alert {rule.name}"
            for name in metric_names_in_expression(rule.expr):
                used.setdefault(name, set()).add(where)
    for file_name, text in rendered_dashboards().items():
        document = json.loads(text)
        for title, expr in panel_expressions(document):
            for name in metric_names_in_expression(expr):
                used.setdefault(name, set()).add(f"dashboard {file_name}: {title}")
        for query in variable_queries(document):
            for name in metric_names_in_variable_query(query):
                used.setdefault(name, set()).add(f"dashboard {file_name}: variable")
    return used


def recorded_names() -> set[str]:
    return {
        rule.record
        for group in rule_groups()
        for rule in group.rules
        if isinstance(rule, RecordingRule)
    }


def _check(*sources: set[str]) -> dict[str, set[str]]:
    used = used_metric_names()
    return {name: used[name] for name in undeclared_names(used, recorded_names(), *sources)}


def test_every_used_metric_is_in_the_contract_or_documented_by_mediamtx() -> None:
    contract = contract_metric_names(CONTRACTS.read_text(encoding="utf-8"))
    mediamtx = exported_metric_names(MEDIAMTX_FIXTURE.read_text(encoding="utf-8"))
    unknown = _check(contract, mediamtx)
    assert not unknown, f"metrics used but neither in docs/contracts.md nor MediaMTX: {unknown}"


# Used names that no process started by the tests exports, so they are checked against
# docs/contracts.md only, each with the reason. Empty: with MQTT and DNS configured the
# monitor and the agent export every trashmon_/trashcam_ name the rules and dashboards
# use (families without samples yet count through their `# TYPE` line).
DOCUMENTED_ONLY: dict[str, str] = {}


@pytest.fixture(scope="module")
def real_expositions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The /metrics text of a running monitor and capture agent, once every family that
    appears only after something happened (agent heard over MQTT, a DNS reconcile, a poll)
    had its chance: scraped until the set of names stops growing for two seconds."""
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        names: set[str] = set()
        stable_since = time.monotonic()
        deadline = stable_since + 20
        while time.monotonic() < deadline and time.monotonic() - stable_since < 2:
            texts = {"monitor": stack.monitor_metrics(), "capture": stack.agent_metrics()}
            now = set().union(*(exported_metric_names(text) for text in texts.values()))
            if now != names:
                names, stable_since = now, time.monotonic()
            time.sleep(0.25)
        yield texts


def _exported(expositions: dict[str, str]) -> set[str]:
    return set().union(*(exported_metric_names(text) for text in expositions.values()))


def _unexported(expositions: dict[str, str]) -> dict[str, set[str]]:
    """Used names that neither ``expositions``, MediaMTX nor DOCUMENTED_ONLY provide."""
    mediamtx = exported_metric_names(MEDIAMTX_FIXTURE.read_text(encoding="utf-8"))
    return _check(_exported(expositions), mediamtx, set(DOCUMENTED_ONLY))


@pytest.mark.slow
def test_every_used_metric_is_exported_by_a_running_process_or_by_mediamtx(
    real_expositions: dict[str, str],
) -> None:
    unknown = _unexported(real_expositions)
    assert not unknown, f"metrics used but exported by no running process: {unknown}"
    # The documented-only list stays honest: only names that really are not exported,
    # and documented in docs/contracts.md.
    contract = contract_metric_names(CONTRACTS.read_text(encoding="utf-8"))
    assert set(DOCUMENTED_ONLY) <= contract - _exported(real_expositions)
    # Both processes contributed: the check is not passing on one exposition alone.
    used = set(used_metric_names())
    for process, prefix in (("monitor", "trashmon_"), ("capture", "trashcam_")):
        names = exported_metric_names(real_expositions[process])
        assert {n for n in used if n.startswith(prefix)} <= names | set(DOCUMENTED_ONLY)


@pytest.mark.slow
def test_a_metric_renamed_in_the_code_breaks_the_check(real_expositions: dict[str, str]) -> None:
    """The monitor's real exposition as if it exported ``trashmon_agent_configured_fps``,
    and the agent's as if it exported ``trashcam_speed``."""
    renamed = dict(real_expositions)
    renamed["monitor"] = renamed["monitor"].replace(
        "trashmon_agent_target_fps", "trashmon_agent_configured_fps"
    )
    renamed["capture"] = renamed["capture"].replace("trashcam_speed_ratio", "trashcam_speed")
    assert renamed != real_expositions
    unknown = _unexported(renamed)
    assert set(unknown) == {"trashmon_agent_target_fps", "trashcam_speed_ratio"}
    assert "camera:trashmon_agent_fps_target:ratio" in unknown["trashmon_agent_target_fps"]


@pytest.mark.slow
def test_the_contract_tables_list_exactly_what_the_processes_export(
    real_expositions: dict[str, str],
) -> None:
    """docs/contracts.md neither promises a name the code lacks nor misses one it has."""
    contract = contract_metric_names(CONTRACTS.read_text(encoding="utf-8"))
    exported = _exported(real_expositions)
    assert sorted(contract - exported) == [], "documented but not exported"
    assert sorted(exported - contract) == [], "exported but not documented"


def test_a_renamed_metric_breaks_the_contract_check() -> None:
    contract_text = CONTRACTS.read_text(encoding="utf-8").replace(
        "`trashmon_agent_target_fps`", "`trashmon_agent_configured_fps`"
    )
    mediamtx = exported_metric_names(MEDIAMTX_FIXTURE.read_text(encoding="utf-8"))
    unknown = _check(contract_metric_names(contract_text), mediamtx)
    assert set(unknown) == {"trashmon_agent_target_fps"}
    # Named where it is read: the recording rule behind TrashmonLowFps, and the panel.
    assert "camera:trashmon_agent_fps_target:ratio" in unknown["trashmon_agent_target_fps"]
    assert any("Frames per second" in where for where in unknown["trashmon_agent_target_fps"])


def test_the_rules_use_monitor_capture_and_mediamtx_metrics() -> None:
    used = set(used_metric_names())
    assert {"trashmon_camera_state", "trashmon_agent_fps", "paths", "up"} <= used
    assert "trashcam_speed_ratio" in used  # a dashboard panel, where agents are scraped
    assert "rtsp_sessions_inbound_rtp_packets_lost" in used


def test_recording_rule_names_are_defined_before_use() -> None:
    used = {name for name in used_metric_names() if ":" in name}
    assert used <= recorded_names()


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('max by (camera) (trashmon_state{job="x",state="down"}) == 1', {"trashmon_state"}),
        ("rate(a_total[5m]) / on (camera) group_left (reason) b", {"a_total", "b"}),
        ('label_replace(rate(x[5m]), "camera", "$1", "path", "(.*)")', {"x"}),
        ("time() - foo_timestamp_seconds > 1e3", {"foo_timestamp_seconds"}),
        ("histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))", {"h_bucket"}),
        ("absent(up{job=\"trashmon-monitor\"} == 1)", {"up"}),
        ("a:b:rate5m unless on (camera) (c:d:max == 1)", {"a:b:rate5m", "c:d:max"}),
        ("sum without (instance) (m offset 5m) and bool n", {"m", "n"}),
        ("0x1F + Inf + NaN", set()),
    ],
)  # fmt: skip
def test_metric_names_in_expression(expr: str, names: set[str]) -> None:
    assert metric_names_in_expression(expr) == names


def test_variable_query_names() -> None:
    assert metric_names_in_variable_query('label_values(trashmon_camera_state{a="b"}, camera)') == {
        "trashmon_camera_state"
    }


def test_exported_metric_names_reads_samples_and_declared_families() -> None:
    exposition = "\n".join(
        [
            "# HELP trashmon_poll_errors_total failed polls",
            "# TYPE trashmon_poll_errors_total counter",
            "# HELP trashmon_poll_duration_seconds one poll",
            "# TYPE trashmon_poll_duration_seconds histogram",
            'trashmon_poll_duration_seconds_bucket{le="+Inf"} 3.0',
            "trashmon_poll_duration_seconds_sum 0.3",
            "trashmon_poll_duration_seconds_count 3.0",
            "# TYPE trashmon_dns_changes counter",
            'trashmon_camera_online{camera="cam1"} 1.0',
            "untyped_thing 2",
            "# just a comment",
        ]
    )
    assert exported_metric_names(exposition) == {
        "trashmon_poll_errors_total",
        "trashmon_poll_duration_seconds_bucket",
        "trashmon_poll_duration_seconds_sum",
        "trashmon_poll_duration_seconds_count",
        "trashmon_dns_changes_total",
        "trashmon_camera_online",
        "untyped_thing",
    }


def test_exported_metric_names_of_a_real_prometheus_client_registry() -> None:
    """The parser understands what prometheus-client (the monitor's library) writes."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    registry = CollectorRegistry()
    Counter("trashmon_dns_errors", "errors", ["kind"], registry=registry)  # no samples yet
    Gauge("trashmon_mediamtx_up", "up", registry=registry).set(1)
    Histogram("trashmon_poll_duration_seconds", "poll", registry=registry).observe(0.1)
    names = exported_metric_names(generate_latest(registry).decode())
    assert {"trashmon_dns_errors_total", "trashmon_mediamtx_up"} <= names
    assert "trashmon_poll_duration_seconds_bucket" in names


def test_contract_tables_are_parsed_with_their_types() -> None:
    names = contract_metric_names(CONTRACTS.read_text(encoding="utf-8"))
    assert "trashmon_poll_duration_seconds_bucket" in names  # histogram expanded
    assert "trashmon_poll_errors_total" in names
    assert "trashcam_device_info" in names
    assert "trashmon_build_info" in names
    # One name per capture-table row (no histograms there), counted independently.
    rows = [
        line for line in CONTRACTS.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `trashcam_")
    ]  # fmt: skip
    assert len([n for n in names if n.startswith("trashcam_")]) == len(rows) > 10
    assert DEFAULT_CONFIG.monitor_job == "trashmon-monitor"
