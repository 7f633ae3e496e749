"""Sites: the spec parser (examples and properties), the settings, the merged routes and
series, which site an agent-only camera belongs to, hooks naming a site, and the
history keyed by (site, camera) with its migration."""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fake_mediamtx import FakeMediaMTX
from support.processes import promtool_check_metrics
from support.properties import PROPERTIES, parsed_or_message

from trashmonitor.errors import ConfigError
from trashmonitor.monitor import config
from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.history import HistoryStore
from trashmonitor.monitor.hooks import HookService, parse_notice
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import AgentView, CameraHealth, HealthReport
from trashmonitor.monitor.multisite import AgentRouter, Sites, route_agents
from trashmonitor.monitor.sites import Site, parse_site, parse_sites, read_sites_file
from trashmonitor.serving import Request

# ------------------------------------------------------------------ the parser


def test_a_spec_names_a_site_its_api_and_optionally_its_metrics() -> None:
    assert parse_site("home=http://10.0.0.2:9997") == Site("home", "http://10.0.0.2:9997")
    assert parse_site("garage=https://cams.example/api/,off") == Site(
        "garage", "https://cams.example/api", ""
    )
    assert parse_site("b.2=http://m:9997,http://m:9998") == Site(
        "b.2", "http://m:9997", "http://m:9998/metrics"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("home", "expected NAME=API_URL"),
        ("=http://a", "a site name is"),
        ("-home=http://a", "a site name is"),
        ("h/me=http://a", "a site name is"),
        ("x" * 65 + "=http://a", "a site name is"),
        ("home=a:9997", "site home API URL: expected an http"),
        ("home=http://a,gopher://b", "site home metrics URL"),
        ("home=http://u:secret@a", "no user or password in the URL"),
        ("home=http://a:99999", "invalid port"),
    ],
)
def test_a_bad_spec_is_one_line_naming_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_site(spec)
    assert "secret" not in str(raised.value)


def test_sites_are_separated_by_spaces_or_lines_with_comments_and_unique() -> None:
    text = "# sites\nhome=http://a:9997  garage=http://b:9997,off # the shed\n\n"
    assert [site.name for site in parse_sites(text)] == ["home", "garage"]
    assert parse_sites("  # nothing\n") == ()
    with pytest.raises(ValueError, match="site home is declared twice"):
        parse_sites("home=http://a home=http://b")
    with pytest.raises(ValueError, match=r"^line 2: "):
        parse_sites("home=http://a\nbad")


def test_a_sites_file_is_bounded_text_declaring_at_least_one_site(tmp_path: Path) -> None:
    good = tmp_path / "sites"
    good.write_text("home=http://a:9997\ngarage=http://b:9997\n")
    assert len(read_sites_file(str(good))) == 2
    for content, message in [
        (b"# only comments\n", "declares no site"),
        (b"\xff\xfe", "not UTF-8"),
        (b"#" * 70_000, "over 65536 bytes"),
    ]:
        good.write_bytes(content)
        with pytest.raises(ValueError, match=message):
            read_sites_file(str(good))
    with pytest.raises(ValueError, match="not found"):
        read_sites_file(str(tmp_path / "none"))


names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,5})?", fullmatch=True)


@PROPERTIES
@given(st.text(max_size=400))
def test_any_text_gives_sites_or_a_value_error(text: str) -> None:
    sites, _ = parsed_or_message(lambda: parse_sites(text))
    if sites is None:
        return
    assert len({site.name for site in sites}) == len(sites)
    for site in sites:
        assert site.api_url.startswith(("http://", "https://"))
        assert "@" not in site.api_url.split("/")[2]


@PROPERTIES
@given(
    st.dictionaries(
        names,
        st.tuples(hosts, st.integers(1, 65535), st.sampled_from(["", "off", "metrics"])),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([" ", "\n", "\n# a comment\n", "  \n\t"]),
)
def test_declared_sites_parse_back_to_what_was_declared(
    declared: Mapping[str, tuple[str, int, str]], separator: str
) -> None:
    specs = []
    for name, (host, port, metrics) in declared.items():
        extra = {"": "", "off": ",off", "metrics": f",http://{host}:9998"}[metrics]
        specs.append(f"{name}=http://{host}:{port}{extra}")
    sites = parse_sites(separator.join(specs))
    assert [site.name for site in sites] == list(declared)
    for site, (host, port, metrics) in zip(sites, declared.values(), strict=True):
        assert site.api_url == f"http://{host}:{port}"
        expected = {"": None, "off": "", "metrics": f"http://{host}:9998/metrics"}[metrics]
        assert site.metrics_url == expected


# ------------------------------------------------------------------ the settings


def read(command: str, *args: str, **env: str) -> tuple[Site, ...]:
    parser = argparse.ArgumentParser()
    config.SETTINGS.add_arguments(parser, command)
    return config.sites(config.SETTINGS.read(parser.parse_args(list(args)), command, env))


def test_no_site_is_the_one_mediamtx_of_api_unnamed() -> None:
    assert read("monitor") == (Site("", config.DEFAULT_API, None),)
    assert read("monitor", "--api", "http://m:9997", "--metrics-url", "off") == (
        Site("", "http://m:9997", ""),
    )
    assert read("probe", "--api", "http://m:9997") == (Site("", "http://m:9997", None),)


def test_sites_come_from_repeated_flags_the_variable_and_a_file(tmp_path: Path) -> None:
    sites_file = tmp_path / "sites"
    sites_file.write_text("shed=http://c:9997\n")
    got = read(
        "monitor", "--site", "home=http://a:9997", "--site", "garage=http://b:9997",
        "--sites-file", str(sites_file),
    )  # fmt: skip
    assert [site.name for site in got] == ["home", "garage", "shed"]
    from_env = read("probe", TRASHMON_SITES="home=http://a:9997\ngarage=http://b:9997,off")
    assert [(site.name, site.metrics_url) for site in from_env] == [("home", None), ("garage", "")]


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (("--site", "home=http://a", "--api", "http://b"), {}, "--api"),
        (("--site", "home=http://a", "--metrics-url", "off"), {}, "--metrics-url"),
        ((), {"TRASHMON_SITES": "home=http://a", "TRASHMON_MEDIAMTX_API": "http://b"},
         "TRASHMON_MEDIAMTX_API"),
        (("--site", "home=http://a", "--site", "home=http://b"), {}, "--site"),
    ],
)  # fmt: skip
def test_sites_refuse_the_single_mediamtx_settings_and_twins(
    args: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        read("monitor", *args, **env)
    assert str(raised.value).startswith(f"{named}:")


def test_a_site_credentials_file_is_named_like_the_site(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.write_text("all:shared-password\n")
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "home").write_text("homeuser:home-password\n")
    parser = argparse.ArgumentParser()
    config.SETTINGS.add_arguments(parser, "monitor")
    settings = config.SETTINGS.read(
        parser.parse_args(["--site-credentials-dir", str(tmp_path / "sites")]),
        "monitor",
        {"TRASHMON_MEDIAMTX_CREDENTIALS_FILE": str(shared)},
    )
    home = config.site_client_settings(settings, Site("home", "http://a"))
    garage = config.site_client_settings(settings, Site("garage", "http://b"))
    assert home.credentials is not None
    assert home.credentials.user == "homeuser"
    assert garage.credentials is not None
    assert garage.credentials.user == "all"
    (tmp_path / "sites" / "garage").write_text("no colon here\n")
    with pytest.raises(ConfigError, match=r"^--site-credentials-dir: site garage:") as raised:
        config.site_client_settings(settings, Site("garage", "http://b"))
    assert "colon" not in str(raised.value)


# ------------------------------------------------------------------ served as one


@pytest.fixture
def garage() -> Iterator[FakeMediaMTX]:
    with FakeMediaMTX("v1.20") as server:
        yield server


def two_sites(home: FakeMediaMTX, garage: FakeMediaMTX) -> Sites:
    shared = HistoryStore(None, site="home")
    monitors = [
        Monitor(MediaMTXClient(home.url, home.url + "/metrics"), site="home", history=shared),
        Monitor(
            MediaMTXClient(garage.url, None),
            site="garage",
            history=HistoryStore(None, site="garage", share=shared),
        ),
    ]
    return Sites(monitors)


def test_every_series_carries_its_site_and_promtool_accepts_the_page(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    fake.add_paths(2, rate=1000)
    garage.add_paths(1, rate=1000)
    sites = two_sites(fake, garage)
    for monitor in sites.monitors:
        monitor.poll_once()
    page = sites.exposition()
    assert promtool_check_metrics(page)[0] == 0
    samples = [line for line in page.decode().splitlines() if line and not line.startswith("#")]
    unlabelled = [line for line in samples if 'site="' not in line]
    assert [line.split("{")[0] for line in unlabelled] == ["trashmon_build_info"]
    assert 'trashmon_camera_state{camera="cam0",site="garage",state="ok"} 1.0' in samples
    assert 'trashmon_camera_state{camera="cam1",site="home",state="ok"} 1.0' in samples
    assert 'trashmon_mediamtx_metrics_up{site="home"} 1.0' in samples
    assert sites.exposition() == page  # the same polls: the same page (rendered once)

    status = json.loads(sites.status().body)
    assert [(c["site"], c["name"]) for c in status["cameras"]] == [
        ("home", "cam0"), ("home", "cam1"), ("garage", "cam0"),
    ]  # fmt: skip
    assert status["summary"]["ok"] == 3
    assert status["mediamtx"] == {"reachable": True, "error": None, "metrics_error": None}
    assert set(status["sites"]) == {"home", "garage"}
    health = json.loads(sites.healthz().body)
    assert set(health["sites"]) == {"home", "garage"}

    garage.fault = "http500"
    sites.monitors[1].poll_once()
    status = json.loads(sites.status().body)
    assert status["mediamtx"]["reachable"] is False
    assert status["mediamtx"]["error"].startswith("garage: ")
    assert status["sites"]["home"]["reachable"] is True
    garage_cameras = [c for c in status["cameras"] if c["site"] == "garage"]
    assert [c["reasons"] for c in garage_cameras] == [["mediamtx_unreachable"]]
    assert 'trashmon_mediamtx_up{site="garage"} 0.0' in sites.exposition().decode()


def test_a_site_not_polled_yet_is_shown_as_such(fake: FakeMediaMTX, garage: FakeMediaMTX) -> None:
    fake.add_paths(1, rate=1000)
    sites = two_sites(fake, garage)
    assert sites.status().status == 503
    sites.monitors[0].poll_once()
    status = json.loads(sites.status().body)
    assert status["sites"]["garage"]["error"] == "no poll has completed yet"
    assert [c["site"] for c in status["cameras"]] == ["home"]


def agent(name: str) -> AgentView:
    return AgentView(name, online=True, status_changed_at=0.0, last_state_at=0.0)


def test_an_agent_belongs_to_the_site_that_lists_its_path(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    fake.add_paths(1, rate=1000)  # cam0 at home
    garage.set_path("yard", rate=1000)
    agents = {name: agent(name) for name in ("cam0", "yard", "lost")}
    sites = two_sites(fake, garage)
    route_agents(sites.monitors, lambda: agents)
    home, shed = sites.monitors
    assert home.agent_views is not None
    assert shed.agent_views is not None
    # Nothing polled yet: nobody lists anything, every agent goes to the first site.
    assert set(home.agent_views()) == {"cam0", "yard", "lost"}
    home.poll_once()
    shed.poll_once()
    assert set(home.agent_views()) == {"cam0", "lost"}
    assert set(shed.agent_views()) == {"yard"}
    home.poll_once()  # the first site no longer remembers yard: no ghost camera there
    names = {(c["site"], c["name"]) for c in json.loads(sites.status().body)["cameras"]}
    assert names == {("home", "cam0"), ("home", "lost"), ("garage", "yard")}
    garage.fault = "http500"  # a site that goes down keeps its cameras
    shed.poll_once()
    assert set(shed.agent_views()) == {"yard"}


def test_agent_owners_are_decided_again_only_when_a_listing_or_an_agent_changes(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    fake.add_paths(1, rate=1000)
    garage.set_path("yard", rate=1000)
    agents = {name: agent(name) for name in ("cam0", "yard")}
    sites = two_sites(fake, garage)
    home, shed = sites.monitors
    router = AgentRouter(lambda: agents, sites.monitors)
    for monitor in sites.monitors:
        monitor.agent_views = router.for_site(monitor)
    home.poll_once()
    shed.poll_once()
    decided = router.owned(frozenset(agents))
    assert decided == (frozenset({"cam0"}), frozenset({"yard"}))  # home's, garage's
    home.poll_once()  # the same names listed again: the same decision, not made again
    shed.poll_once()
    assert router.owned(frozenset(agents)) is decided
    garage.set_path("cam0", rate=1000)  # a listing changes: decided again
    shed.poll_once()
    assert router.owned(frozenset(agents)) is not decided
    assert router.owned(frozenset({*agents, "lost"}))[0] == {"cam0", "lost"}


def test_a_hook_names_its_site_and_an_unknown_one_is_refused() -> None:
    refreshed: list[tuple[str, str]] = []

    def refresher(site: str) -> Callable[[str], str]:
        def refresh(name: str) -> str:
            refreshed.append((site, name))
            return "updated"

        return refresh

    hooks = HookService("s" * 32, 100.0, {"home": refresher("home"), "garage": refresher("garage")})

    def post(document: dict[str, str]) -> int:
        request = Request(
            "POST", "/api/hooks/mediamtx", {}, {"x-trashmon-hook-secret": "s" * 32},
            json.dumps(document).encode(), "127.0.0.1",
        )  # fmt: skip
        return hooks.receiver.handle(request).status

    assert parse_notice(b'{"event":"online","path":"cam1","site":"home"}').site == "home"
    with pytest.raises(ValueError, match="site: not a site name"):
        parse_notice(b'{"event":"online","path":"cam1","site":"../x"}')
    assert post({"event": "online", "path": "cam1", "site": "nowhere"}) == 400
    assert post({"event": "online", "path": "cam1"}) == 400  # sites named: one must be given
    hooks.start()
    try:
        assert post({"event": "online", "path": "cam1", "site": "garage"}) == 202
        from support.processes import wait_until

        wait_until(lambda: refreshed == [("garage", "cam1")], 10, what="the garage re-read")
    finally:
        hooks.stop()


# ------------------------------------------------------------------ history


OLD_SCHEMA = """
CREATE TABLE transitions (id INTEGER PRIMARY KEY, camera TEXT NOT NULL, at REAL NOT NULL,
    previous TEXT, state TEXT NOT NULL, reasons TEXT NOT NULL);
CREATE INDEX transitions_at ON transitions (at);
CREATE TABLE incidents (id INTEGER PRIMARY KEY, camera TEXT NOT NULL, start REAL NOT NULL,
    end REAL, reasons TEXT NOT NULL);
CREATE INDEX incidents_start ON incidents (start);
CREATE INDEX incidents_open ON incidents (camera) WHERE end IS NULL;
CREATE TABLE current (camera TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE availability (camera TEXT NOT NULL, minute INTEGER NOT NULL,
    available REAL NOT NULL, counted REAL NOT NULL, PRIMARY KEY (camera, minute)) WITHOUT ROWID;
CREATE INDEX availability_minute ON availability (minute);
INSERT INTO transitions (camera, at, previous, state, reasons)
    VALUES ('cam1', 100, 'ok', 'down', 'no_publisher');
INSERT INTO incidents (camera, start, end, reasons) VALUES ('cam1', 100, NULL, 'no_publisher');
INSERT INTO current VALUES ('cam1', 'down');
INSERT INTO availability VALUES ('cam1', 60, 30, 60);
"""


def report(at: float, state: str) -> HealthReport:
    reasons = ("no_publisher",) if state == "down" else ()
    return HealthReport(at, (CameraHealth("cam1", state, reasons, online=state == "ok"),))  # type: ignore[arg-type]


def test_a_database_from_before_sites_is_migrated_its_rows_site_empty(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "history.sqlite3") as db:
        db.executescript(OLD_SCHEMA)
    home = HistoryStore(tmp_path, site="")
    other = HistoryStore(tmp_path, site="garage", share=home)
    try:
        # The old open incident is the unnamed site's: cam1 there is still down.
        assert home.follower.cameras() == frozenset({"cam1"})
        assert other.follower.cameras() == frozenset()
        other.observe(report(200.0, "down"))  # garage's cam1: another camera
        home.observe(report(210.0, "ok"))  # the old incident ends
        assert home.flush()
        assert other.flush()
        page = home.incidents(now=300.0, since=0.0, until=300.0)
        assert [(i.site, i.camera, i.start, i.end) for i in page.incidents] == [
            ("garage", "cam1", 200.0, None), ("", "cam1", 100.0, 210.0),
        ]  # fmt: skip
        assert [t.state for t in home.transitions()] == ["down", "ok"]
        assert [t.state for t in other.transitions()] == ["down"]
        only = home.incidents(now=300.0, since=0.0, until=300.0, site="garage")
        assert [i.site for i in only.incidents] == ["garage"]
    finally:
        other.close()
        home.close()
    with sqlite3.connect(tmp_path / "history.sqlite3") as db:
        rows = db.execute("SELECT site, camera, minute FROM availability").fetchall()
        assert rows == [("", "cam1", 60)]
        indexes = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
        assert {"incidents_open", "availability_minute"} <= indexes
    reopened = HistoryStore(tmp_path, site="garage")  # migrated once: opens as it is
    try:
        assert reopened.follower.cameras() == frozenset({"cam1"})
    finally:
        reopened.close()


def test_a_camera_moving_site_during_a_hook_re_read_does_not_lock_up(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    """The re-read judges with the agents while holding its site's lock; handing a camera
    to another site then must not wait on that same lock (nor on the other site's)."""
    import threading

    fake.add_paths(1, rate=1000)
    sites = two_sites(fake, garage)
    route_agents(sites.monitors, lambda: {"yard": agent("yard")})
    home, shed = sites.monitors
    home.poll_once()  # yard listed nowhere: it is home's
    garage.set_path("yard", rate=1000)
    shed.poll_once()  # now the garage lists it; home learns it at its next look
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(home.refresh_path("cam0")))
    worker.daemon = True
    worker.start()
    worker.join(10)
    assert outcome == ["updated"]
    home.poll_once()
    names = {(c["site"], c["name"]) for c in json.loads(sites.status().body)["cameras"]}
    assert names == {("home", "cam0"), ("garage", "yard")}
