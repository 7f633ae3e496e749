"""Sites: the spec parser (examples and properties), the settings, hooks naming a site,
and the history keyed by (site, camera) with its migration. The sites served as one
(merged routes and series, which site an agent-only camera belongs to) are in
``tests/monitor/test_multisite.py``."""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.properties import PROPERTIES, parsed_or_message

from trashmonitor.errors import ConfigError
from trashmonitor.monitor import config
from trashmonitor.monitor.history import HistoryStore
from trashmonitor.monitor.hooks import HookService, parse_notice
from trashmonitor.monitor.model import CameraHealth, HealthReport
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


# ------------------------------------------------------------------ hooks


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
