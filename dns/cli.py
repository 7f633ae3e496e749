"""``trashmon dns``: reconcile the Cloudflare A record and the Tailscale split-DNS zone.

Settings are the seed's environment variables (a ``.env`` next to the justfile is loaded
by ``just``); flags override them. See docs/dns.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType

from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry
from trashmonitor.dns import cloudflare_api, tailscale_api
from trashmonitor.dns.metrics import DnsCollector
from trashmonitor.dns.plan import normalise_name
from trashmonitor.dns.reconcile import (
    DeviceLister,
    DnsReconciler,
    DnsSettings,
    ReconcileLoop,
    ReconcileReport,
)
from trashmonitor.dns.retry import RetryPolicy

from trashmonitor.errors import EXIT_OK, ConfigError
from trashmonitor.serving import HTTPService, metrics_route
from trashmonitor.settings import (
    HostPort,
    flag_or_env,
    parse_host_port,
    parse_http_url,
    parse_name_list,
    parse_positive_int,
    parse_seconds,
    parse_setting,
    seconds_between,
)
from trashmonitor.telemetry import setup_tracing

DEFAULT_RESOLVERS = "1.1.1.1,1.0.0.1"
METRICS_ADDR_ENV = "TRASHMON_DNS_METRICS_ADDR"
log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Environment: CF_API_TOKEN, TS_API_KEY or TS_OAUTH_CLIENT_ID/TS_OAUTH_CLIENT_SECRET, "
        "TS_TAILNET (the API's tailnet, default -), TS_MAGICDNS_SUFFIX (e.g. tail1234.ts.net; "
        "a TS_TAILNET ending in .ts.net is both), TS_HOSTNAME (MagicDNS name), TS_DEVICE_ID, "
        "TS_DEVICE_TAG, "
        "DNS_ZONE, DNS_HOSTNAME, SPLIT_DNS_RESOLVERS "
        f"(default {DEFAULT_RESOLVERS}), CLOUDFLARE_BASE_URL, TS_API_BASE_URL. "
        "Exit codes: 0 in sync or applied, 1 drift remains, 2 configuration or auth error."
    )
    add = parser.add_argument
    add("--dry-run", action="store_true", help="print the plan, write nothing")
    add(
        "--print-health-url",
        action="store_true",
        help="print http://TS_HOSTNAME.<MagicDNS suffix>/api (what `just health` probes), exit",
    )
    add("--watch", action="store_true", help="keep reconciling every --interval")
    add("--interval", help="seconds between --watch runs (env DNS_INTERVAL, default 60)")
    add(
        "--metrics-addr",
        help="with --watch, serve trashmon_dns_* on http://HOST:PORT/metrics "
        "(env TRASHMON_DNS_METRICS_ADDR; default off)",
    )
    add("--adopt", action="store_true", help="take over a record trashmonitor did not create")
    add(
        "--allow-public-target",
        action="store_true",
        help="allow an A target outside 100.64.0.0/10",
    )
    add("--aaaa", action="store_true", help="also manage an AAAA record (tailnet IPv6)")
    add("--ttl", help="record TTL in seconds or 'auto' (env DNS_TTL, default auto)")
    add("--target", help="publish this IPv4 instead of looking up TS_HOSTNAME (env DNS_TARGET)")
    add("--no-split-dns", action="store_true", help="leave Tailscale split DNS alone")
    add("--retries", help="retries per API call on 429/5xx (env DNS_RETRIES, default 2)")
    add("--device-id", help="pin the device by its Tailscale node id (env TS_DEVICE_ID)")
    add("--device-tag", help="the one device carrying this tag, e.g. tag:dns (env TS_DEVICE_TAG)")
    add(
        "--max-device-age",
        help="refuse a device not seen for this long (env TS_DEVICE_MAX_AGE, default 3600s)",
    )


def parse_ttl(text: str) -> int:
    if text.strip().lower() == "auto":
        return 1
    value = parse_positive_int(text)
    if not 30 <= value <= 86400:
        raise ValueError("expected 'auto' or 30-86400 seconds")
    return value


def parse_retries(text: str) -> int:
    value = int(text) if text.strip().isdigit() else -1
    if not 0 <= value <= 10:
        raise ValueError("expected a whole number 0-10")
    return value


def parse_ipv4(text: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise ValueError("expected an IPv4 address") from None


_DNS_NAME = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _hostname(text: str) -> str:
    name = text.strip().rstrip(".").lower()
    if not name or " " in name or "/" in name:
        raise ValueError("expected a DNS name")
    return name


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
    zone = parse_setting("DNS_ZONE", _required(env, "DNS_ZONE", "the Cloudflare zone"), _hostname)
    hostname = parse_setting(
        "DNS_HOSTNAME", _required(env, "DNS_HOSTNAME", "the name to publish"), _hostname
    )
    if hostname != zone and not hostname.endswith("." + zone):
        raise ConfigError("DNS_HOSTNAME", f"{hostname!r} is not inside DNS_ZONE {zone!r}")
    cf_token = _required(env, "CF_API_TOKEN", "a Cloudflare API token with Zone → DNS → Edit")
    target = flag_or_env(
        args,
        attribute="target",
        flag="--target",
        env_var="DNS_TARGET",
        parse=parse_ipv4,
        default=None,
        environ=env,
    )
    ts_hostname = env.get("TS_HOSTNAME", "").strip() or None
    if ts_hostname:
        _reject_placeholder("TS_HOSTNAME", ts_hostname)
        ts_hostname = parse_setting("TS_HOSTNAME", ts_hostname, _hostname)
    device_id = _optional_flag_or_env(args, "device_id", "--device-id", "TS_DEVICE_ID", env)
    device_tag = _optional_flag_or_env(args, "device_tag", "--device-tag", "TS_DEVICE_TAG", env)
    if device_tag is not None and not device_tag.startswith("tag:"):
        raise ConfigError("TS_DEVICE_TAG", f"{device_tag!r} is not a tag (expected tag:name)")
    if not (ts_hostname or device_id or device_tag) and target is None:
        raise ConfigError("TS_HOSTNAME", "not set (the tailnet device whose address to publish)")
    tailnet = env.get("TS_TAILNET", "").strip() or "-"
    _reject_placeholder("TS_TAILNET", tailnet, " ('-' means the key's own tailnet)")
    credentials = _tailscale_credentials(env)
    resolvers: tuple[str, ...] | None = None
    if not args.no_split_dns:
        raw = env.get("SPLIT_DNS_RESOLVERS", DEFAULT_RESOLVERS)
        resolvers = tuple(sorted(parse_setting("SPLIT_DNS_RESOLVERS", raw, _resolver_list)))
    retries = flag_or_env(
        args,
        attribute="retries",
        flag="--retries",
        env_var="DNS_RETRIES",
        parse=parse_retries,
        default=2,
        environ=env,
    )
    retry = retry or RetryPolicy(attempts=retries + 1)
    settings = DnsSettings(
        zone=zone,
        hostname=hostname,
        ts_hostname=ts_hostname,
        resolvers=resolvers,
        ttl=flag_or_env(
            args,
            attribute="ttl",
            flag="--ttl",
            env_var="DNS_TTL",
            parse=parse_ttl,
            default=1,
            environ=env,
        ),
        aaaa=args.aaaa,
        adopt=args.adopt,
        allow_public_target=args.allow_public_target,
        target=target,
        magicdns_suffix=magicdns_suffix(env),
        device_id=device_id,
        device_tag=device_tag,
        max_device_age=flag_or_env(
            args,
            attribute="max_device_age",
            flag="--max-device-age",
            env_var="TS_DEVICE_MAX_AGE",
            parse=parse_seconds,
            default=3600.0,
            environ=env,
        ),
    )
    cf_base = parse_setting(
        "CLOUDFLARE_BASE_URL",
        env.get("CLOUDFLARE_BASE_URL", cloudflare_api.DEFAULT_BASE_URL),
        parse_http_url,
    )
    ts_base = parse_setting(
        "TS_API_BASE_URL",
        env.get("TS_API_BASE_URL", tailscale_api.DEFAULT_BASE_URL),
        parse_http_url,
    )
    tailscale = (
        tailscale_api.TailscaleAPI(credentials, base_url=ts_base, tailnet=tailnet, retry=retry)
        if credentials is not None
        else None
    )
    cloudflare = cloudflare_api.CloudflareDNS(cf_token, base_url=cf_base, retry=retry)
    return Setup(settings, cloudflare, tailscale)


MAGICDNS_SUFFIX = "TS_MAGICDNS_SUFFIX"
_TS_NET = ".ts.net"


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
    host = _required(env, "TS_HOSTNAME", "the server's MagicDNS name")
    host = parse_setting("TS_HOSTNAME", host, _hostname)
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


def _optional_flag_or_env(
    args: argparse.Namespace, attribute: str, flag: str, env_var: str, env: Mapping[str, str]
) -> str | None:
    value = flag_or_env(
        args,
        attribute=attribute,
        flag=flag,
        env_var=env_var,
        parse=_device_token,
        default="",
        environ=env,
    )
    if value:
        _reject_placeholder(env_var, value)
    return value or None  # set but empty means unset, as for the other variables


def _device_token(text: str) -> str:
    value = text.strip()
    if any(c.isspace() for c in value):
        raise ValueError("expected one word")
    return value


def _resolver_list(text: str) -> frozenset[str]:
    names = parse_name_list(text)
    if not names:
        raise ValueError("expected at least one resolver address")
    for name in names:
        ipaddress.ip_address(name)  # ValueError names the problem
    return names


def _tailscale_credentials(env: Mapping[str, str]) -> tailscale_api.TailscaleCredentials | None:
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


def reconciler_for(setup: Setup, tracer: Tracer | None = None) -> DnsReconciler:
    devices: DeviceLister | None = None
    if setup.tailscale is None:
        if setup.settings.resolvers is not None:
            log.warning("no TS_API_KEY or OAuth client: split DNS is not managed in this run")
        if setup.settings.target is None:
            devices = tailscale_api.devices_from_local_cli
        return DnsReconciler(setup.settings, setup.cloudflare, None, devices, tracer=tracer)
    split = setup.tailscale if setup.settings.resolvers is not None else None
    if setup.settings.target is None:
        devices = setup.tailscale.devices
    return DnsReconciler(setup.settings, setup.cloudflare, split, devices, tracer=tracer)


def build_loop(
    environ: Mapping[str, str] | None = None,
    *,
    interval: float = 60.0,
    dry_run: bool = False,
    tracer: Tracer | None = None,
) -> tuple[ReconcileLoop, Setup]:
    """The monitor's entry point: the same settings as ``trashmon dns`` with no flags given.

    Each cycle is a ``trashmon.dns.reconcile`` span of the monitor's service (exported
    over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set). The caller owns ``Setup`` and
    calls ``setup.close()`` at exit.
    """
    parser = argparse.ArgumentParser()
    configure(parser)
    setup = build(parser.parse_args([]), os.environ if environ is None else environ)
    if tracer is None:
        tracer = setup_tracing("trashmon-monitor").get_tracer(__name__)
    loop = ReconcileLoop(reconciler_for(setup, tracer), interval=interval, dry_run=dry_run)
    return loop, setup


def print_report(report: ReconcileReport) -> None:
    for line in report.lines():
        print(line, flush=True)
    if report.error is None:
        print(report.summary(), flush=True)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "print_health_url", False):
        print(health_api_url(os.environ))
        return EXIT_OK
    interval = flag_or_env(
        args,
        attribute="interval",
        flag="--interval",
        env_var="DNS_INTERVAL",
        parse=seconds_between(0.1, 86400),
        default=60.0,
    )
    metrics_addr = flag_or_env(
        args,
        attribute="metrics_addr",
        flag="--metrics-addr",
        env_var=METRICS_ADDR_ENV,
        parse=parse_host_port,
        default=None,
    )
    if metrics_addr is not None and not args.watch:
        raise ConfigError("--metrics-addr", "only with --watch (one run has nothing to scrape)")
    if not getattr(args, "debug", False):
        # httpx logs every request at INFO: noise next to the one line per resource.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
    setup = build(args, os.environ)
    try:
        tracer = setup_tracing("trashmon-dns").get_tracer(__name__)
        reconciler = reconciler_for(setup, tracer)
        if not args.watch:
            report = reconciler.reconcile(dry_run=args.dry_run)
            print_report(report)
            if report.error is not None:
                raise report.error
            return report.exit_code
        return _watch(reconciler, interval, dry_run=args.dry_run, metrics_addr=metrics_addr)
    finally:
        setup.close()


def _watch(
    reconciler: DnsReconciler,
    interval: float,
    *,
    dry_run: bool,
    metrics_addr: HostPort | None = None,
) -> int:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def on_report(report: ReconcileReport) -> None:
        print_report(report)
        if report.error is not None:
            print(f"trashmon dns: error: {report.error.message}", file=sys.stderr, flush=True)

    loop = ReconcileLoop(reconciler, interval=interval, dry_run=dry_run, on_report=on_report)
    service = _metrics_service(loop, metrics_addr) if metrics_addr is not None else None
    try:
        last = loop.run(stop)
    finally:
        if service is not None:
            service.stop()
    return last.exit_code if last is not None else 0


def _metrics_service(loop: ReconcileLoop, address: HostPort) -> HTTPService:
    """The loop's own /metrics (a standalone reconciler, e.g. its own Kubernetes
    workload): the same collector the monitor's --dns-interval loop registers."""
    registry = CollectorRegistry()
    registry.register(DnsCollector(loop.stats))
    service = HTTPService(address, {"/metrics": metrics_route(registry)}, METRICS_ADDR_ENV)
    service.start()
    return service
