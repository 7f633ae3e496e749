"""Hosts as Linux network namespaces on one private link, for system tests.

A :class:`Tailnet` is a bridge in the root namespace (the test harness's own address on
it, so the test reads every host directly) and one namespace per host, each joined by a
veth pair whose inner end is that host's ``eth0``. Addresses come from one /24 of
100.64.0.0/10 that no route of this machine already uses, so nothing the hosts send can
leave the namespaces the test created. Names carry a random token: parallel runs by
other engineers get their own namespaces, bridge and subnet.

Everything is removed by :meth:`Tailnet.close` (namespaces, which takes their veth ends
and every socket with them, and the bridge), which the fixture calls in all cases.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
NETNS_ETC = Path("/etc/netns")


class NamespacesUnavailable(Exception):
    """Network namespaces cannot be created here; the message is ``ip``'s own error."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def probe_namespaces(token: str) -> None:
    """Create and delete one namespace; raise :class:`NamespacesUnavailable` if we can't."""
    name = f"trashmon-probe-{token}"
    try:
        done = subprocess.run(
            ["ip", "netns", "add", name], capture_output=True, text=True, timeout=30, check=False
        )
    except FileNotFoundError as error:
        raise NamespacesUnavailable(f"ip netns add: {error}") from None
    if done.returncode != 0:
        raise NamespacesUnavailable(f"ip netns add {name}: {done.stderr.strip()}")
    _ip("netns", "del", name)


def _routed_networks() -> list[ipaddress.IPv4Network]:
    done = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    networks = []
    for line in done.stdout.splitlines():
        # "100.64.0.0/10 dev …", or a type first: "local 127.0.0.1 …", "unreachable …"
        for word in line.split()[:2]:
            with contextlib.suppress(ValueError):
                networks.append(ipaddress.IPv4Network(word, strict=False))
                break
    return networks


def free_subnet() -> ipaddress.IPv4Network:
    """A random /24 of 100.64.0.0/10 that overlaps no route on this machine."""
    used = [network for network in _routed_networks() if network.prefixlen > 0]
    free = [
        candidate
        for candidate in CGNAT.subnets(new_prefix=24)
        if not any(candidate.overlaps(network) for network in used)
    ]
    if not free:
        raise RuntimeError("no free /24 in 100.64.0.0/10: every one is routed here")
    return free[secrets.randbelow(len(free))]


@dataclass
class Host:
    """One namespace with ``eth0`` on the tailnet."""

    name: str
    namespace: str
    address: str

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(argv), capture_output=True, text=True, timeout=timeout, check=False
        )

    def popen(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in this host; output to ``log_path``. Stop it with stop_process."""
        with log_path.open("ab") as log:
            return subprocess.Popen(
                self.argv(argv), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT
            )

    def link(self, up: bool) -> None:
        """Plug or unplug this host's cable (a real partition: no RST, only silence)."""
        _ip("-n", self.namespace, "link", "set", "eth0", "up" if up else "down")


@dataclass
class Tailnet:
    token: str = field(default_factory=lambda: secrets.token_hex(3))
    subnet: ipaddress.IPv4Network = field(default_factory=free_subnet)
    hosts: dict[str, Host] = field(default_factory=dict)
    _created_namespaces: list[str] = field(default_factory=list)
    _bridge: str | None = None

    @property
    def bridge(self) -> str:
        return f"tmb{self.token}"

    @property
    def harness_address(self) -> str:
        """The test's own address on the tailnet (the bridge's)."""
        return str(self.subnet.network_address + 1)

    def up(self) -> Tailnet:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._bridge = self.bridge
        _ip("addr", "add", f"{self.harness_address}/{self.subnet.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        return self

    def add_host(self, name: str) -> Host:
        """A new namespace ``name`` with lo up and eth0 on the bridge."""
        index = len(self.hosts) + 2
        namespace = f"trashmon-{self.token}-{name}"
        outer = f"tm{self.token}h{index}"
        _ip("netns", "add", namespace)
        self._created_namespaces.append(namespace)
        _ip("link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", outer, "master", self.bridge, "up")
        address = str(self.subnet.network_address + index)
        _ip("-n", namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        host = Host(name, namespace, address)
        self.hosts[name] = host
        return host

    def name_hosts(self, names: Mapping[str, str]) -> None:
        """Every host resolves ``names`` (name -> address) through its own /etc/hosts.

        ``ip netns exec`` bind-mounts /etc/netns/<namespace>/hosts over /etc/hosts: the
        names a deployment's DNS would give (compose's service names, MagicDNS host names)
        without touching the machine's own /etc/hosts.
        """
        lines = ["127.0.0.1 localhost", "::1 localhost"]
        lines += [f"{address} {name}" for name, address in names.items()]
        for namespace in self._created_namespaces:
            directory = NETNS_ETC / namespace
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "hosts").write_text("\n".join(lines) + "\n")

    def close(self) -> None:
        """Delete every namespace (and so its veth and processes' sockets) and the bridge."""
        for namespace in self._created_namespaces:
            shutil.rmtree(NETNS_ETC / namespace, ignore_errors=True)
        with contextlib.suppress(OSError):  # only when no other run still uses it
            NETNS_ETC.rmdir()
        errors = []
        for namespace in reversed(self._created_namespaces):
            try:
                _ip("netns", "del", namespace)
            except RuntimeError as error:
                errors.append(str(error))
        self._created_namespaces.clear()
        if self._bridge is not None:
            try:
                _ip("link", "del", self._bridge)
            except RuntimeError as error:
                errors.append(str(error))
            self._bridge = None
        if errors:
            raise RuntimeError("; ".join(errors))


def is_root() -> bool:
    return os.geteuid() == 0
