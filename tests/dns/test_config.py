"""``trashmon dns``'s declared settings: the documented flags and variables, the docs
table generated from the declaration, bounds, and secrets kept out of flags."""

from __future__ import annotations

import argparse
import ipaddress
import ssl
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.dns import config
from trashmonitor.errors import ConfigError
from trashmonitor.settings import parse_host_port

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dns.md"
BEGIN = "<!-- settings table: generated from SETTINGS"
END = "<!-- end of generated settings table -->"
BASE_ENV = {"DNS_ZONE": "example.com", "DNS_HOSTNAME": "t.example.com", "CF_API_TOKEN": "t",
            "TS_HOSTNAME": "trashmonitor"}  # fmt: skip

# The contract as docs/dns.md stated it before the settings were declared: flag,
# variable, a value to set, what it reads as, and the default.
CONTRACT: list[tuple[str, str, str, object, object]] = [
    ("--interval", "DNS_INTERVAL", "1.5s", 1.5, 60.0),
    ("--metrics-addr", "TRASHMON_DNS_METRICS_ADDR", ":9", parse_host_port("127.0.0.1:9"), None),
    ("--ttl", "DNS_TTL", "300", 300, 1),
    ("--ttl", "DNS_TTL", "auto", 1, 1),
    ("--target", "DNS_TARGET", "100.64.0.9", ipaddress.IPv4Address("100.64.0.9"), None),
    ("--retries", "DNS_RETRIES", "0", 0, 2),
    ("--device-id", "TS_DEVICE_ID", "nPINNED", "nPINNED", None),
    ("--device-tag", "TS_DEVICE_TAG", "tag:dns", "tag:dns", None),
    ("--max-device-age", "TS_DEVICE_MAX_AGE", "60", 60.0, 3600.0),
]
SWITCHES = ["--dry-run", "--print-health-url", "--watch", "--adopt", "--allow-public-target",
            "--aaaa", "--no-split-dns"]  # fmt: skip
SECRETS = ("CF_API_TOKEN", "TS_API_KEY", "TS_OAUTH_CLIENT_ID", "TS_OAUTH_CLIENT_SECRET")


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser()
    config.configure(made)
    return made


def read(argv: list[str], env: dict[str, str]) -> object:
    return config.read(parser().parse_args(argv), env)


@pytest.mark.parametrize(("flag", "env", "raw", "value", "default"), CONTRACT)
def test_every_documented_flag_reads_flag_over_variable_over_default(
    flag: str, env: str, raw: str, value: object, default: object
) -> None:
    (setting,) = [s for s in config.SETTINGS.settings if s.flag == flag]
    assert setting.env == env
    assert config.read(parser().parse_args([]), {})[setting] == default
    assert config.read(parser().parse_args([]), {env: raw})[setting] == value
    both = config.read(parser().parse_args([flag, raw]), {env: "bad value!"})
    assert (both[setting], both.source(setting)) == (value, flag)


def test_switches_are_off_unless_given() -> None:
    for flag in SWITCHES:
        (setting,) = [s for s in config.SETTINGS.settings if s.flag == flag]
        assert config.read(parser().parse_args([]), {})[setting] is False
        assert config.read(parser().parse_args([flag]), {})[setting] is True


def test_the_docs_table_is_the_declared_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    begin = text.index(BEGIN)
    generated = text[text.index("\n", begin) + 1 : text.index(END)]
    assert generated == config.SETTINGS.markdown(), "docs/dns.md is out of date (see its comment)"


def test_no_secret_is_a_flag_or_in_the_help() -> None:
    """A token as a flag would be in argv (ps, shell history): tokens are environment only."""
    help_text = parser().format_help()
    for setting in config.SETTINGS.settings:
        assert setting.env not in SECRETS
    assert not any(f"--{name.lower().replace('_', '-')}" in help_text for name in SECRETS)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DNS_TTL": "5"}, "DNS_TTL: expected 'auto' or 30-86400 seconds, got '5'"),
        ({"DNS_RETRIES": "11"}, "DNS_RETRIES: expected a whole number from 0 to 10, got '11'"),
        ({"DNS_INTERVAL": "0"}, "DNS_INTERVAL: expected a duration of 0.1 to 86400 seconds"),
        ({"DNS_TARGET": "host"}, "DNS_TARGET: expected an IPv4 address, got 'host'"),
        ({"TS_DEVICE_ID": "two words"}, "TS_DEVICE_ID: expected one word"),
        ({"TS_DEVICE_TAG": "<your-tag>"}, "TS_DEVICE_TAG: still the placeholder '<your-tag>'"),
    ],
)
def test_a_bad_value_is_one_config_error_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        config.build(parser().parse_args([]), {**BASE_ENV, **env})
    assert raised.value.message.startswith(message)


def test_empty_device_variables_mean_unset() -> None:
    setup = config.build(parser().parse_args([]), {**BASE_ENV, "TS_DEVICE_ID": " "})
    setup.close()
    assert setup.settings.device_id is None


def test_both_api_clients_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the CA bundle is most of a one-shot run's set-up: once, not per client,
    and still httpx's verifying default."""
    built: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counted(*args: object, **kwargs: object) -> ssl.SSLContext:
        built.append(create(*args, **kwargs))  # type: ignore[arg-type]
        return built[-1]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    setup = config.build(parser().parse_args([]), {**BASE_ENV, "TS_API_KEY": "k"})
    setup.close()
    assert setup.tailscale is not None
    assert len(built) == 1
    assert built[0].verify_mode == ssl.CERT_REQUIRED
    assert built[0].check_hostname


@given(st.text(max_size=40))
def test_ttl_parser_accepts_only_auto_or_the_documented_range(text: str) -> None:
    try:
        ttl = config.parse_ttl(text)
    except ValueError:
        return
    assert ttl == 1 if text.strip().lower() == "auto" else 30 <= ttl <= 86400


@given(st.text(max_size=40))
def test_device_token_parser_returns_one_word_or_nothing(text: str) -> None:
    try:
        token = config.parse_device_token(text)
    except ValueError:
        assert any(c.isspace() for c in text.strip())
        return
    assert token is None or (token == text.strip() and not any(c.isspace() for c in token))
