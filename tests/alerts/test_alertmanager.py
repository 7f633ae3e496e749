"""The shipped Alertmanager configuration, checked by Debian's Alertmanager 0.25 itself.

`amtool check-config` validates every shipped file (the webhook config and the e-mail
and ntfy examples); `amtool config routes test` resolves labels to a receiver the way
the running Alertmanager will; inhibitions are checked on a real `alertmanager` process:
alerts are posted to its API as Prometheus posts them, and the test reads whether the
target is suppressed and what the webhook receiver got.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from support.alertmanager import (
    FAST_NOTIFICATIONS,
    WEBHOOK_TOKEN,
    recording_webhook,
    render_alertmanager_config,
    running_alertmanager,
)
from support.processes import REPO, require_binary, wait_until

from trashmonitor.alerts.config import DEFAULT_CONFIG
from trashmonitor.alerts.notifications import (
    AGENT_DEPENDENT_ALERTS,
    AGENT_OFFLINE_ALERT,
    ALERTMANAGER_FILE,
    CAMERA_DOWN_ALERTS,
    EXAMPLE_FILES,
    PLATFORM_DOWN_ALERTS,
    alertmanager_config,
    alertmanager_config_resource,
)
from trashmonitor.alerts.rules import all_alerts

SHIPPED = REPO / "alerts" / "alertmanager.yml"
SHIPPED_FILES = sorted(REPO / "alerts" / name for name in (ALERTMANAGER_FILE, *EXAMPLE_FILES))
FAST = DEFAULT_CONFIG.with_overrides(**FAST_NOTIFICATIONS)
EXPECTED_RECEIVER = {"critical": "page", "warning": "notify", "info": "silent"}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("amtool"), *args], capture_output=True, text=True, check=False
    )


def routed_receiver(config_file: Path, labels: dict[str, str]) -> str:
    done = amtool(
        "config", "routes", "test", f"--config.file={config_file}",
        *(f"{name}={value}" for name, value in labels.items()),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.name)
def test_amtool_accepts_each_shipped_file(path: Path) -> None:
    done = amtool("check-config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    assert "2 inhibit rules" in done.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"alertname": "TrashmonCameraDown", "severity": "critical", "camera": "cam1"}, "page"),
        ({"alertname": "TrashmonMediamtxUnreachable", "severity": "critical"}, "page"),
        ({"alertname": "TrashmonLowFps", "severity": "warning", "camera": "cam1"}, "notify"),
        ({"alertname": "TrashmonDnsOutOfSync", "severity": "warning"}, "notify"),
        ({"alertname": "SomethingInformative", "severity": "info"}, "silent"),
        # Without a known severity an alert is still heard, on the quiet channel.
        ({"alertname": "FromAnotherMixin"}, "notify"),
        ({"alertname": "FromAnotherMixin", "severity": "page-me"}, "notify"),
    ],
)
def test_amtool_routes_labels_to_the_receiver(labels: dict[str, str], receiver: str) -> None:
    assert routed_receiver(SHIPPED, labels) == receiver


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.name)
def test_every_shipped_alert_reaches_the_receiver_of_its_severity(path: Path) -> None:
    for alert in all_alerts(DEFAULT_CONFIG):
        labels = {"alertname": alert.name, "severity": alert.severity, "camera": "cam1"}
        assert routed_receiver(path, labels) == EXPECTED_RECEIVER[alert.severity], alert.name


def test_amtool_verify_fails_on_a_wrong_expectation() -> None:
    """The routes checks above can fail: amtool reports a mismatch with exit code 1."""
    done = amtool(
        "config", "routes", "test", f"--config.file={SHIPPED}", "--verify.receivers=page",
        "alertname=TrashmonLowFps", "severity=warning",
    )  # fmt: skip
    assert done.returncode == 1
    assert "did not match" in done.stdout + done.stderr


def test_grouping_is_per_alert_and_camera_and_inhibitions_name_real_alerts() -> None:
    document = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    # The same path name at two sites is two cameras: two groups, two messages.
    assert document["route"]["group_by"] == ["alertname", "site", "camera"]
    shipped_names = {alert.name for alert in all_alerts(DEFAULT_CONFIG)}
    named = {
        DEFAULT_CONFIG.alert_prefix + name
        for name in (
            *PLATFORM_DOWN_ALERTS, *CAMERA_DOWN_ALERTS, AGENT_OFFLINE_ALERT,
            *AGENT_DEPENDENT_ALERTS,
        )
    }  # fmt: skip
    # A renamed alert would silently stop inhibiting: every name must exist.
    assert named - shipped_names == set()


def test_shipped_files_hold_no_secret_only_file_references() -> None:
    for path in SHIPPED_FILES:
        text = path.read_text(encoding="utf-8")
        for inline in ("auth_password:", "credentials:", "bearer_token:", "password:"):
            assert inline not in text, (path.name, inline)
        assert "_file:" in text, path.name


INHIBITION_CASES = [
    # (source labels, target labels, target inhibited?)
    (
        {"alertname": "TrashmonMediamtxUnreachable", "severity": "critical"},
        {"alertname": "TrashmonCameraDown", "severity": "critical", "camera": "cam1"},
        True,
    ),
    (
        {"alertname": "TrashmonMonitorBlind", "severity": "critical"},
        {"alertname": "TrashmonStreamStalled", "severity": "warning", "camera": "cam2"},
        True,
    ),
    (
        {"alertname": "TrashmonMonitorAbsent", "severity": "critical"},
        {"alertname": "TrashmonPlaceholderOnly", "severity": "warning", "camera": "cam1"},
        True,
    ),
    (
        {"alertname": "TrashmonAgentOffline", "severity": "warning", "camera": "cam1"},
        {"alertname": "TrashmonFrozenImage", "severity": "warning", "camera": "cam1"},
        True,
    ),
    (
        {"alertname": "TrashmonAgentOffline", "severity": "warning", "camera": "cam1"},
        {"alertname": "TrashmonStreamStalled", "severity": "warning", "camera": "cam1"},
        True,
    ),
    # Another camera's agent says nothing about this camera's picture.
    (
        {"alertname": "TrashmonAgentOffline", "severity": "warning", "camera": "cam2"},
        {"alertname": "TrashmonBlackImage", "severity": "warning", "camera": "cam1"},
        False,
    ),
    # An offline agent does not hide the camera being down: that still pages.
    (
        {"alertname": "TrashmonAgentOffline", "severity": "warning", "camera": "cam1"},
        {"alertname": "TrashmonCameraDown", "severity": "critical", "camera": "cam1"},
        False,
    ),
    # One site's MediaMTX gone: that site's cameras are held back, another site's are not.
    (
        {"alertname": "TrashmonMediamtxUnreachable", "severity": "critical", "site": "home"},
        {
            "alertname": "TrashmonCameraDown",
            "severity": "critical",
            "site": "home",
            "camera": "cam1",
        },
        True,
    ),
    (
        {"alertname": "TrashmonMediamtxUnreachable", "severity": "critical", "site": "home"},
        {
            "alertname": "TrashmonCameraDown",
            "severity": "critical",
            "site": "garage",
            "camera": "cam1",
        },
        False,
    ),
    # cam1's agent at one site says nothing about cam1 at another.
    (
        {
            "alertname": "TrashmonAgentOffline",
            "severity": "warning",
            "site": "home",
            "camera": "cam1",
        },
        {
            "alertname": "TrashmonBlackImage",
            "severity": "warning",
            "site": "garage",
            "camera": "cam1",
        },
        False,
    ),
    # A DNS problem does not explain a camera being down.
    (
        {"alertname": "TrashmonDnsOutOfSync", "severity": "warning"},
        {"alertname": "TrashmonCameraDown", "severity": "critical", "camera": "cam1"},
        False,
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("source", "target", "inhibited"), INHIBITION_CASES)
def test_a_real_alertmanager_inhibits_and_delivers(
    tmp_path: Path, source: dict[str, str], target: dict[str, str], inhibited: bool
) -> None:
    # A third alert, posted after the target and routed like it, proves the target had
    # its chance to be delivered: once the marker arrives, the target would have too.
    marker = {"alertname": "TrashmonLowFps", "severity": "warning", "camera": "cam9"}
    with recording_webhook() as webhook:
        config_file = render_alertmanager_config(tmp_path, FAST, webhook)
        with running_alertmanager(tmp_path, config_file) as alertmanager:
            alertmanager.post_alerts(source)
            wait_until(lambda: alertmanager.alert_state(source["alertname"]), 20, 0.1, "source")
            alertmanager.post_alerts(target)
            wait_until(lambda: alertmanager.alert_state(target["alertname"]), 20, 0.1, "target")
            alertmanager.post_alerts(marker)
            names = [source["alertname"], marker["alertname"]]

            def delivered() -> set[str]:
                return {n for d in webhook.received() for n in d.alert_names()}

            wait_until(lambda: set(names) <= delivered(), 30, 0.1, f"{names} delivered")
            status = alertmanager.alert_state(target["alertname"])
            assert status is not None
            if inhibited:
                assert status["state"] == "suppressed", status
                assert status["inhibitedBy"], status
                assert target["alertname"] not in delivered()
            else:
                assert status["state"] == "active", status
                wait_until(lambda: target["alertname"] in delivered(), 30, 0.1, "target delivered")
    for delivery in webhook.received():
        assert delivery.authorization == f"Bearer {WEBHOOK_TOKEN}"
        expected_path = (
            "/page" if delivery.body["commonLabels"]["severity"] == "critical" else "/notify"
        )
        assert delivery.path == expected_path, delivery


def test_the_alertmanager_config_resource_routes_like_the_shipped_file() -> None:
    """prometheus-operator's AlertmanagerConfig is the same routing, translated."""
    plain = alertmanager_config(DEFAULT_CONFIG)
    spec = alertmanager_config_resource(DEFAULT_CONFIG)["spec"]

    def as_text(matchers: list[dict[str, str]]) -> list[str]:
        return [f'{m["name"]}{m.get("matchType", "=")}"{m["value"]}"' for m in matchers]

    assert spec["route"]["groupBy"] == plain["route"]["group_by"]
    assert [(r["receiver"], as_text(r["matchers"])) for r in spec["route"]["routes"]] == [
        (r["receiver"], r["matchers"]) for r in plain["route"]["routes"]
    ]
    assert [
        (as_text(r["sourceMatch"]), as_text(r["targetMatch"]), r.get("equal"))
        for r in spec["inhibitRules"]
    ] == [
        (r["source_matchers"], r["target_matchers"], r.get("equal")) for r in plain["inhibit_rules"]
    ]
    assert [r["name"] for r in spec["receivers"]] == [r["name"] for r in plain["receivers"]]
