"""The API's tailnet (TS_TAILNET) and the MagicDNS suffix (TS_MAGICDNS_SUFFIX) are
separate settings; a TS_TAILNET ending in .ts.net is still both, as in the seed.

Reproduction: `just health` built http://trashmonitor.-/api from TS_TAILNET=-, the very
value `just dns` needs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from provision.playbooks import just
from support.dns_world import HOST, ZONE
from support.processes import clean_environ

from trashmonitor.dns.cli import build, configure, health_api_url, magicdns_suffix
from trashmonitor.errors import ConfigError


@pytest.mark.parametrize(
    ("env", "suffix"),
    [
        ({"TS_TAILNET": "tail1234.ts.net"}, "tail1234.ts.net"),  # the seed's value: both
        ({"TS_TAILNET": "Tail1234.TS.net."}, "tail1234.ts.net"),
        ({"TS_TAILNET": "-"}, None),  # the API key's own tailnet: no suffix
        ({"TS_TAILNET": "example.com"}, None),  # an organisation name
        ({}, None),
        ({"TS_TAILNET": "-", "TS_MAGICDNS_SUFFIX": "tail99.ts.net"}, "tail99.ts.net"),
        ({"TS_TAILNET": "tail1.ts.net", "TS_MAGICDNS_SUFFIX": "tail2.ts.net"}, "tail2.ts.net"),
        ({"TS_TAILNET": "tail1.ts.net", "TS_MAGICDNS_SUFFIX": "  "}, "tail1.ts.net"),
    ],
)
def test_suffix_comes_from_its_own_setting_or_an_unambiguous_tailnet(
    env: dict[str, str], suffix: str | None
) -> None:
    assert magicdns_suffix(env) == suffix


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("example.com", "expected the tailnet's <name>.ts.net suffix, got 'example.com'"),
        ("-", "expected the tailnet's <name>.ts.net suffix, got '-'"),
        ("<your-tailnet>.ts.net", "still the placeholder '<your-tailnet>.ts.net'"),
    ],
)
def test_a_bad_suffix_is_named(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        magicdns_suffix({"TS_MAGICDNS_SUFFIX": value})
    assert caught.value.setting == "TS_MAGICDNS_SUFFIX"
    assert message in caught.value.message


@given(st.text(max_size=40), st.text(max_size=40))
def test_suffix_is_a_ts_net_name_or_none_or_a_config_error(tailnet: str, suffix: str) -> None:
    try:
        found = magicdns_suffix({"TS_TAILNET": tailnet, "TS_MAGICDNS_SUFFIX": suffix})
    except ConfigError as error:
        assert error.setting == "TS_MAGICDNS_SUFFIX"  # noqa: PT017  # the property itself
        return
    if found is not None:
        assert found.endswith(".ts.net")
        assert found == found.lower().strip()
        assert "/" not in found
        assert " " not in found


def test_the_dns_reconciler_gets_the_separate_suffix() -> None:
    parser = argparse.ArgumentParser()
    configure(parser)
    env = {"DNS_ZONE": ZONE, "DNS_HOSTNAME": HOST, "CF_API_TOKEN": "t", "TS_API_KEY": "k",
           "TS_HOSTNAME": "trashmonitor", "TS_TAILNET": "-",
           "TS_MAGICDNS_SUFFIX": "tail7.ts.net"}  # fmt: skip
    setup = build(parser.parse_args([]), env)
    setup.close()
    settings: Any = setup.settings
    assert setup.tailscale is not None
    # the API still gets the key's own tailnet
    assert setup.tailscale._tailnet_path == "/api/v2/tailnet/-"
    assert settings.device_selector.describe() == "MagicDNS name 'trashmonitor.tail7.ts.net'"


def test_health_url_is_built_from_the_suffix() -> None:
    assert health_api_url({"TS_HOSTNAME": "trashmonitor", "TS_TAILNET": "tail1.ts.net"}) == (
        "http://trashmonitor.tail1.ts.net/api"
    )
    split = {"TS_HOSTNAME": "trashmonitor", "TS_TAILNET": "-", "TS_MAGICDNS_SUFFIX": "tail2.ts.net"}
    assert health_api_url(split) == "http://trashmonitor.tail2.ts.net/api"


@pytest.mark.parametrize(
    ("env", "setting", "message"),
    [
        ({"TS_TAILNET": "-"}, "TS_MAGICDNS_SUFFIX", "not set, and TS_TAILNET is '-', which is no"),
        ({}, "TS_MAGICDNS_SUFFIX", "not set, and TS_TAILNET is not set"),
        ({"TS_TAILNET": "<your-tailnet>.ts.net"}, "TS_TAILNET", "still the placeholder"),
    ],
)
def test_health_url_says_why_it_cannot_be_built(
    env: dict[str, str], setting: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        health_api_url({"TS_HOSTNAME": "trashmonitor", **env})
    assert caught.value.setting == setting
    assert message in caught.value.message


def _just_health(tmp_path: Path, **env: str) -> Any:
    dotenv = tmp_path / "empty.env"
    dotenv.write_text("")
    base = {k: v for k, v in clean_environ().items() if not k.startswith("TS_")}
    return just("health", "--timeout", "5", env={**base, "TS_HOSTNAME": "trashmonitor", **env},
                empty_dotenv=dotenv)  # fmt: skip


def test_just_health_with_the_api_tailnet_dash_says_what_is_missing(tmp_path: Path) -> None:
    done = _just_health(tmp_path, TS_TAILNET="-")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("trashmon")]
    assert errors == [
        "trashmon dns: error: TS_MAGICDNS_SUFFIX: not set, and TS_TAILNET is '-', which is no "
        "MagicDNS suffix: cannot build the server's URL http://trashmonitor.<suffix>/api "
        "(set TS_MAGICDNS_SUFFIX, e.g. tail1234.ts.net)"
    ]
    assert "trashmonitor.-" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "env",
    [{"TS_TAILNET": "-", "TS_MAGICDNS_SUFFIX": "tail9.ts.net"}, {"TS_TAILNET": "tail9.ts.net"}],
    ids=["split-settings", "seed-ts-net-tailnet"],
)
def test_just_health_probes_the_magicdns_name(tmp_path: Path, env: dict[str, str]) -> None:
    # No tailnet here: the probe cannot reach the name, and says which URL it tried.
    done = _just_health(tmp_path, **env)
    assert done.returncode == 2
    assert "trashmon probe: error: http://trashmonitor.tail9.ts.net/api/" in done.stderr
