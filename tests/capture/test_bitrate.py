"""The capture-side bitrate: ffmpeg says bitrate=N/A and total_size=N/A for RTSP and tee
outputs (checked with Debian's ffmpeg 5.1), so it is measured on the segment buffer:
the playlist's durations and the segment files' sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.processes import wait_until

from trashmonitor.capture.command import buffer_bitrate, playlist_segments

from .conftest import StartAgent
from .harness import SMALL, Peer

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


@pytest.mark.slow
def test_streaming_agent_reports_the_bitrate_it_was_told(
    start_agent: StartAgent, peer: Peer, tmp_path: Path
) -> None:
    """Real ffmpeg publishing over RTSP with the tee'd buffer, BITRATE=200k: the gauge
    says about 200 kbit/s (x264 at ultrafast, MPEG-TS overhead: a wide band)."""
    peer.start()
    agent = start_agent(
        "--camera-dev", "testsrc", "--push-url", peer.url, *SMALL, "--bitrate", "200k",
        "--buffer-dir", str(tmp_path / "buffer"), "--buffer-segments", "10",
    )  # fmt: skip
    agent.wait_state("streaming", 30)
    assert agent.value("trashcam_output_bytes_total") == 0  # ffmpeg says N/A for RTSP/tee
    bytes_per_second = wait_until(
        lambda: agent.value("trashcam_bitrate_bytes_per_second"), 30, what="bitrate"
    )
    assert 100_000 / 8 < bytes_per_second < 400_000 / 8
