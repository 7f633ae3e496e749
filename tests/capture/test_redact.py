"""Redaction (capture/redact.py) of what ffmpeg and the agent print: a URL's userinfo is
masked whole, split on its LAST "@", and known secrets wherever they appear."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.capture.redact import redact

# Characters that break naive URL handling: "@" (the userinfo separator), ":" (the
# user/password separator), "/", "%", "?", "#" and a space.
PASSWORD = "p@ss w:rd/%?#x"
ENCODED = quote(PASSWORD, safe="")
# Where redaction ends a URL (documented in docs/capture.md): ASCII whitespace, quotes,
# angle brackets and the tee separator.
URL_ENDS = " \t\n\r\f\v'\"<>|"


def test_redaction_splits_the_userinfo_on_the_last_at() -> None:
    """Today's main cut at the FIRST "@" and left the rest of the password in view."""
    line = "Could not write header for rtsp://cam1:s3cr@tail@mtx.example:8554/cam1 (401)"
    assert redact(line) == "Could not write header for rtsp://***@mtx.example:8554/cam1 (401)"


@given(
    user=st.text(alphabet=st.characters(blacklist_characters=URL_ENDS), min_size=1),
    password=st.text(alphabet=st.characters(blacklist_characters=URL_ENDS), min_size=1),
    host=st.from_regex(r"[a-z0-9.-]{1,20}(:[0-9]{1,5})?", fullmatch=True),
    path=st.from_regex(r"[a-zA-Z0-9/_.-]{0,20}", fullmatch=True),
    prefix=st.sampled_from(["", "error: ", "[tee @ 0x55] '", "ffmpeg -i x "]),
)
def test_any_userinfo_is_masked_whole(
    user: str, password: str, host: str, path: str, prefix: str
) -> None:
    for scheme in ("rtsp", "rtsps"):
        text = f"{prefix}{scheme}://{user}:{password}@{host}/{path} next"
        assert redact(text) == f"{prefix}{scheme}://***@{host}/{path} next"


def test_known_secrets_are_masked_wherever_they_appear() -> None:
    text = f"auth failed for 'p@ss w' {ENCODED} and {PASSWORD}"
    assert redact(text, [PASSWORD, "p@ss w"]) == "auth failed for '***' *** and ***"
