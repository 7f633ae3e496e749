"""MQTT payloads are outside input (issue 12 point 9): whatever bytes arrive on a control
topic give a request or a refusal, and whatever arrives on an agent's status/state topic
gives views the health model can use, never an exception, in bounded time."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.properties import PROPERTIES, bounded

from trashmonitor.capture.control import (
    MAX_PAYLOAD_BYTES,
    MAX_RECORD_SECONDS,
    MIN_RECORD_SECONDS,
    parse_action,
    parse_setting,
)
from trashmonitor.capture.model import ActionRequest, Rejected, SettingRequest
from trashmonitor.monitor.agents import fold
from trashmonitor.monitor.model import AgentMessage, AgentView

_KNOWN_KEYS = st.sampled_from(
    ["action", "seconds", "control", "value", "ts", "state", "fps", "target_fps", "black",
     "frozen", "restarts", "heartbeat", "x"]
)  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_KNOWN_KEYS, children, max_size=6)
    ),
    max_leaves=20,
)
_PAYLOADS = st.one_of(
    st.binary(max_size=MAX_PAYLOAD_BYTES + 64),
    st.text(max_size=200).map(str.encode),
    _JSON.map(lambda document: json.dumps(document).encode()),  # NaN/Infinity included
    st.sampled_from([b"record 1e309", b"record nan", b"picture\x00", b"record -0", b"{"]),
)


@pytest.mark.parametrize(
    ("parse", "request_type"), [(parse_setting, SettingRequest), (parse_action, ActionRequest)]
)
@PROPERTIES
@given(payload=_PAYLOADS)
def test_any_setting_or_action_payload_is_a_request_or_a_refusal(
    parse: Callable[[bytes], object], request_type: type, payload: bytes
) -> None:
    result = bounded(lambda: parse(payload))
    assert isinstance(result, request_type | Rejected)
    if isinstance(result, ActionRequest) and result.action == "record":
        assert result.seconds is not None
        assert MIN_RECORD_SECONDS <= result.seconds <= MAX_RECORD_SECONDS
    if isinstance(result, Rejected):
        assert result.message.isprintable()


_TOPICS = st.one_of(
    st.tuples(
        st.sampled_from(["cam1", "cam2", "a" * 64, "bad id", "+", "#", ""]),
        st.sampled_from(["status", "state", "events", "status/x"]),
    ).map(lambda parts: f"trashcam/{parts[0]}/{parts[1]}"),
    st.text(max_size=40),
)
_AGENT_PAYLOADS = st.one_of(
    _PAYLOADS,
    st.sampled_from([b"online", b"offline", b""]),
    _JSON.map(lambda document: json.dumps(document).encode()),
)
_TIMES = st.floats(min_value=0, max_value=4e9, allow_nan=False)


def _check_view(view: AgentView) -> None:
    for value in (view.fps, view.target_fps, view.heartbeat, view.last_state_at):
        assert value is None or math.isfinite(value)
    assert math.isfinite(view.status_changed_at)
    assert isinstance(view.restarts, int)
    assert view.restarts >= 0
    assert view.stream_state is None or isinstance(view.stream_state, str)


@PROPERTIES
@given(st.lists(st.tuples(_TOPICS, _AGENT_PAYLOADS, _TIMES), max_size=12))
def test_any_agent_messages_fold_into_usable_views(
    messages: list[tuple[str, bytes, float]],
) -> None:
    views: dict[str, AgentView] = {}
    for topic, payload, at in messages:
        views = bounded(lambda: fold(views, AgentMessage(topic, payload, at)))  # noqa: B023
        for view in views.values():
            _check_view(view)
