"""The /api/status renderer's kept texts (monitor/status.py): the dict encoder built once
writes what ``json.dumps`` writes (with or without the C module), and a camera's fields
are split around its moving numbers into text that joins back to the whole object."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.monitor import status
from trashmonitor.monitor.model import AgentView, CameraHealth

NOW = 1_763_700_000.0
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8)
)
documents = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=6,
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@given(documents)
def test_the_encoder_built_once_writes_what_json_dumps_writes(document: dict[str, Any]) -> None:
    assert status._dumps_object(document) == dumps(document)


def test_without_the_c_module_the_encoder_is_json_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    encode = status._object_encoder()
    assert encode is status._dumps
    assert (
        encode({"a": [1.5, None, "é"], "b": float("nan")}) == '{"a":[1.5,null,"\\u00e9"],"b":NaN}'
    )


names = st.text(min_size=1, max_size=12)
agents = st.one_of(
    st.none(),
    st.builds(AgentView, names, st.booleans(), st.just(NOW), fps=st.sampled_from([None, 14.5])),
)


cameras = st.builds(
    CameraHealth,
    names,
    st.sampled_from(["ok", "down"]),
    st.lists(st.sampled_from(["stalled", "agent_stale"]), max_size=2).map(tuple),
    st.booleans(),
    codec=st.one_of(st.none(), st.text(max_size=6)),
    readers=st.one_of(st.none(), st.integers(0, 3)),
    online_since=st.one_of(st.none(), st.floats()),
    agent=agents,
)


@given(cameras)
def test_the_pieces_join_back_to_the_whole_object(camera: CameraHealth) -> None:
    """Whatever the fixed fields (names and codecs to escape, nan, an agent), the kept
    pieces with the moving numbers written between them are the whole object."""
    moving = camera._replace(inbound_bytes=7, inbound_bytes_per_second=1.25, last_inbound_at=NOW)
    document = status.camera_document(moving)
    head, after_rate, after_bytes, tail = status._pieces(document)
    joined = f"{head}1.2{after_rate}7{after_bytes}{dumps(NOW)}{tail}}}"
    assert joined == dumps(document)
