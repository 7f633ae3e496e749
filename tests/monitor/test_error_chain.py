"""No error about hostile input to the monitor (a hook notice, an incidents query) keeps
the parser's error, which holds or echoes that input, as ``__context__``: ``from None``
only hid it from printed tracebacks."""

from __future__ import annotations

import pytest
from support.secret_walk import chain

from trashmonitor.monitor.hooks import parse_notice
from trashmonitor.monitor.incidents_api import parse_query

HOSTILE = "hostile-input-4b2a"


def test_a_non_json_notice_error_chains_no_decoder_error() -> None:
    """Reproduction: the JSONDecodeError holding the whole body stayed __context__."""
    with pytest.raises(ValueError, match="expected a JSON object") as raised:
        parse_notice(f'{{"event": "{HOSTILE}"'.encode())
    assert list(chain(raised.value)) == [raised.value]


def test_a_bad_incidents_timestamp_error_chains_no_float_error() -> None:
    """Reproduction: float()'s error echoing the query's text stayed __context__."""
    with pytest.raises(ValueError, match="since: expected epoch seconds") as raised:
        parse_query({"since": (HOSTILE,)}, now=1000.0)
    assert list(chain(raised.value)) == [raised.value]
    assert HOSTILE not in str(raised.value)
