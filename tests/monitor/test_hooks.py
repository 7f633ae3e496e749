"""The monitor's side of MediaMTX hooks: the guarded route, the re-read, the hints."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from support.fake_mediamtx import FakeMediaMTX
from support.processes import wait_until
from support.properties import PROPERTIES, parsed_or_message

from trashmonitor.errors import ConfigError
from trashmonitor.hook import EVENTS, ROUTE, SECRET_HEADER
from trashmonitor.monitor import config
from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.hooks import (
    HookService,
    PathHints,
    TokenBucket,
    burst_for,
    parse_notice,
)
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import PathObservation
from trashmonitor.serving import HTTPService
from trashmonitor.settings import HostPort

SECRET = "s3cret-token-for-tests-0123456789"


# --------------------------------------------------------------------------- pure parts


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(100.4) is False  # 0.8 of a token
    assert bucket.take(100.5) is True  # one token after half a second at 2/s
    assert [bucket.take(200.0) for _ in range(3)] == [True, True, True]
    assert bucket.take(200.0) is False  # never more than the burst saved up


def test_token_bucket_ignores_a_clock_going_backwards() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)  # no tokens minted from a negative interval
    assert not bucket.take(10.5)


def test_burst_is_two_seconds_of_the_rate_and_at_least_ten() -> None:
    assert burst_for(20) == 40
    assert burst_for(1) == 10


def test_a_notice_names_a_known_event_and_a_valid_path() -> None:
    notice = parse_notice(b'{"event":"offline","path":"yard/cam1","source_type":"x"}')
    assert (notice.event, notice.path) == ("offline", "yard/cam1")
    for body, problem in (
        (b"[]", "JSON object"),
        (b"{", "JSON object"),
        (b'{"event":"exploded","path":"cam1"}', "event"),
        (b'{"event":"online","path":"../etc"}', "path"),
        (b'{"event":"online","path":"cam1?x=1"}', "path"),
        (b'{"event":"online","path":""}', "path"),
        (b'{"event":"online"}', "path"),
    ):
        with pytest.raises(ValueError, match=problem):
            parse_notice(body)


@PROPERTIES
@given(st.binary(max_size=1024) | st.text(max_size=300).map(str.encode))
def test_any_body_is_a_notice_or_a_value_error(body: bytes) -> None:
    notice, message = parsed_or_message(lambda: parse_notice(body))
    if notice is None:
        assert len(message) < 100  # names the field, never echoes the input
    else:
        assert notice.event in EVENTS


@PROPERTIES
@given(
    st.dictionaries(
        st.sampled_from(["event", "path", "source_id", "x"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=300), st.sampled_from(EVENTS)),
    )
)
def test_any_json_object_is_a_notice_or_a_value_error(document: dict[str, object]) -> None:
    try:
        parse_notice(json.dumps(document).encode())
    except ValueError:
        return
    assert document["event"] in EVENTS


def _path(name: str, *, online: bool) -> PathObservation:
    return PathObservation(name, online, online, 0, 0, 0)


def test_a_hint_survives_the_poll_already_reading_and_yields_to_the_next() -> None:
    hints = PathHints()
    listed = {"cam1": _path("cam1", online=True), "cam2": _path("cam2", online=True)}
    hints.note("cam1", _path("cam1", online=False), read_at=10.0)
    hints.note("cam2", None, read_at=10.0)  # MediaMTX no longer has it
    in_flight = hints.apply(listed, read_started=9.0)  # this poll read before the hook
    assert not in_flight["cam1"].online
    assert "cam2" not in in_flight
    later = hints.apply(listed, read_started=11.0)  # a poll that saw at least as much
    assert later == listed
    assert hints.apply(listed, read_started=0.0) == listed  # and the hints are gone


def test_hints_are_bounded() -> None:
    hints = PathHints(limit=3)
    for index in range(10):
        hints.note(f"cam{index}", None, read_at=float(index + 1))
    left = hints.apply({f"cam{i}": _path(f"cam{i}", online=True) for i in range(10)}, 0.0)
    assert sorted(left) == [f"cam{i}" for i in range(7)]  # only the 3 newest applied


# --------------------------------------------------------------------------- settings


def test_the_secret_comes_from_the_file_or_the_environment_never_echoed(
    tmp_path: Path,
) -> None:
    parser = argparse.ArgumentParser()
    config.SETTINGS.add_arguments(parser, config.MONITOR)
    none = config.SETTINGS.read(parser.parse_args([]), config.MONITOR, environ={})
    assert config.hook_secret(none, environ={}) is None
    assert config.hook_secret(none, environ={"TRASHMON_HOOK_SECRET": SECRET}) == SECRET
    bad = "short secret with spaces"
    with pytest.raises(ConfigError) as raised:
        config.hook_secret(none, environ={"TRASHMON_HOOK_SECRET": bad})
    assert raised.value.setting == "TRASHMON_HOOK_SECRET"
    assert bad not in str(raised.value)
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    from_file = config.SETTINGS.read(
        parser.parse_args([]),
        config.MONITOR,
        environ={"TRASHMON_HOOK_SECRET_FILE": str(secret_file)},
    )
    assert config.hook_secret(from_file, environ={}) == SECRET
    secret_file.write_text("x" * 10)
    with pytest.raises(ConfigError) as raised:
        config.SETTINGS.read(
            parser.parse_args([]),
            config.MONITOR,
            environ={"TRASHMON_HOOK_SECRET_FILE": str(secret_file)},
        )
    assert "xxxxxxxxxx" not in str(raised.value)


# --------------------------------------------------------------------------- the route


class Served:
    def __init__(self, url: str, hooks: HookService, refreshed: list[str]) -> None:
        self.url, self.hooks, self.refreshed = url, hooks, refreshed

    def count(self, event: str, outcome: str) -> float:
        registry = CollectorRegistry()
        for collector in self.hooks.collectors():
            registry.register(collector)
        value = registry.get_sample_value(
            "trashmon_hooks_received_total", {"event": event, "outcome": outcome}
        )
        return value or 0.0


@contextlib.contextmanager
def served_hooks(rate: float = 100.0) -> Iterator[Served]:
    refreshed: list[str] = []
    done = threading.Event()

    def refresh(name: str) -> str:
        refreshed.append(name)
        done.set()
        return "updated"

    hooks = HookService(SECRET, rate, refresh)
    service = HTTPService(HostPort("127.0.0.1", 0), hooks.routes(), setting="test")
    service.start()
    hooks.start()
    try:
        yield Served(f"http://127.0.0.1:{service.address.port}{ROUTE}", hooks, refreshed)
    finally:
        hooks.stop()
        service.stop()


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code


NOTICE = b'{"event":"offline","path":"cam1","source_type":"rtspSession","source_id":"x"}'
SIGNED = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}


def test_an_authenticated_notice_is_accepted_and_the_path_re_read() -> None:
    with served_hooks() as served:
        assert post(served.url, NOTICE, SIGNED) == 202
        wait_until(lambda: served.refreshed == ["cam1"], timeout=10)
        assert served.count("offline", "accepted") == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SECRET_HEADER: SECRET[:-1] + "X"},
        {SECRET_HEADER: SECRET + "X"},
        {SECRET_HEADER: ""},
        {"Authorization": f"Bearer {SECRET}"},
    ],
    ids=["none", "wrong", "longer", "empty", "other-header"],
)
def test_a_notice_without_the_secret_is_forbidden_and_changes_nothing(
    headers: dict[str, str],
) -> None:
    with served_hooks() as served:
        assert post(served.url, NOTICE, headers) == 403
        assert served.count("unknown", "forbidden") == 1
        assert post(served.url, NOTICE, SIGNED) == 202  # the worker is alive; only this one
        wait_until(lambda: served.refreshed == ["cam1"], timeout=10)


def test_a_body_over_one_kib_is_refused_before_it_is_read() -> None:
    big = json.dumps({"event": "online", "path": "cam1", "pad": "x" * 2000}).encode()
    with served_hooks() as served:
        assert post(served.url, big, SIGNED) == 413
        assert served.refreshed == []


def test_a_flood_is_cut_to_the_rate_with_429_and_counted() -> None:
    with served_hooks(rate=1.0) as served:  # a burst of 10, then one a second
        codes = [post(served.url, NOTICE, SIGNED) for _ in range(40)]
        assert codes.count(202) <= 12  # 10 saved up, a token or two minted meanwhile
        assert codes.count(429) >= 28
        assert served.count("unknown", "rate_limited") == codes.count(429)


@pytest.mark.parametrize(
    "path", ["../../v3/config/global/patch", "cam1?x=1", "/cam1", "a" * 300, "cam 1", 7]
)
def test_a_bad_path_name_is_refused_with_400_and_never_re_read(path: object) -> None:
    body = json.dumps({"event": "online", "path": path}).encode()
    with served_hooks() as served:
        assert post(served.url, body, SIGNED) == 400
        assert served.count("unknown", "invalid") == 1
        assert post(served.url, NOTICE, SIGNED) == 202
        wait_until(lambda: served.refreshed == ["cam1"], timeout=10)  # only the good one


def test_get_is_not_allowed_on_the_hook_route() -> None:
    with served_hooks() as served:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(served.url, timeout=10)
        assert raised.value.code == 405


# --------------------------------------------------------------------------- the re-read


def test_a_refresh_updates_one_camera_between_polls(fake: FakeMediaMTX) -> None:
    fake.set_path("cam1", rate=10_000, configured=True)
    fake.set_path("cam2", rate=10_000, configured=True)
    monitor = Monitor(MediaMTXClient(fake.url, timeout=5), interval=3600)
    try:
        assert monitor.refresh_path("cam1") == "skipped"  # nothing polled yet
        monitor.poll_once()
        before = monitor.state.report
        polled_at = monitor.state.last_success_at
        assert before is not None
        assert {c.name: c.state for c in before.cameras} == {"cam1": "ok", "cam2": "ok"}
        fake.set_path("cam1", online=False)
        assert monitor.refresh_path("cam1") == "updated"
        after = monitor.state.report
        assert after is not None
        cameras = {c.name: c for c in after.cameras}
        assert cameras["cam1"].state == "down"
        assert "no_publisher" in cameras["cam1"].reasons
        assert cameras["cam2"].state == "ok"
        assert monitor.state.last_success_at == polled_at  # only a poll says MediaMTX works
        fake.remove_path("cam2")  # an ad-hoc path gone: MediaMTX answers 404
        assert monitor.refresh_path("cam2") == "updated"
        assert monitor.state.report is not None
        names = {c.name for c in monitor.state.report.cameras}
        assert "cam2" in names  # configured: remembered as down, not forgotten
        assert monitor.refresh_path("../x") == "failed"  # the grammar is checked again
    finally:
        monitor.close()


def test_a_failed_re_read_leaves_the_state_alone(fake: FakeMediaMTX) -> None:
    fake.set_path("cam1", rate=10_000, configured=True)
    monitor = Monitor(MediaMTXClient(fake.url, timeout=5), interval=3600)
    try:
        monitor.poll_once()
        state = monitor.state
        fake.fault = "html"
        assert monitor.refresh_path("cam1") == "failed"
        assert monitor.state is state
    finally:
        monitor.close()


# --------------------------------------------------------------------------- the stand-in


def test_the_stand_in_runs_hooks_the_way_mediamtx_does(tmp_path: Path) -> None:
    """internal/hooks/on_online.go + internal/externalcmd: split like a shell, $VAR
    expanded from the hook's environment, no shell, SIGINT to the online command's group
    when the path goes offline, then the offline command; deprecated names mapped."""
    record = tmp_path / "record"
    script = tmp_path / "hook.py"
    script.write_text(
        "import signal, sys, time\n"
        f"def note(line):\n    open({str(record)!r}, 'a').write(line + '\\n')\n"
        "note(' '.join(sys.argv[1:]))\n"
        "if sys.argv[1] == 'online':\n"
        "    signal.signal(signal.SIGINT, lambda *_: (note('interrupted'), sys.exit(0)))\n"
        "    time.sleep(60)\n"
    )
    online = f"{sys.executable} {script} online $MTX_PATH ${{MTX_SOURCE_TYPE}}"
    offline = f"{sys.executable} {script} offline $MTX_PATH"
    with FakeMediaMTX(hooks={"runOnOnline": online, "runOnOffline": offline}) as fake:
        fake.set_path("cam1")
        wait_until(lambda: record.exists() and "online cam1" in record.read_text(), 30)
        fake.set_path("cam1", online=False)
        # Like MediaMTX, the offline command starts without waiting for the online one.
        wait_until(lambda: len(record.read_text().splitlines()) == 3, 30)
        first, *rest = record.read_text().splitlines()
        assert first == "online cam1 rtspSession"
        assert sorted(rest) == ["interrupted", "offline cam1"]
        assert [run.hook for run in fake.hook_runs] == ["runOnOnline", "runOnOffline"]
    with pytest.raises(ValueError, match="unknown hooks"):
        FakeMediaMTX(hooks={"runOnNothing": "x"})
    with FakeMediaMTX(hooks={"runOnReady": "x"}) as mapped:
        assert mapped.hooks == {"runOnAvailable": "x"}


def test_a_re_read_older_than_the_last_poll_is_dropped(fake: FakeMediaMTX) -> None:
    """A poll that started after the hook's re-read saw at least as much: the older
    re-read must not undo it (here the poll runs while the re-read is in flight)."""
    fake.set_path("cam1", rate=10_000, configured=True)
    monitor = Monitor(MediaMTXClient(fake.url, timeout=5), interval=3600)
    read_path = monitor.client.read_path

    def slow_read(name: str, deadline: float | None = None) -> PathObservation | None:
        stale = read_path(name, deadline)  # sees cam1 offline
        fake.set_path("cam1", online=True)
        monitor.poll_once()  # starts after the re-read: sees it back
        return stale

    try:
        monitor.poll_once()
        fake.set_path("cam1", online=False)
        monitor.client.read_path = slow_read  # type: ignore[method-assign]
        assert monitor.refresh_path("cam1") == "skipped"
        report = monitor.state.report
        assert report is not None
        assert [c.state for c in report.cameras] == ["ok"]
    finally:
        monitor.close()
