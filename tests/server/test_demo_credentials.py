"""`trashmon demo`'s MediaMTX reader: a random password per run in 0600 files, a
MediaMTX config that grants `api`/`metrics` to it alone, Prometheus scraping with it.

No MediaMTX binary runs here (GUIDE §4): the rendered config is checked against
v1.20.1's keys like server/mediamtx.yml, and Prometheus' config with the real promtool.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
from pathlib import Path
from typing import Any

import yaml
from server.server_harness import assert_promtool_accepts
from server.test_mediamtx_config import FIXTURES, config_problems, is_anonymous
from support.processes import REPO

from trashmonitor.demo import (
    Ports,
    _mediamtx_config,
    _prometheus_config,
    generate_hook_secret,
    generate_reader_credentials,
)


def test_the_reader_password_is_random_and_private(tmp_path: Path) -> None:
    first = generate_reader_credentials(tmp_path / "secrets")
    second = generate_reader_credentials(tmp_path / "again")
    assert first.password != second.password
    assert len(first.password) >= 32
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    for path in (first.credentials_file, first.password_file):
        assert path.stat().st_mode & 0o777 == 0o600
    assert first.credentials_file.read_text() == f"trashmon-reader:{first.password}"
    assert first.password_file.read_text() == first.password
    # A second run in the same state directory replaces the files, still 0600.
    again = generate_reader_credentials(tmp_path / "secrets")
    assert again.credentials_file.stat().st_mode & 0o777 == 0o600
    assert again.password != first.password


def test_the_demo_mediamtx_config_grants_api_and_metrics_to_the_reader_only(tmp_path: Path) -> None:
    reader = generate_reader_credentials(tmp_path)
    text = _mediamtx_config(Ports(), reader)
    assert reader.password not in text
    config: dict[str, Any] = yaml.safe_load(text)
    reference = yaml.safe_load((FIXTURES / "mediamtx-keys-v1.20.1.json").read_text())
    assert config_problems(config, reference) == []
    digest = base64.b64encode(hashlib.sha256(reader.password.encode()).digest()).decode()
    granted = {
        (user["user"], user["pass"]): {p["action"] for p in user["permissions"]}
        for user in config["authInternalUsers"]
    }
    assert granted[("trashmon-reader", f"sha256:{digest}")] == {"api", "metrics"}
    for user in config["authInternalUsers"]:
        if is_anonymous(user):
            assert not {p["action"] for p in user["permissions"]} & {"api", "metrics"}
            assert user["ips"]  # anonymous publishing from loopback only
    assert config["apiAllowOrigins"] == config["hlsAllowOrigins"] == []
    assert base64.b64decode(reader.basic).decode() == f"trashmon-reader:{reader.password}"


def test_the_demo_prometheus_scrapes_mediamtx_with_the_password_file(tmp_path: Path) -> None:
    reader = generate_reader_credentials(tmp_path)
    rules = REPO / "alerts" / "trashmonitor.rules.yaml"
    text = _prometheus_config(Ports(), rules, reader)
    assert reader.password not in text
    jobs = {job["job_name"]: job for job in yaml.safe_load(text)["scrape_configs"]}
    assert jobs["mediamtx"]["basic_auth"] == {
        "username": "trashmon-reader",
        "password_file": str(reader.password_file),
    }
    assert "basic_auth" not in jobs["trashmon-monitor"]
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    assert_promtool_accepts(config)
    # Without MediaMTX there is no mediamtx job at all.
    assert "mediamtx" not in _prometheus_config(Ports(), rules, None)


def test_the_demo_mediamtx_runs_the_installed_hook_with_a_private_secret(
    tmp_path: Path,
) -> None:
    reader = generate_reader_credentials(tmp_path / "secrets")
    config: dict[str, Any] = yaml.safe_load(_mediamtx_config(Ports(), reader))
    for key, event in (("runOnOnline", "online"), ("runOnOffline", "offline")):
        command, argument = shlex.split(config["pathDefaults"][key])
        assert argument == event
        assert os.access(command, os.X_OK), command  # MediaMTX runs it without a shell
    first = generate_hook_secret(tmp_path / "secrets")
    text = first.read_text()
    assert first.stat().st_mode & 0o777 == 0o600
    assert len(text) >= 32
    assert generate_hook_secret(tmp_path / "secrets").read_text() != text
