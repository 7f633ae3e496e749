"""server/mediamtx.yml against the keys of the pinned MediaMTX version.

No MediaMTX binary can run here, so the check is static: every key must exist in
v1.20.1's default configuration (tests/server/fixtures/mediamtx-keys-v1.20.1.json,
derived from MediaMTX's published mediamtx.yml) with a value of the same YAML type.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
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


def test_every_key_exists_in_the_pinned_version(
    config: dict[str, Any], reference: dict[str, Any]
) -> None:
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
    config: dict[str, Any], reference: dict[str, Any], mutation: dict[str, Any], expected: str
) -> None:
    broken = {**config, **mutation}
    assert any(expected in problem for problem in config_problems(broken, reference))


def test_ports_and_streaming_settings_match_the_contract(config: dict[str, Any]) -> None:
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


# --- who may do what (docs/security.md, section 1) --------------------------------------

# A password MediaMTX could accept: plain text, or a well-formed sha256 digest / argon2.
REAL_SHA256 = re.compile(r"sha256:[A-Za-z0-9+/]{43}=")
PRIVILEGED = {"api", "metrics", "pprof", "publish", "playback"}


def is_anonymous(user: dict[str, Any]) -> bool:
    """``any`` (MediaMTX's anyone), or any user whose empty password everyone knows."""
    return user.get("user") == "any" or not user.get("pass")


def committed_secret(user: dict[str, Any]) -> bool:
    """A committed password someone could log in with (the shipped ones are unmatchable
    placeholders the environment overrides)."""
    password = str(user.get("pass") or "")
    if not password or user.get("user") == "any":
        return False
    return bool(REAL_SHA256.fullmatch(password)) or not password.startswith("sha256:")


def auth_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    users = config.get("authInternalUsers") or []
    if config.get("authMethod") != "internal":
        problems.append(f"authMethod {config.get('authMethod')!r}: the users below are ignored")
    for index, user in enumerate(users):
        actions = {p.get("action") for p in user.get("permissions") or []}
        if is_anonymous(user) and actions & PRIVILEGED:
            granted = sorted(actions & PRIVILEGED)
            problems.append(f"authInternalUsers[{index}]: anonymous {granted}")
        if committed_secret(user):
            problems.append(f"authInternalUsers[{index}]: a usable password is committed")
        for permission in user.get("permissions") or []:
            if permission.get("action") == "publish" and not permission.get("path"):
                problems.append(f"authInternalUsers[{index}]: publish on every path")
    for key in ("apiAllowOrigins", "hlsAllowOrigins"):
        if config.get(key) != []:
            problems.append(f"{key}: {config.get(key)!r}, not empty")
    paths = config.get("paths") or {}
    for name, settings in {"pathDefaults": config.get("pathDefaults") or {}, **paths}.items():
        if (settings or {}).get("overridePublisher") is not False and name == "pathDefaults":
            problems.append("pathDefaults.overridePublisher: not false")
        if (settings or {}).get("overridePublisher") is True and name != "pathDefaults":
            problems.append(f"paths.{name}.overridePublisher: true")
    if "all_others" in paths or any(name.startswith("~") for name in paths):
        problems.append("paths: accepts publishers on any name")
    return problems


def test_nobody_anonymous_may_use_the_api_metrics_or_publish(config: dict[str, Any]) -> None:
    assert auth_problems(config) == []


def anonymous_api(config: dict[str, Any]) -> None:
    config["authInternalUsers"].append(
        {"user": "any", "pass": None, "ips": [], "permissions": [{"action": "api"}]}
    )


def empty_password_reader(config: dict[str, Any]) -> None:
    config["authInternalUsers"][0]["pass"] = None


def localhost_api(config: dict[str, Any]) -> None:
    """MediaMTX's own default: Caddy's requests come from 127.0.0.1 too (GUIDE §4)."""
    config["authInternalUsers"].append(
        {"user": "any", "pass": "", "ips": ["127.0.0.1/32"], "permissions": [{"action": "api"}]}
    )


def committed_password(config: dict[str, Any]) -> None:
    config["authInternalUsers"][2]["pass"] = "hunter2"


def committed_hash(config: dict[str, Any]) -> None:
    config["authInternalUsers"][2]["pass"] = "sha256:" + "A" * 43 + "="


def publish_anywhere(config: dict[str, Any]) -> None:
    config["authInternalUsers"][2]["permissions"] = [{"action": "publish"}]


def all_others(config: dict[str, Any]) -> None:
    config["paths"]["all_others"] = None


def any_origin(config: dict[str, Any]) -> None:
    config["apiAllowOrigins"] = ["*"]


def takeover(config: dict[str, Any]) -> None:
    config["pathDefaults"]["overridePublisher"] = True


def takeover_one_path(config: dict[str, Any]) -> None:
    config["paths"]["cam1"] = {"overridePublisher": True}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (anonymous_api, "anonymous ['api']"),
        (empty_password_reader, "authInternalUsers[0]: anonymous ['api', 'metrics']"),
        (localhost_api, "anonymous ['api']"),
        (committed_password, "a usable password is committed"),
        (committed_hash, "a usable password is committed"),
        (publish_anywhere, "publish on every path"),
        (all_others, "accepts publishers on any name"),
        (any_origin, "apiAllowOrigins"),
        (takeover, "pathDefaults.overridePublisher"),
        (takeover_one_path, "paths.cam1.overridePublisher"),
    ],
)
def test_the_auth_check_catches_each_hostile_setting(
    config: dict[str, Any], mutate: Callable[[dict[str, Any]], object], expected: str
) -> None:
    broken = copy.deepcopy(config)
    mutate(broken)
    assert any(expected in problem for problem in auth_problems(broken)), auth_problems(broken)


def test_the_seed_config_fails_the_auth_check() -> None:
    """The configuration issue 11 §1 reproduced the takeover with."""
    seed = {
        "authMethod": "internal",
        "authInternalUsers": [
            {
                "user": "any",
                "pass": None,
                "ips": [],
                "permissions": [{"action": a} for a in ("publish", "read", "api", "metrics")],
            }
        ],
        "hlsAllowOrigins": ["*"],
        "pathDefaults": {"source": "publisher", "overridePublisher": True},
        "paths": {"cam1": None, "all_others": None},
    }
    assert len(auth_problems(seed)) == 6


def test_the_reader_is_item_0_as_the_entrypoint_overrides_it(config: dict[str, Any]) -> None:
    reader = config["authInternalUsers"][0]
    assert {p["action"] for p in reader["permissions"]} == {"api", "metrics"}
    entrypoint = (REPO / "server" / "entrypoint").read_text(encoding="utf-8")
    assert "MTX_AUTHINTERNALUSERS_0_USER" in entrypoint
    assert "MTX_AUTHINTERNALUSERS_0_PASS" in entrypoint


def test_every_camera_has_its_own_publisher_scoped_to_its_path(config: dict[str, Any]) -> None:
    publishers = {
        user["user"]: [p.get("path") for p in user["permissions"] if p["action"] == "publish"]
        for user in config["authInternalUsers"]
        if any(p["action"] == "publish" for p in user["permissions"])
    }
    assert publishers == {name: [name] for name in config["paths"]}


def test_cameras_are_declared_paths_publishing_from_a_publisher(config: dict[str, Any]) -> None:
    cameras = list(config["paths"])
    assert cameras, "declare at least the example cameras"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in cameras)
    assert config["pathDefaults"]["source"] == "publisher"


def test_publisher_changes_run_the_monitor_hook(
    config: dict[str, Any], reference: dict[str, Any]
) -> None:
    """runOnOnline/runOnOffline (keys of the pinned version: the check above) call the
    hook's lightweight entry point, for every path."""
    defaults = config["pathDefaults"]
    assert defaults["runOnOnline"] == "trashmon-hook online"
    assert defaults["runOnOffline"] == "trashmon-hook offline"
    assert "runOnOnline" in reference["pathDefaults"]
    for name, path in (config.get("paths") or {}).items():
        assert not {"runOnOnline", "runOnOffline"} & set(path or {}), name
