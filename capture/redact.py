"""Keep publish credentials out of everything the agent says (logs, errors, output).

ffmpeg needs the password inside the push URL (``rtsp://user:password@host/path``) and
echoes that URL in its errors, so every text that may hold it passes through
:func:`redact` before it is logged or printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
# A URL runs until ASCII whitespace, a quote, or the tee muxer's "|" separator. Not
# "\s": that also stops at control and Unicode space characters a password may hold.
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>[^ \t\n\r\f\v'\"<>|]*)")


def _mask_userinfo(match: re.Match[str]) -> str:
    rest = match["rest"]
    # The userinfo ends at the LAST "@": a raw "@" inside a password (which ffmpeg
    # accepts) must not end it early and leave the password's tail in view. An "@" in
    # the path hides the host too: the safe direction.
    at = rest.rfind("@")
    if at < 0:
        return match[0]
    return f"{match['scheme']}{MASK}@{rest[at + 1 :]}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every URL's ``user:password@`` replaced by ``***@``, and each of
    ``secrets`` (raw and percent-encoded) masked wherever else it appears."""
    text = _URL.sub(_mask_userinfo, text)
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, MASK)
    return text
