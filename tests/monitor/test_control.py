"""The camera-control API of the monitor (monitor/control.py) without sockets: the body
parsers (hypothesis), the cross-site checks, the bounded store and every refusal of a
POST, in the order the API applies them. Time is a parameter: nothing sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.properties import PROPERTIES, bounded

from trashmonitor.capture.control import MAX_RECORD_SECONDS, parse_action, parse_setting
from trashmonitor.capture.model import ActionRequest, SettingRequest
from trashmonitor.capture.panel import controls_payload
from trashmonitor.capture.v4l2 import parse_controls
from trashmonitor.monitor.control import (
    MAX_COMMAND_BYTES,
    MAX_EVENTS,
    MAX_SNAPSHOT_BYTES,
    BadBody,
    Command,
    ControlApi,
    PanelStore,
    cross_site_reason,
    parse_action_body,
    parse_controls_document,
    parse_setting_body,
)
from trashmonitor.serving import Request

C920 = Path(__file__).parents[1] / "capture" / "fixtures" / "c920-list-ctrls-menus.txt"
SAME_SITE = {"x-trashmon-control": "1", "host": "127.0.0.1:8080"}
JPEG = b"\xff\xd8\xff\xe0" + b"j" * 100

# --- body parsers -------------------------------------------------------------------------

_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=80),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers()),
)  # fmt: skip
_DOCUMENTS = st.dictionaries(
    st.sampled_from(["control", "value", "action", "seconds", "x"]), _VALUES, max_size=4
)
_BODIES = st.one_of(
    st.binary(max_size=MAX_COMMAND_BYTES + 64),
    _DOCUMENTS.map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries(
        {"control": st.from_regex(r"[a-z][a-z0-9_]{0,70}", fullmatch=True), "value": _VALUES}
    ).map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["picture", "record", "stop", "dance"]), "seconds": _VALUES}
    ).map(lambda d: json.dumps(d).encode()),
)


def command_or_refusal(
    parse: Callable[[bytes], Command | BadBody], body: bytes, leaf: str
) -> Command | None:
    """``parse(body)`` in bounded time: the command for ``leaf``, or None for a refusal
    whose message is one non-empty line."""
    parsed = bounded(lambda: parse(body))
    assert isinstance(parsed, Command | BadBody)
    if isinstance(parsed, BadBody):
        assert parsed.message
        assert "\n" not in parsed.message
        return None
    assert parsed.leaf == leaf
    return parsed


@PROPERTIES
@given(_BODIES)
def test_a_setting_body_is_a_command_the_agent_parses_or_a_bad_body(body: bytes) -> None:
    command = command_or_refusal(parse_setting_body, body, "settings")
    if command is not None:
        request = parse_setting(command.payload)  # what the agent does with it
        assert isinstance(request, SettingRequest), request
        assert request.control == json.loads(body)["control"]


@PROPERTIES
@given(_BODIES)
def test_an_action_body_is_a_command_the_agent_parses_or_a_bad_body(body: bytes) -> None:
    command = command_or_refusal(parse_action_body, body, "action")
    if command is not None:
        document = json.loads(body)
        request = parse_action(command.payload, max_seconds=86_400)
        assert isinstance(request, ActionRequest), request
        assert request.action == document["action"]
        if request.action == "record":
            assert request.seconds == document["seconds"]


@pytest.mark.parametrize(
    ("parse", "body"),
    [
        (parse_setting_body, b'{"control": "brightness"}'),
        (parse_setting_body, b'{"control": "brightness", "value": 1, "extra": 2}'),
        (parse_setting_body, b'{"control": "../etc", "value": 1}'),
        (parse_setting_body, b'{"control": "brightness", "value": {"a": 1}}'),
        (parse_setting_body, b'{"control": "brightness", "value": "a\\nb"}'),
        (parse_setting_body, b'{"control": "brightness", "value": 1.5}'),
        (parse_setting_body, b"brightness 128"),
        (parse_setting_body, b"[1]"),
        (parse_setting_body, b"\xff\xfe"),
        (parse_action_body, b'{"action": "record"}'),
        (parse_action_body, b'{"action": "record", "seconds": 0}'),
        (parse_action_body, b'{"action": "record", "seconds": true}'),
        (parse_action_body, b'{"action": "record", "seconds": "10"}'),
        (parse_action_body, b'{"action": "record", "seconds": 1e309}'),
        (parse_action_body, b'{"action": "picture", "seconds": 3}'),
        (parse_action_body, b'{"action": "format-disk"}'),
        (parse_action_body, b'{"action": "stop", "x": 1}'),
    ],
)
def test_malformed_setting_and_action_bodies_are_bad_bodies(
    parse: Callable[[bytes], object], body: bytes
) -> None:
    assert isinstance(parse(body), BadBody)


def test_good_bodies_become_the_agents_json_requests() -> None:
    setting = parse_setting_body(b'{"control": "focus_automatic_continuous", "value": false}')
    assert setting == Command(
        "settings", b'{"control": "focus_automatic_continuous", "value": 0}',
        "focus_automatic_continuous=0",
    )  # fmt: skip
    record = parse_action_body(b'{"action": "record", "seconds": 3}')
    assert isinstance(record, Command)
    assert parse_action(record.payload, MAX_RECORD_SECONDS) == ActionRequest("record", 3.0)


# --- cross-site checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "127.0.0.1:8080"},  # no custom header: a form or a plain fetch
        {**SAME_SITE, "x-trashmon-control": "0"},
        {**SAME_SITE, "origin": "http://evil.example"},
        {**SAME_SITE, "origin": "http://127.0.0.1:8081"},
        {**SAME_SITE, "origin": "http://127.0.0.1"},  # port 80: another origin
        {**SAME_SITE, "origin": "null"},
        {**SAME_SITE, "origin": "http://127.0.0.1:8080.evil.example"},
        {**SAME_SITE, "sec-fetch-site": "cross-site"},
        {**SAME_SITE, "sec-fetch-site": "same-site"},
    ],
)
def test_cross_site_requests_are_named(headers: Mapping[str, str]) -> None:
    assert cross_site_reason(headers) is not None


@pytest.mark.parametrize(
    "headers",
    [
        SAME_SITE,  # curl: no Origin, no Sec-Fetch-Site
        {**SAME_SITE, "origin": "http://127.0.0.1:8080", "sec-fetch-site": "same-origin"},
        {"x-trashmon-control": "1", "host": "cams.example.ts.net", "origin": "http://cams.example.ts.net"},
        {"x-trashmon-control": "1", "host": "cams.example.ts.net", "origin": "https://cams.example.ts.net:443"},
    ],
)  # fmt: skip
def test_same_origin_requests_pass(headers: Mapping[str, str]) -> None:
    assert cross_site_reason(headers) is None


# --- the store ----------------------------------------------------------------------------


def _c920_payload() -> bytes:
    return controls_payload("camA", parse_controls(C920.read_text()), 1.0)


def test_the_store_keeps_the_agents_table_cleaned_and_bounded() -> None:
    store = PanelStore(max_cameras=2)
    store.hear("trashcam/camA/status", b"online")
    store.hear("trashcam/camA/controls", _c920_payload())
    store.hear("trashcam/camA/camera", JPEG)
    for index in range(MAX_EVENTS + 5):
        event = {"request": f"r{index}", "ok": True, "message": "m", "ts": 1.0, "file": None}
        store.hear("trashcam/camA/events", json.dumps(event).encode())
    panel = store.panel("camA")
    assert panel is not None
    assert panel.online
    focus = next(c for c in panel.controls if c["name"] == "focus_absolute")
    assert focus == {**focus, "type": "int", "inactive": True, "step": 5,
                     "auto_pair": "focus_automatic_continuous"}  # fmt: skip
    power = next(c for c in panel.controls if c["name"] == "power_line_frequency")
    assert power["menu"] == [{"index": 0, "label": "Disabled"}, {"index": 1, "label": "50 Hz"},
                             {"index": 2, "label": "60 Hz"}]  # fmt: skip
    assert panel.snapshot == JPEG
    assert [e["request"] for e in panel.events] == [f"r{i}" for i in range(5, MAX_EVENTS + 5)]


def test_hostile_panel_messages_are_dropped_or_cleaned() -> None:
    store = PanelStore(max_cameras=2)
    store.hear("trashcam/camA/status", b"online")
    store.hear("trashcam/camA/camera", b"<script>alert(1)</script>")  # not a JPEG
    store.hear("trashcam/camA/camera", b"\xff\xd8" + b"x" * MAX_SNAPSHOT_BYTES)  # too big
    store.hear("trashcam/camA/controls", b'{"controls": [{"name": "<img>", "type": "int"},'
               b'{"name": "gain", "type": "int", "value": "1; rm", "evil": 1}]}')  # fmt: skip
    store.hear("trashcam/camA/events", b'{"ok": "yes"}')
    panel = store.panel("camA")
    assert panel is not None
    assert panel.snapshot is None
    assert panel.controls == ({"name": "gain", "type": "int", "min": None, "max": None,
                               "step": None, "default": None, "value": None, "menu": [],
                               "inactive": False, "auto_pair": None},)  # fmt: skip
    assert list(panel.events) == []
    assert parse_controls_document(b'{"controls": [' + b" " * 70_000 + b"]}") is None


def test_cameras_beyond_the_limit_are_not_kept() -> None:
    store = PanelStore(max_cameras=2)
    for camera in ("cam1", "cam2", "cam3"):
        store.hear(f"trashcam/{camera}/status", b"online")
        store.hear(f"trashcam/{camera}/camera", JPEG)
    store.hear("trashcam/cam4/status", b"offline")  # never takes a slot
    assert store.panel("cam3") is None
    assert store.panel("cam4") is None
    assert store.dropped == 2
    store.hear("trashcam/cam1/status", b"")  # a retired camera frees its slot
    store.hear("trashcam/cam3/status", b"online")
    assert store.panel("cam1") is None
    assert store.panel("cam3") is not None


# --- the API: refusals in order -----------------------------------------------------------


class Sent:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def __call__(self, topic: str, payload: bytes) -> bool:
        self.messages.append((topic, payload))
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _post(
    api: ControlApi, path: str, body: bytes, headers: Mapping[str, str] = SAME_SITE
) -> tuple[int, Any]:
    request = Request("POST", path, {}, dict(headers), body, "192.0.2.7")
    response = api.handle(request)
    return response.status, json.loads(response.body)


def _store(online: bool = True) -> PanelStore:
    store = PanelStore(max_cameras=10)
    store.hear("trashcam/camA/status", b"online")
    store.hear("trashcam/camA/controls", _c920_payload())
    if not online:
        store.hear("trashcam/camA/status", b"offline")
    return store


PICTURE = b'{"action": "picture"}'


def test_a_command_is_sent_to_the_agents_topic_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    sent = Sent()
    api = ControlApi(_store(), sent, Clock())
    caplog.set_level("INFO")
    assert _post(api, "/api/cameras/camA/actions", PICTURE) == (202, {"sent": True})
    body = b'{"control": "brightness", "value": 10}'
    assert _post(api, "/api/cameras/camA/settings", body) == (202, {"sent": True})
    assert sent.messages == [
        ("trashcam/camA/control/action", b'{"action": "picture"}'),
        ("trashcam/camA/control/settings", b'{"control": "brightness", "value": 10}'),
    ]
    assert "control camA actions from 192.0.2.7: picture -> 202 sent" in caplog.text


def test_control_off_is_403_and_the_panel_says_so() -> None:
    api = ControlApi(_store(), None, Clock())
    assert _post(api, "/api/cameras/camA/actions", PICTURE)[0] == 403
    response = api.handle(Request("GET", "/api/cameras/camA/controls", {}, {}, b"", "x"))
    document = json.loads(response.body)
    assert document["control_enabled"] is False
    assert document["online"] is True
    assert {c["name"] for c in document["controls"]} >= {"brightness", "focus_absolute"}


@pytest.mark.parametrize(
    "headers",
    [{"host": "127.0.0.1:8080"}, {**SAME_SITE, "origin": "http://evil.example"}],
    ids=["no-header", "cross-site-origin"],
)
def test_cross_site_posts_are_403_and_send_nothing(headers: Mapping[str, str]) -> None:
    sent = Sent()
    api = ControlApi(_store(), sent, Clock())
    status, document = _post(api, "/api/cameras/camA/actions", PICTURE, headers)
    assert status == 403
    assert "cross-site" in document["error"]
    assert sent.messages == []


def test_an_offline_agent_is_409_and_gets_nothing() -> None:
    sent = Sent()
    api = ControlApi(_store(online=False), sent, Clock())
    assert _post(api, "/api/cameras/camA/actions", PICTURE) == (409, {"error": "agent offline"})
    assert sent.messages == []


def test_unknown_cameras_and_bad_bodies() -> None:
    sent = Sent()
    api = ControlApi(_store(), sent, Clock())
    assert _post(api, "/api/cameras/camZ/actions", PICTURE)[0] == 404
    assert _post(api, "/api/cameras/camA/actions", b'{"action": "dance"}')[0] == 400
    assert _post(api, "/api/cameras/camA/other", PICTURE)[0] == 404
    assert _post(api, "/api/cameras/../actions", PICTURE)[0] == 404
    assert sent.messages == []
    get = api.handle(Request("GET", "/api/cameras/camA/settings", {}, {}, b"", "x"))
    assert get.status == 405


def test_the_rate_limit_allows_a_burst_of_5_then_2_per_second_per_camera() -> None:
    sent, clock = Sent(), Clock()
    store = _store()
    store.hear("trashcam/camB/status", b"online")
    api = ControlApi(store, sent, clock)
    statuses = [_post(api, "/api/cameras/camA/actions", PICTURE)[0] for _ in range(7)]
    assert statuses == [202] * 5 + [429] * 2
    assert _post(api, "/api/cameras/camB/actions", PICTURE)[0] == 202  # its own bucket
    clock.now += 0.5
    assert _post(api, "/api/cameras/camA/actions", PICTURE)[0] == 202
    assert _post(api, "/api/cameras/camA/actions", PICTURE)[0] == 429
    assert len(sent.messages) == 7


def test_snapshot_is_served_as_jpeg_and_404_before_the_first() -> None:
    store = _store()
    api = ControlApi(store, None, Clock())
    request = Request("GET", "/api/cameras/camA/snapshot", {}, {}, b"", "x")
    assert api.handle(request).status == 404
    store.hear("trashcam/camA/camera", JPEG)
    response = api.handle(request)
    assert (response.status, response.content_type, response.body) == (200, "image/jpeg", JPEG)
