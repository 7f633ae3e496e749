"""capture/command.py's buffer reading: the capture-side bitrate. ffmpeg says bitrate=N/A
and total_size=N/A for RTSP and tee outputs (checked with Debian's ffmpeg 5.1), so it is
measured on the segment buffer: the playlist's durations and the segment files' sizes
(the agent reporting it: test_agent_real.py). The ffmpeg command itself:
test_config.py, test_publish_credentials.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.capture.command import buffer_bitrate, playlist_segments

# What ffmpeg's segment muxer writes (segment_list_flags=live), verbatim from a run.
PLAYLIST = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-ALLOW-CACHE:NO
#EXT-X-TARGETDURATION:1
#EXTINF:1.000000,
seg000.ts
#EXTINF:1.000000,
seg001.ts
#EXTINF:1.000000,
seg002.ts
#EXTINF:0.900000,
seg003.ts
"""


def test_playlist_lists_finished_segments_with_their_durations() -> None:
    assert playlist_segments(PLAYLIST) == [
        ("seg000.ts", 1.0),
        ("seg001.ts", 1.0),
        ("seg002.ts", 1.0),
        ("seg003.ts", 0.9),
    ]


def test_bitrate_is_bytes_over_seconds_of_the_newest_segments() -> None:
    sizes = {"seg000.ts": 999_999, "seg001.ts": 25_000, "seg002.ts": 25_000, "seg003.ts": 22_500}
    # seg000 is left out: with the list as long as the wrap, ffmpeg may be rewriting it.
    assert buffer_bitrate(PLAYLIST, sizes) == pytest.approx(72_500 * 8 / 2.9)
    assert buffer_bitrate(PLAYLIST, sizes, newest=1) == pytest.approx(22_500 * 8 / 0.9)


@pytest.mark.parametrize(
    ("playlist", "sizes"),
    [
        ("", {}),
        (PLAYLIST, {}),  # rotated away
        ("#EXTINF:1.0,\nseg000.ts\n", {"seg000.ts": 10}),  # only the entry being rewritten
        ("#EXTINF:0,\nseg000.ts\n#EXTINF:0,\nseg001.ts\n", {"seg001.ts": 10}),
    ],
)
def test_no_bitrate_without_data(playlist: str, sizes: dict[str, int]) -> None:
    assert buffer_bitrate(playlist, sizes) is None


@given(st.text(max_size=300), st.dictionaries(st.text(max_size=12), st.integers(0, 10**9)))
def test_any_playlist_gives_a_finite_bitrate_or_none(text: str, sizes: dict[str, int]) -> None:
    bits = buffer_bitrate(text, sizes)
    assert bits is None or 0 <= bits < float("inf")
    for name, seconds in playlist_segments(text):
        assert name.startswith("seg")
        assert name.endswith(".ts")
        assert seconds >= 0
