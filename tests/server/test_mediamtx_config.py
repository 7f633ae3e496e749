"""server/mediamtx.yml against the keys of the pinned MediaMTX version.

No MediaMTX binary can run here, so the check is static: every key must exist in
v1.20.1's default configuration (tests/server/fixtures/mediamtx-keys-v1.20.1.json,
derived from MediaMTX's published mediamtx.yml) with a value of the same YAML type.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.processes import REPO

CONFIG = REPO / "server" / "mediamtx.yml"
FIXTURES = Path(__file__).parent / "fixtures"


def pinned_version() -> str:
    """The MediaMTX version the Containerfile downloads: the config must match it."""
    text = (REPO / "server" / "Containerfile").read_text(encoding="utf-8")
    match = re.search(r"^ARG MEDIAMTX_VERSION=(v[\d.]+)$", text, re.MULTILINE)
    assert match, "server/Containerfile must pin ARG MEDIAMTX_VERSION=vX.Y.Z"
    return match.group(1)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    path = FIXTURES / f"mediamtx-keys-{pinned_version()}.json"
    assert path.exists(), f"no key fixture for the pinned version: derive {path.name}"
    return dict(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return dict(yaml.safe_load(CONFIG.read_text(encoding="utf-8")))


def type_errors(section: dict[str, Any], known: dict[str, str], where: str) -> list[str]:
    """Unknown keys and values whose YAML type differs from the reference default."""
    problems = []
    for key, value in section.items():
        if key not in known:
            problems.append(f"{where}{key}: not a MediaMTX key")
            continue
        expected = known[key]
        actual = "null" if value is None else type(value).__name__
        # A reference default that is empty (null) is a string setting left unset.
        allowed = {"str", "null"} if expected == "null" else {expected}
        if actual not in allowed:
            problems.append(f"{where}{key}: expected {expected}, got {actual}")
    return problems


def config_problems(config: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    problems = type_errors(config, reference["global"], "")
    problems += type_errors(
        config.get("pathDefaults") or {}, reference["pathDefaults"], "pathDefaults."
    )
    for name, path in (config.get("paths") or {}).items():
        problems += type_errors(path or {}, reference["pathDefaults"], f"paths.{name}.")
    for index, user in enumerate(config.get("authInternalUsers") or []):
        problems += [
            f"authInternalUsers[{index}].{key}: not a MediaMTX key"
            for key in user
            if key not in reference["authInternalUsers"]
        ]
        for permission in user.get("permissions") or []:
            problems += [
                f"authInternalUsers[{index}].permissions.{key}: not a MediaMTX key"
                for key in permission
                if key not in reference["permissions"]
            ]
            if permission.get("action") not in reference["permissionActions"]:
                problems.append(f"authInternalUsers[{index}]: unknown action {permission}")
    return problems


def test_every_key_exists_in_the_pinned_version(config, reference):
    assert config_problems(config, reference) == []


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ({"hlsVarient": "mpegts"}, "hlsVarient: not a MediaMTX key"),
        # removed after v1.x: the old top-level protocol list
        ({"protocols": ["tcp"]}, "protocols: not a MediaMTX key"),
        ({"hlsAlwaysRemux": "yes please"}, "hlsAlwaysRemux: expected bool, got str"),
        ({"paths": {"cam9": {"sourceOnDemand": 1, "sauce": "publisher"}}}, "paths.cam9.sauce"),
    ],
)
def test_the_check_catches_typos_removed_keys_and_wrong_types(
    config, reference, mutation, expected
):
    broken = {**config, **mutation}
    assert any(expected in problem for problem in config_problems(broken, reference))


def test_ports_and_streaming_settings_match_the_contract(config):
    assert config["rtspAddress"] == ":8554"
    assert config["rtspTransports"] == ["tcp"]
    assert config["hlsAddress"] == ":8888"
    assert config["apiAddress"] == ":9997"
    assert config["api"] is True
    assert config["metricsAddress"] == ":9998"
    assert config["metrics"] is True
    assert config["hlsVariant"] == "mpegts"
    assert config["hlsAlwaysRemux"] is True
    assert config["hlsSegmentDuration"] in ("1s", "500ms", "2s")


def test_anonymous_access_matches_the_seed_boundary(config):
    """The tailnet is the auth boundary: the viewer, monitor and Prometheus are anonymous."""
    anonymous = [u for u in config["authInternalUsers"] if u["user"] == "any" and not u["ips"]]
    actions = {p["action"] for user in anonymous for p in user["permissions"]}
    assert {"publish", "read", "api", "metrics"} <= actions


def test_cameras_are_declared_paths_publishing_from_a_publisher(config):
    cameras = [name for name in config["paths"] if name != "all_others"]
    assert cameras, "declare at least the example cameras"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in cameras)
    assert config["pathDefaults"]["source"] == "publisher"
