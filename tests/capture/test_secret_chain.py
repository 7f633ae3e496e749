"""No password reachable from the error about a capture password file (MQTT/publish):
not in the error, its ``__context__`` (``from None`` only hides it), nor any frame's
locals of its traceback; and no error about a value sent over MQTT keeps the parser's
error echoing it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.secret_walk import chain, leaks

from trashmonitor.capture.config import read_password_file
from trashmonitor.capture.panel import parse_snapshot_interval
from trashmonitor.capture.v4l2 import Control
from trashmonitor.errors import ConfigError, ControlError

PASSWORD = "capture-Pa55word-1b7e"


def found_in(error: BaseException) -> list[str]:
    # Not inline in the assert: pytest keeps an asserted call's arguments as locals.
    return leaks(error, (PASSWORD,))


def test_a_non_utf8_password_file_error_reaches_no_password(tmp_path: Path) -> None:
    """Reproduction: the ConfigError's __context__ was the UnicodeDecodeError holding the
    file's bytes, and the reading frame kept them as a local."""
    password_file = tmp_path / "publish.password"
    password_file.write_bytes(PASSWORD.encode() + b"\xff\n")
    with pytest.raises(ConfigError, match="not UTF-8") as raised:
        read_password_file("--publish-password-file", password_file)
    assert found_in(raised.value) == []


HOSTILE = "x" * 60 + "-hostile-tail-6d1f"


@pytest.mark.parametrize(
    "parse",
    [
        parse_snapshot_interval,
        Control(0x00980900, "brightness", "int", minimum=0, maximum=255).parse_value,
    ],
    ids=["snapshot interval", "control value"],
)
def test_an_mqtt_value_error_chains_no_parser_error(parse: Callable[[str], object]) -> None:
    """Reproduction: ``from None`` kept float()'s/int()'s error, echoing the whole value
    sent over MQTT, as __context__; the message shows at most 40 characters."""
    with pytest.raises(
        (ValueError, ControlError), match=r"expected seconds|brightness needs"
    ) as raised:
        parse(HOSTILE)
    assert list(chain(raised.value)) == [raised.value]
    assert "hostile-tail" not in str(raised.value)
