"""monitor/status.py without I/O: the ``/api/status`` document of one site and of several
(docs/contracts.md), the probe's table, and the escaping of every cell from outside.
Reports are built by hand. The kept-text renderer (``StatusText``) is checked against
:func:`status_document` in tests/monitor/test_export.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from support.hostile_mediamtx import TERMINAL_NAMES

from trashmonitor.errors import UnreachableError
from trashmonitor.monitor.model import AgentView, CameraHealth, HealthReport
from trashmonitor.monitor.status import (
    agent_document,
    printable,
    sites_document,
    sites_table,
    status_document,
    unpolled_document,
)
from trashmonitor.monitor.status import table as camera_table

# A camera's own fields in /api/status, in the order the contract shows them.
CAMERA_FIELDS = [
    "name", "state", "reasons", "online", "codec", "resolution", "inbound_bytes_per_second",
    "inbound_bytes", "readers", "frames_in_error", "online_since", "last_inbound_at", "agent",
]  # fmt: skip

STREAMING = CameraHealth(
    "cam1", "degraded", ("frames_in_error",), online=True, codec="H264",
    resolution="1280x720", inbound_bytes=73_400_320, inbound_bytes_per_second=51_234.46,
    readers=1, frames_in_error=3, online_since=1000.0, last_inbound_at=1999.6,
)  # fmt: skip
GONE = CameraHealth("cam2", "down", ("no_publisher",), online=False)


# ------------------------------------------------------------------ /api/status


def test_the_status_document_has_the_contracts_fields_and_extras_come_after_them() -> None:
    report = HealthReport(2000.0, (STREAMING, GONE))

    document = status_document(report, "HTTP 500", {"cam1": {"quality": {"grade": "good"}}})

    assert document["generated_at"] == 2000.0
    assert document["mediamtx"] == {"reachable": True, "error": None, "metrics_error": "HTTP 500"}
    assert document["summary"] == {"ok": 0, "degraded": 1, "down": 1, "parked": 0}
    streaming, gone = document["cameras"]
    assert list(streaming) == [*CAMERA_FIELDS, "quality"]
    assert list(gone) == CAMERA_FIELDS  # no extras for this camera: none invented
    assert streaming["inbound_bytes_per_second"] == 51_234.5  # one decimal
    assert streaming["reasons"] == ["frames_in_error"]
    assert streaming["quality"] == {"grade": "good"}
    assert gone["inbound_bytes_per_second"] is None
    assert gone["agent"] is None


def test_an_unseen_mediamtx_is_unreachable_with_its_errors_one_line() -> None:
    report = HealthReport(5.0, (GONE,), UnreachableError("MediaMTX API: connection refused"))

    mediamtx = status_document(report)["mediamtx"]

    assert mediamtx == {
        "reachable": False, "error": "MediaMTX API: connection refused", "metrics_error": None,
    }  # fmt: skip


def test_agent_document_matches_the_contract() -> None:
    view = AgentView(
        "cam1", online=True, status_changed_at=90.0, last_state_at=95.0,
        stream_state="streaming", fps=14.9, target_fps=15, black=False, frozen=True,
        restarts=2, heartbeat=5.0, consecutive_failures=0, bitrate_bps=300_000.0,
    )  # fmt: skip
    assert agent_document(view) == {
        "online": True, "stream_state": "streaming", "fps": 14.9, "target_fps": 15,
        "black": False, "frozen": True, "restarts": 2, "last_state_at": 95.0,
    }  # fmt: skip
    assert agent_document(None) is None


def test_a_site_not_polled_yet_is_unreachable_with_no_cameras() -> None:
    assert unpolled_document("no poll has completed yet") == {
        "generated_at": None,
        "mediamtx": {
            "reachable": False, "error": "no poll has completed yet", "metrics_error": None,
        },
        "summary": {"ok": 0, "degraded": 0, "down": 0, "parked": 0},
        "cameras": [],
    }  # fmt: skip


def test_sites_documents_merge_into_one_naming_each_cameras_site() -> None:
    home = status_document(HealthReport(30.0, (STREAMING, GONE)), "HTTP 503")
    barn = status_document(HealthReport(20.0, (GONE,)))
    garage = unpolled_document("no poll has completed yet")

    merged = sites_document([("home", home), ("barn", barn), ("garage", garage)])

    assert merged["generated_at"] == 30.0  # the latest poll; the unpolled site adds none
    assert merged["mediamtx"] == {
        "reachable": False,
        "error": "garage: no poll has completed yet",
        "metrics_error": "home: HTTP 503",
    }
    assert merged["sites"] == {
        "home": {**home["mediamtx"], "summary": home["summary"]},
        "barn": {**barn["mediamtx"], "summary": barn["summary"]},
        "garage": {**garage["mediamtx"], "summary": garage["summary"]},
    }
    assert merged["summary"] == {"ok": 0, "degraded": 1, "down": 2, "parked": 0}
    assert [(camera["site"], camera["name"]) for camera in merged["cameras"]] == [
        ("home", "cam1"), ("home", "cam2"), ("barn", "cam2"),
    ]  # fmt: skip
    assert list(merged["cameras"][0]) == ["site", *CAMERA_FIELDS]


def test_sites_that_all_answered_are_reachable_and_unpolled_ones_have_no_time() -> None:
    polled = status_document(HealthReport(7.0, ()))
    assert sites_document([("a", polled), ("b", polled)])["mediamtx"] == polled["mediamtx"]
    unpolled = unpolled_document("")
    assert sites_document([("a", unpolled)])["generated_at"] is None


# ------------------------------------------------------------------ the probe's table


def test_the_table_writes_rates_in_bits_and_a_summary_line() -> None:
    cameras = (
        STREAMING,
        STREAMING._replace(name="cam3", state="ok", reasons=(), inbound_bytes_per_second=1500.0),
        STREAMING._replace(name="cam4", state="ok", reasons=(), inbound_bytes_per_second=12.0),
        GONE._replace(name="cam5", state="parked", reasons=()),
    )
    lines = camera_table(HealthReport(1.0, cameras)).splitlines()

    assert lines[0].split() == ["STATE", "NAME", "VIDEO", "INBOUND", "READERS", "REASONS"]
    assert lines[1].split() == [
        "degraded", "cam1", "H264", "1280x720", "409.9", "kb/s", "1", "frames_in_error",
    ]  # fmt: skip
    assert lines[2].split()[4:6] == ["12.0", "kb/s"]
    assert lines[3].split()[4:6] == ["96", "b/s"]
    assert lines[4].split() == ["parked", "cam5", "-", "-", "-", "-"]
    assert lines[5] == "4 cameras: 2 ok, 1 degraded, 0 down, 1 parked"


def test_the_table_has_a_site_column_only_when_a_site_is_named() -> None:
    report = HealthReport(1.0, (CameraHealth("cam0", "ok", (), online=True),))
    assert camera_table(report) == sites_table([("", report)])
    assert camera_table(report).splitlines()[0].split()[:2] == ["STATE", "NAME"]
    named = sites_table([("home", report), ("garage", report)]).splitlines()
    assert named[0].split()[:3] == ["STATE", "SITE", "NAME"]
    assert [line.split()[:3] for line in named[1:3]] == [
        ["ok", "home", "cam0"], ["ok", "garage", "cam0"],
    ]  # fmt: skip
    assert named[-1].startswith("2 cameras: 2 ok")


def test_table_escapes_every_cell_from_outside() -> None:
    cameras = tuple(
        CameraHealth(name, "ok", (), online=True, codec="H264\x1b[0m", resolution="1x1")
        for name in TERMINAL_NAMES
    )
    text = camera_table(HealthReport(0.0, cameras))
    lines = text.splitlines()
    assert len(lines) == len(TERMINAL_NAMES) + 2
    assert all(line.isprintable() for line in lines)
    assert "cam1\\x1b[2J\\x1b[Hok" in lines[1]
    assert "cam2\\nok     cam9" in lines[2]
    assert "cam3\\u202edecaf" in lines[3]
    assert "cam4\\r\\x9b31m" in lines[4]
    assert "H264\\x1b[0m" in lines[1]


@given(st.text())
def test_printable_output_is_always_printable_and_keeps_clean_text(text: str) -> None:
    escaped = printable(text)
    assert escaped.isprintable()
    if text.isprintable() and "\\" not in text:
        assert escaped == text
    else:
        assert len(escaped) > len(text)


@given(st.text(), st.text())
def test_printable_is_one_to_one(first: str, second: str) -> None:
    """Distinct names never print the same: a name cannot pose as another camera."""
    assert (printable(first) == printable(second)) == (first == second)
