"""``trashmon dns``'s settings, declared once.

:data:`SETTINGS` is the one table of what a flag can set: it generates the options,
their ``--help``, the environment lookup (flag > environment > default, bounds
included) and the flags table of docs/dns.md (``tests/dns/test_config.py`` checks the
page matches it). The seed's other variables (tokens, names, base URLs) are environment
only: a flag would put a token in ``ps`` output and shell history. :func:`build` reads
everything once, before the first request, into a frozen :class:`DnsSettings` and the
two API clients (the only holders of the secrets).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trashmonitor.dns.model import TTL_AUTO, DnsSettings
from trashmonitor.dns.plan import normalise_name
from trashmonitor.errors import ConfigError
from trashmonitor.settings import (
    ReadSettings,
    Setting,
    SettingsTable,
    count_between,
    option,
    parse_host_port,
    parse_http_url,
    parse_name_list,
    parse_positive_int,
    parse_seconds,
    parse_setting,
    seconds_between,
    switch,
)

DNS = "dns"
DEFAULT_RESOLVERS = "1.1.1.1,1.0.0.1"
METRICS_ADDR_ENV = "TRASHMON_DNS_METRICS_ADDR"
MAGICDNS_SUFFIX = "TS_MAGICDNS_SUFFIX"
_TS_NET = ".ts.net"
_DNS_NAME = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def parse_ttl(text: str) -> int:
    if text.strip().lower() == "auto":
        return TTL_AUTO
    value = parse_positive_int(text)
    if not 30 <= value <= 86400:
        raise ValueError("expected 'auto' or 30-86400 seconds")
    return value


def parse_ipv4(text: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        pass
    # Raised after the except block: ipaddress's error echoing the value is no
    # __context__ (``from None`` would only hide it); settings.parse_setting quotes the
    # value itself, through ``hide`` where it may be a secret.
    raise ValueError("expected an IPv4 address")


def parse_device_token(text: str) -> str | None:
    """One word; set but empty means unset, as for the other variables."""
    value = text.strip()
    if any(c.isspace() for c in value):
        raise ValueError("expected one word")
    return value or None


def _flag(flag: str, help_text: str) -> Setting[bool]:
    return switch(flag, help_text, commands=(DNS,), note=help_text)


def _device(usage: str, env: str, note: str) -> Setting[str | None]:
    return option(usage, env, parse_device_token, None, note.replace("`", ""),
                  shown_default="none", commands=(DNS,), note=note)  # fmt: skip


# One row a setting (trashmonitor.settings.option): usage, env, parser, default, help, and
# the docs' wording where it differs.
DRY_RUN = _flag("--dry-run", "plan only, write nothing; exit 1 if anything would change")
PRINT_HEALTH_URL = _flag(
    "--print-health-url",
    "print http://TS_HOSTNAME.<MagicDNS suffix>/api (what `just health` probes), exit",
)
WATCH = _flag("--watch", "reconcile every --interval until SIGTERM/SIGINT")
INTERVAL = option(
    "--interval S", "DNS_INTERVAL", seconds_between(0.1, 86400), 60.0,
    "seconds between --watch runs", commands=(DNS,),
    note="seconds between `--watch` runs (`30`, `1.5s`, `500ms`; 0.1 s to 1 day)",
)  # fmt: skip
METRICS_ADDR = option(
    "--metrics-addr HOST:PORT", METRICS_ADDR_ENV, parse_host_port, None,
    "with --watch, serve trashmon_dns_* on http://HOST:PORT/metrics (:PORT = loopback)",
    shown_default="off", commands=(DNS,),
    note="with `--watch`, serve `trashmon_dns_*` on `http://HOST:PORT/metrics` for a "
    "reconciler running on its own (the Kubernetes `trashmonitor-dns` workload); `:PORT` "
    "means loopback; without `--watch` a configuration error (exit 2)",
)  # fmt: skip
ADOPT = _flag(
    "--adopt",
    "update a record that has no ownership marker, and mark it; replace another "
    "split-DNS entry for DNS_ZONE",
)
ALLOW_PUBLIC_TARGET = _flag(
    "--allow-public-target",
    "allow an A target outside 100.64.0.0/10 (AAAA: outside fd7a:115c:a1e0::/48)",
)
AAAA = _flag("--aaaa", "also publish the device's tailnet IPv6 as an AAAA record")
TTL = option(
    "--ttl N", "DNS_TTL", parse_ttl, TTL_AUTO, "record TTL, 'auto' or 30-86400 seconds",
    shown_default="`auto`", commands=(DNS,), note="record TTL, `auto` or 30–86400 seconds",
)  # fmt: skip
TARGET: Setting[ipaddress.IPv4Address | None] = option(
    "--target IP", "DNS_TARGET", parse_ipv4, None,
    "publish this IPv4 instead of looking the device up", shown_default="none",
    commands=(DNS,), note="publish this IPv4 instead of looking the device up",
)  # fmt: skip
NO_SPLIT_DNS = _flag("--no-split-dns", "leave Tailscale split DNS alone")
RETRIES = option(
    "--retries N", "DNS_RETRIES", count_between(0, 10), 2,
    "retries per API call on 429/5xx/connection errors", commands=(DNS,),
    note="retries per API call on 429/5xx/connection errors (0–10)",
)  # fmt: skip
DEVICE_ID = _device(
    "--device-id ID", "TS_DEVICE_ID",
    "pin the device by its Tailscale node id (`nodeId`, or the legacy `id`)",
)  # fmt: skip
DEVICE_TAG = _device(
    "--device-tag TAG", "TS_DEVICE_TAG", "the one device carrying this ACL tag, e.g. `tag:dns`"
)
MAX_DEVICE_AGE = option(
    "--max-device-age S", "TS_DEVICE_MAX_AGE", parse_seconds, 3600.0,
    "refuse a device neither connected nor seen this recently", commands=(DNS,),
    note="refuse a device neither connected nor seen this recently",
)  # fmt: skip

SETTINGS = SettingsTable(
    DNS,
    (
        DRY_RUN, PRINT_HEALTH_URL, WATCH, INTERVAL, METRICS_ADDR, ADOPT, ALLOW_PUBLIC_TARGET,
        AAAA, TTL, TARGET, NO_SPLIT_DNS, RETRIES, DEVICE_ID, DEVICE_TAG, MAX_DEVICE_AGE,
    ),
)  # fmt: skip

EPILOG = (
    "Environment: CF_API_TOKEN, TS_API_KEY or TS_OAUTH_CLIENT_ID/TS_OAUTH_CLIENT_SECRET, "
    "TS_TAILNET (the API's tailnet, default -), TS_MAGICDNS_SUFFIX (e.g. tail1234.ts.net; "
    "a TS_TAILNET ending in .ts.net is both), TS_HOSTNAME (MagicDNS name), DNS_ZONE, "
    f"DNS_HOSTNAME, SPLIT_DNS_RESOLVERS (default {DEFAULT_RESOLVERS}), CLOUDFLARE_BASE_URL, "
    "TS_API_BASE_URL. Exit codes: 0 in sync or applied, 1 drift remains, 2 configuration "
    "or auth error."
)

if TYPE_CHECKING:
    # The API clients (httpx, the Cloudflare SDK: ~0.3 s of imports) are imported by
    # build() only: `--help` and `--print-health-url` never talk to an API.
    from trashmonitor.dns import cloudflare_api, tailscale_api
    from trashmonitor.dns.retry import RetryPolicy


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    SETTINGS.add_arguments(parser, DNS)


def read(args: argparse.Namespace, env: Mapping[str, str]) -> ReadSettings:
    return SETTINGS.read(args, DNS, env)


@dataclass(frozen=True)
class Setup:
    settings: DnsSettings
    cloudflare: cloudflare_api.CloudflareDNS
    tailscale: tailscale_api.TailscaleAPI | None

    def close(self) -> None:
        self.cloudflare.close()
        if self.tailscale is not None:
            self.tailscale.close()


def build(
    args: argparse.Namespace, env: Mapping[str, str], *, retry: RetryPolicy | None = None
) -> Setup:
    """Every setting checked before the first request; secrets only go to the clients."""
    import httpx

    from trashmonitor.dns import cloudflare_api, tailscale_api
    from trashmonitor.dns.retry import RetryPolicy

    values = read(args, env)
    settings = dns_settings(values, env)
    credentials = _tailscale_credentials(env)
    tailnet = env.get("TS_TAILNET", "").strip() or "-"
    _reject_placeholder("TS_TAILNET", tailnet, " ('-' means the key's own tailnet)")
    cf_token = _required(env, "CF_API_TOKEN", "a Cloudflare API token with Zone → DNS → Edit")
    cf_base = _base_url(env, "CLOUDFLARE_BASE_URL", cloudflare_api.DEFAULT_BASE_URL)
    ts_base = _base_url(env, "TS_API_BASE_URL", tailscale_api.DEFAULT_BASE_URL)
    retry = retry or RetryPolicy(attempts=values[RETRIES] + 1)
    # One TLS context for both clients: loading the CA bundle is most of a one-shot
    # run's client set-up (~35 ms each), and both trust the same roots.
    tls = httpx.create_ssl_context()
    tailscale = None
    if credentials is not None:
        tailscale = tailscale_api.TailscaleAPI(
            credentials, base_url=ts_base, tailnet=tailnet, retry=retry, tls=tls
        )
    cloudflare = cloudflare_api.CloudflareDNS(cf_token, base_url=cf_base, retry=retry, tls=tls)
    return Setup(settings, cloudflare, tailscale)


def dns_settings(values: ReadSettings, env: Mapping[str, str]) -> DnsSettings:
    zone = _name_setting(env, "DNS_ZONE", "the Cloudflare zone")
    hostname = _name_setting(env, "DNS_HOSTNAME", "the name to publish")
    if hostname != zone and not hostname.endswith("." + zone):
        raise ConfigError("DNS_HOSTNAME", f"{hostname!r} is not inside DNS_ZONE {zone!r}")
    ts_hostname = env.get("TS_HOSTNAME", "").strip() or None
    if ts_hostname:
        _reject_placeholder("TS_HOSTNAME", ts_hostname)
        ts_hostname = parse_setting("TS_HOSTNAME", ts_hostname, _hostname)
    device_id, device_tag = values[DEVICE_ID], values[DEVICE_TAG]
    for setting, value in ((DEVICE_ID, device_id), (DEVICE_TAG, device_tag)):
        if value is not None:
            _reject_placeholder(values.source(setting), value)
    if device_tag is not None and not device_tag.startswith("tag:"):
        raise ConfigError("TS_DEVICE_TAG", f"{device_tag!r} is not a tag (expected tag:name)")
    if not (ts_hostname or device_id or device_tag) and values[TARGET] is None:
        raise ConfigError("TS_HOSTNAME", "not set (the tailnet device whose address to publish)")
    resolvers: tuple[str, ...] | None = None
    if not values[NO_SPLIT_DNS]:
        raw = env.get("SPLIT_DNS_RESOLVERS", DEFAULT_RESOLVERS)
        resolvers = tuple(sorted(parse_setting("SPLIT_DNS_RESOLVERS", raw, _resolver_list)))
    return DnsSettings(
        zone=zone,
        hostname=hostname,
        ts_hostname=ts_hostname,
        resolvers=resolvers,
        ttl=values[TTL],
        aaaa=values[AAAA],
        adopt=values[ADOPT],
        allow_public_target=values[ALLOW_PUBLIC_TARGET],
        target=values[TARGET],
        magicdns_suffix=magicdns_suffix(env),
        device_id=device_id,
        device_tag=device_tag,
        max_device_age=values[MAX_DEVICE_AGE],
    )


def magicdns_suffix(env: Mapping[str, str]) -> str | None:
    """The tailnet's MagicDNS suffix (``tail1234.ts.net``), when the settings say it.

    ``TS_MAGICDNS_SUFFIX`` says it outright. Without it, the seed's ``TS_TAILNET`` still
    counts where it is unambiguous: ``<tailnet>.ts.net`` is both the API's tailnet and the
    suffix (the seed built ``$TS_HOSTNAME.$TS_TAILNET`` URLs from it). ``-`` (the API
    key's own tailnet) or an organisation name is only the API's tailnet: then None, and
    the DNS reconciler uses the suffix the tailnet's devices share. The one place either
    setting is read as a suffix.
    """
    raw = env.get(MAGICDNS_SUFFIX, "").strip()
    if raw:
        _reject_placeholder(MAGICDNS_SUFFIX, raw)
        suffix = normalise_name(raw)
        if not suffix.endswith(_TS_NET) or not _DNS_NAME.match(suffix):
            raise ConfigError(
                MAGICDNS_SUFFIX, f"expected the tailnet's <name>.ts.net suffix, got {raw!r}"
            )
        return suffix
    tailnet = normalise_name(env.get("TS_TAILNET", ""))
    return tailnet if tailnet.endswith(_TS_NET) and _DNS_NAME.match(tailnet) else None


def health_api_url(env: Mapping[str, str]) -> str:
    """``http://<TS_HOSTNAME>.<MagicDNS suffix>/api``: what ``just health`` probes."""
    host = _name_setting(env, "TS_HOSTNAME", "the server's MagicDNS name")
    if "." in host:
        return f"http://{host}/api"  # already a full name
    suffix = magicdns_suffix(env)
    if suffix is None:
        tailnet = env.get("TS_TAILNET", "").strip()
        _reject_placeholder("TS_TAILNET", tailnet, f" or set {MAGICDNS_SUFFIX}")
        said = f"TS_TAILNET is {tailnet!r}" if tailnet else "TS_TAILNET is not set"
        raise ConfigError(
            MAGICDNS_SUFFIX,
            f"not set, and {said}, which is no MagicDNS suffix: cannot build the "
            f"server's URL http://{host}.<suffix>/api (set {MAGICDNS_SUFFIX}, "
            "e.g. tail1234.ts.net)",
        )
    return f"http://{host}.{suffix}/api"


def _hostname(text: str) -> str:
    name = text.strip().rstrip(".").lower()
    if not name or " " in name or "/" in name:
        raise ValueError("expected a DNS name")
    return name


def _name_setting(env: Mapping[str, str], name: str, why: str) -> str:
    return parse_setting(name, _required(env, name, why), _hostname)


def _base_url(env: Mapping[str, str], name: str, default: str) -> str:
    return parse_setting(name, env.get(name, default), parse_http_url)


def _required(env: Mapping[str, str], name: str, why: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(name, f"not set ({why})")
    _reject_placeholder(name, value)
    return value


def _reject_placeholder(name: str, value: str, hint: str = "") -> None:
    # The justfile's defaults are placeholders like "<your-zone>": say so plainly.
    if "<" in value or ">" in value:
        raise ConfigError(name, f"still the placeholder {value!r}; set it in .env{hint}")


def _resolver_list(text: str) -> frozenset[str]:
    names = parse_name_list(text)
    if not names:
        raise ValueError("expected at least one resolver address")
    for name in names:
        ipaddress.ip_address(name)  # ValueError names the problem
    return names


def _tailscale_credentials(env: Mapping[str, str]) -> tailscale_api.TailscaleCredentials | None:
    from trashmonitor.dns import tailscale_api

    api_key = env.get("TS_API_KEY", "").strip()
    client_id = env.get("TS_OAUTH_CLIENT_ID", "").strip()
    client_secret = env.get("TS_OAUTH_CLIENT_SECRET", "").strip()
    if api_key:
        _reject_placeholder("TS_API_KEY", api_key)
        return tailscale_api.TailscaleCredentials(api_key=api_key)
    if client_id or client_secret:
        missing = "TS_OAUTH_CLIENT_SECRET" if client_id else "TS_OAUTH_CLIENT_ID"
        if not (client_id and client_secret):
            raise ConfigError(missing, "not set (an OAuth client needs both id and secret)")
        return tailscale_api.TailscaleCredentials(
            oauth_client_id=client_id, oauth_client_secret=client_secret
        )
    return None
