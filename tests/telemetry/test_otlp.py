"""The OTLP export path, end to end: the real `trashmon monitor` process polls the fake
MediaMTX with OTEL_EXPORTER_OTLP_ENDPOINT set and its poll spans arrive, decoded from
protobuf, at a loopback receiver (tests/support/otlp.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.http import get_text
from support.otlp import OTLPReceiver, ReceivedSpan
from support.processes import (
    OUTSIDE_REPO,
    TRASHMON,
    clean_environ,
    free_port,
    running,
    stop_process,
    wait_until,
)

# `python -m trashmonitor` from the repository root would import the bare trashmonitor/
# folder instead of the installed package with its components.
CAMERAS = 3
POLLS = 3


@pytest.fixture
def fake() -> Iterator[FakeMediaMTX]:
    with FakeMediaMTX("v1.20") as server:
        server.add_paths(CAMERAS, rate=20_000, configured=True)
        yield server


def _polls(metrics_url: str) -> int:
    found = re.search(r"^trashmon_poll_duration_seconds_count (\S+)$", get_text(metrics_url), re.M)
    return int(float(found.group(1))) if found else 0


def _run_monitor_until_polled(fake: FakeMediaMTX, receiver: OTLPReceiver, tmp_path: Path) -> int:
    """Run the monitor until it has polled POLLS times, check nothing was exported yet,
    then SIGTERM it; returns its exit code."""
    port = free_port()
    env = clean_environ(
        TRASHMON_MEDIAMTX_API=fake.url,
        TRASHMON_MEDIAMTX_METRICS=fake.metrics_url,
        TRASHMON_LISTEN=f"127.0.0.1:{port}",
        TRASHMON_INTERVAL="0.5",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        # Nothing is sent while it runs (a batch is due in 10 minutes, or at 10,000
        # spans): what arrives is what the SIGTERM flushed.
        OTEL_BSP_SCHEDULE_DELAY="600000",
        OTEL_BSP_MAX_QUEUE_SIZE="10000",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="10000",
    )
    log = tmp_path / "monitor.log"
    with running([*TRASHMON, "monitor"], env=env, cwd=OUTSIDE_REPO, log_path=log) as proc:
        metrics = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: _polls(metrics) >= POLLS, timeout=60, what=f"{POLLS} polls")
        assert receiver.spans() == []
        code = stop_process(proc, grace=30)
    assert "Traceback" not in log.read_text()
    return code


def _children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return [span for span in spans if span.parent_span_id == parent.span_id]


@pytest.mark.slow
def test_poll_spans_reach_the_receiver_and_sigterm_flushes_them(
    fake: FakeMediaMTX, tmp_path: Path
) -> None:
    with OTLPReceiver() as receiver:
        code = _run_monitor_until_polled(fake, receiver, tmp_path)
        spans = receiver.spans()
        assert receiver.rejected == []
    assert code == 0
    polls = [span for span in spans if span.name == "trashmon.poll"]
    assert len(polls) >= POLLS, sorted({span.name for span in spans})
    for poll in polls:
        assert poll.parent_span_id == ""  # one trace per cycle
        assert poll.resource["service.name"] == "trashmon-monitor"
        assert poll.attributes["mediamtx.api"] == fake.url
    # A whole cycle: cameras judged, paths listed page by page, metrics read in parallel.
    complete = [poll for poll in polls if poll.attributes.get("cameras") == CAMERAS]
    assert complete, [poll.attributes for poll in polls]
    poll = complete[0]
    children = {span.name: span for span in _children(spans, poll)}
    assert set(children) == {"mediamtx.paths_list", "mediamtx.metrics"}
    assert all(child.trace_id == poll.trace_id for child in children.values())
    paths_list = children["mediamtx.paths_list"]
    assert paths_list.attributes["mediamtx.paths"] == CAMERAS
    assert paths_list.status_code != 2
    pages = _children(spans, paths_list)
    assert [page.name for page in pages] == ["http.get"]
    assert pages[0].attributes["url.full"] == fake.url + "/v3/paths/list"
    assert pages[0].attributes["mediamtx.page"] == 0
    metrics_read = children["mediamtx.metrics"]
    assert metrics_read.attributes["url"] == fake.metrics_url
    assert [span.name for span in _children(spans, metrics_read)] == ["http.get"]
