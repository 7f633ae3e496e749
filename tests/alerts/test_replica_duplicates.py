"""Every camera alert fires once under two monitor replicas (issue 17 §2, audit gap 2).

The camera and availability promtool files are rerun with every monitor series
duplicated across two replicas (distinct ``instance`` and ``pod``, the same values):
the same alerts, with the same labels, must come out, once each. promtool compares
the alerts exactly, so a rule that sums the replicas (its value doubled, or an alert
per replica) fails here, although it passes the files as shipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.processes import REPO, require_binary

from trashmonitor.alerts.config import DEFAULT_CONFIG
from trashmonitor.alerts.promtool import run_promtool
from trashmonitor.alerts.render import RULES_FILE, to_yaml
from trashmonitor.alerts.rules import RecordedNames, rule_file

UNIT_TESTS = [
    REPO / "alerts" / "tests" / name for name in ("cameras.test.yaml", "availability.test.yaml")
]
REPLICAS = ("monitor-0", "monitor-1")
MONITOR_SERIES = f"{{{DEFAULT_CONFIG.monitor_selector}"  # `…{job="trashmon-monitor"`
_INSTANCE = re.compile(r'instance="([^"]*)"')
# The seven alerts no shipped file checks under two replicas, and the rules whose
# `max by` they rely on (AvailabilityBudgetBurnSlow reads its windows' recorded ratios).
SUMMED_ALERTS = (
    "TrashmonConnectionPoor", "TrashmonLowFps", "TrashmonBlackImage", "TrashmonFrozenImage",
    "TrashmonAgentStale", "TrashmonDeviceMissing", "TrashmonAvailabilityBudgetBurnSlow",
)  # fmt: skip
BURN_SLOW_RECORDS = tuple(RecordedNames.unavailable(w) for w in DEFAULT_CONFIG.burn_ticket_windows)


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool")


def as_replica(selector: str, replica: str) -> str:
    """``selector`` as ``replica`` exports it: its own ``pod`` and ``instance``."""
    if _INSTANCE.search(selector):
        labelled = _INSTANCE.sub(lambda m: f'instance="{m.group(1)}/{replica}"', selector)
    else:
        labelled = selector.replace("}", f',instance="{replica}:9843"}}', 1)
    return labelled.replace("}", f',pod="{replica}"}}', 1)


def duplicated(document: dict[str, Any]) -> dict[str, Any]:
    """A promtool test document whose monitor series each come from both replicas."""
    for case in document["tests"]:
        inputs = []
        for item in case["input_series"]:
            if MONITOR_SERIES in item["series"]:
                inputs += [item | {"series": as_replica(item["series"], r)} for r in REPLICAS]
            else:
                inputs.append(item)
        case["input_series"] = inputs
    return document


def run_duplicated(directory: Path, rules: dict[str, Any]) -> tuple[bool, str]:
    """promtool over the duplicated unit files against ``rules``."""
    (directory / RULES_FILE).write_text(to_yaml(rules))
    tests = directory / "tests"
    tests.mkdir(exist_ok=True)
    paths = []
    for path in UNIT_TESTS:
        document = duplicated(yaml.safe_load(path.read_text(encoding="utf-8")))
        assert document["rule_files"] == [f"../{RULES_FILE}"], path
        (tests / path.name).write_text(yaml.safe_dump(document, sort_keys=False, width=10_000))
        paths.append(str(tests / path.name))
    result = run_promtool(["test", "rules", *paths])
    return result.ok, result.output


def test_duplicating_a_series_names_each_replica() -> None:
    plain = 'trashmon_camera_online{job="trashmon-monitor",camera="cam1"}'
    assert as_replica(plain, "monitor-1") == (
        'trashmon_camera_online{job="trashmon-monitor",camera="cam1",'
        'instance="monitor-1:9843",pod="monitor-1"}'
    )
    named = 'trashmon_camera_state{job="trashmon-monitor",instance="a:9843",state="down"}'
    assert as_replica(named, "monitor-0") == (
        'trashmon_camera_state{job="trashmon-monitor",instance="a:9843/monitor-0",'
        'state="down",pod="monitor-0"}'
    )


def test_camera_and_availability_alerts_fire_once_with_every_monitor_series_from_two_replicas(
    promtool: str, tmp_path: Path
) -> None:
    document = duplicated(yaml.safe_load(UNIT_TESTS[0].read_text(encoding="utf-8")))
    doubled = sum(
        MONITOR_SERIES in i["series"] for c in document["tests"] for i in c["input_series"]
    )
    assert doubled > 100  # the duplication reached the monitor's series
    ok, output = run_duplicated(tmp_path, rule_file())
    assert ok, output


def _summed(alert: str) -> dict[str, Any]:
    """The shipped rules with ``alert`` summing across replicas where it takes the max."""
    document = rule_file()
    targets = {alert, *(BURN_SLOW_RECORDS if alert.endswith("BurnSlow") else ())}
    changed = 0
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert", rule.get("record")) in targets and "max by" in rule["expr"]:
                rule["expr"] = rule["expr"].replace("max by", "sum by")
                changed += 1
    assert changed, alert
    return document


@pytest.mark.parametrize("alert", SUMMED_ALERTS)
def test_the_duplicated_files_catch_an_alert_that_sums_the_replicas(
    promtool: str, tmp_path: Path, alert: str
) -> None:
    ok, output = run_duplicated(tmp_path, _summed(alert))
    assert not ok, f"{alert} summing the replicas passed the duplicated files"
    assert alert in output
