"""Observe: the tailnet address (→ the desired state) and what the providers hold now.

The one I/O stage before the plan. The desired state needs the device's address, so
the device lookup happens here too; choosing the device is pure (plan.choose_device).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from opentelemetry.trace import NoOpTracer, Tracer

from trashmonitor.dns.apply import Provider
from trashmonitor.dns.model import (
    DesiredState,
    DNSRecord,
    DnsSettings,
    ObservedState,
    TailnetDevice,
)
from trashmonitor.dns.plan import choose_device, desired_state
from trashmonitor.errors import ConfigError, DeviceChoiceError, TailnetDeviceError

DeviceLister = Callable[[], Sequence[TailnetDevice]]


class RecordsProvider(Provider, Protocol):
    """The DNS records at the published name (Cloudflare)."""

    def records(self) -> tuple[DNSRecord, ...]: ...


class SplitDNSProvider(Provider, Protocol):
    """The tailnet's split-DNS map, domain → resolvers (Tailscale)."""

    def records(self) -> Mapping[str, tuple[str, ...]]: ...


class Observer:
    """The settings' device and the providers' current records, as one observation."""

    def __init__(
        self,
        settings: DnsSettings,
        records: RecordsProvider,
        split_dns: SplitDNSProvider | None,
        devices: DeviceLister | None,
        *,
        tracer: Tracer | None = None,
    ) -> None:
        selector = settings.device_selector
        if settings.target is None and (
            devices is None or not (selector.magicdns_name or selector.node_id or selector.tag)
        ):
            raise ConfigError("TS_HOSTNAME", "no way to look up the tailnet address")
        self.settings = settings
        self.records = records
        self.split_dns = split_dns
        self._devices = devices
        self._tracer = tracer or NoOpTracer()

    @property
    def providers(self) -> tuple[Provider, ...]:
        """Where the plan's writes go, in the order they are written."""
        return (self.records,) if self.split_dns is None else (self.records, self.split_dns)

    def observe(self, now: float) -> tuple[DesiredState, ObservedState]:
        settings = self.settings
        ipv4, ipv6 = self._target(now)
        if settings.aaaa and ipv6 is None:
            raise ConfigError("--aaaa", "the tailnet device has no IPv6 address")
        desired = desired_state(
            hostname=settings.hostname,
            zone=settings.zone,
            ttl=settings.ttl,
            ipv4=ipv4,
            ipv6=ipv6 if settings.aaaa else None,
            resolvers=settings.resolvers if self.split_dns is not None else None,
        )
        records = self.records.records()
        split = self.split_dns.records() if self.split_dns is not None else None
        return desired, ObservedState(records, split)

    def _target(self, now: float) -> tuple[ipaddress.IPv4Address, ipaddress.IPv6Address | None]:
        settings = self.settings
        if settings.target is not None:
            return settings.target, None
        if self._devices is None:
            raise ConfigError("TS_HOSTNAME", "no way to look up the tailnet address")
        with self._tracer.start_as_current_span("tailscale.devices"):
            devices = self._devices()
        try:
            device = choose_device(
                devices, settings.device_selector, now=now, max_age=settings.max_device_age
            )
        except DeviceChoiceError as error:
            if error.stale:
                raise TailnetDeviceError(f"{settings.device_setting}: {error}") from error
            raise ConfigError(settings.device_setting, str(error)) from error
        if device.ipv4 is None:  # choose_device refuses these; said again for the type
            raise ConfigError(settings.device_setting, "the tailnet device has no IPv4 address")
        return device.ipv4, device.ipv6
