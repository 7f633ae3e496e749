"""No password reachable from the error about a capture password file (MQTT/publish):
not in the error, its ``__context__`` (``from None`` only hides it), nor any frame's
locals of its traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.secret_walk import leaks

from trashmonitor.capture.config import read_password_file
from trashmonitor.errors import ConfigError

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
