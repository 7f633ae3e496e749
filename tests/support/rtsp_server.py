"""A real RTSP server for the playback tests: GStreamer's RTSP server (Debian's
``gir1.2-gst-rtsp-server-1.0``), run by Debian's ``/usr/bin/python3`` (it has ``gi``; the
project's venv need not) as a process of its own:

    /usr/bin/python3 tests/support/rtsp_server.py [--fps 15] [--slow-seconds 2.5]

It binds 127.0.0.1 on a port the kernel picks, prints ``port N`` on stdout once it
serves, and serves until SIGTERM or SIGINT. Every mount is a fresh live pipeline per
client: H.264 (x264, one slice per picture, a keyframe every ``--fps`` frames: 1 s), RTP
over the RTSP connection.

- ``/healthy``  a moving picture (SMPTE bars scrolling sideways)
- ``/black``    a black picture
- ``/frozen``   a still picture that is not black (flat grey)
- ``/slow``     the healthy stream, but after the first packet (which the server needs to
  answer DESCRIBE) every packet of the first ``--slow-seconds`` of stream time is
  dropped: the session is set up at once, and the first picture a client can decode is
  the keyframe after that gap

Tests start it through ``support.rtsp_sources.rtsp_server``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

SIZE = "width=320,height=240"
MOVING = "pattern=smpte horizontal-speed=4"
BLACK = "pattern=black"
GREY = "pattern=solid-color foreground-color=0xff808080"


def launch_line(pattern: str, fps: int) -> str:
    """videotestsrc → x264 → RTP H.264 as ``pay0`` (what the RTSP server streams)."""
    source = f"videotestsrc is-live=true {pattern} ! video/x-raw,{SIZE},framerate={fps}/1"
    # threads=1: one slice per picture (zerolatency's sliced threads make ffmpeg conceal
    # "errors" in the first picture); config-interval=-1: SPS/PPS before every keyframe.
    encoder = (
        f"x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={fps} bitrate=300"
    )
    return f"( {source} ! {encoder} ! rtph264pay name=pay0 pt=96 config-interval=-1 )"


def drop_first(gap_seconds: float) -> Any:
    """A ``media-configure`` handler: on each new session's payloader, pass the first
    packet (the server answers DESCRIBE once one reached it), then drop every packet
    until ``gap_seconds`` of stream time have passed."""

    def configure(_factory: Any, media: Any) -> None:
        payloader = media.get_element().get_by_name("pay0")
        first: list[int] = []

        def probe(_pad: Any, info: Any) -> Any:
            if info.type & Gst.PadProbeType.BUFFER_LIST:
                pts = info.get_buffer_list().get(0).pts
            else:
                pts = info.get_buffer().pts
            if not first:
                first.append(pts)
                return Gst.PadProbeReturn.OK
            if pts - first[0] < gap_seconds * Gst.SECOND:
                return Gst.PadProbeReturn.DROP
            return Gst.PadProbeReturn.OK

        kinds = Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST
        payloader.get_static_pad("src").add_probe(kinds, probe)

    return configure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--slow-seconds", type=float, default=2.5)
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    mounts = server.get_mount_points()
    for mount, pattern in (
        ("/healthy", MOVING),
        ("/black", BLACK),
        ("/frozen", GREY),
        ("/slow", MOVING),
    ):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(pattern, args.fps))
        factory.set_shared(False)
        if mount == "/slow":
            factory.connect("media-configure", drop_first(args.slow_seconds))
        mounts.add_factory(mount, factory)
    if server.attach(None) == 0:
        sys.exit("rtsp_server: could not bind a port")
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"port {server.get_bound_port()}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
