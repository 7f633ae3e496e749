"""tests/support/netns.py without root: the skip names ip's own error; subnets avoid routes.

A stand-in ``ip`` on PATH answers as the real one does where namespaces are refused
(an unprivileged user, a container without CAP_SYS_ADMIN) and lists the routes given.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from support.netns import CGNAT, NamespacesUnavailable, free_subnet, probe_namespaces

REFUSED = "mount --make-shared /run/netns failed: Operation not permitted"


def stand_in_ip(directory: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    ip = directory / "ip"
    ip.write_text(f"#!/bin/sh\n{script}\n")
    ip.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}:/usr/bin:/bin")


def test_refused_namespaces_raise_with_ips_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in_ip(tmp_path, monkeypatch, f'echo "{REFUSED}" >&2; exit 1')

    with pytest.raises(NamespacesUnavailable) as raised:
        probe_namespaces("abc123")

    assert REFUSED in str(raised.value)
    assert "ip netns add trashmon-probe-abc123" in str(raised.value)


def test_a_missing_ip_tool_is_unavailable_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(NamespacesUnavailable, match="ip netns add"):
        probe_namespaces("abc123")


def test_the_subnet_overlaps_no_route_of_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every /24 of 100.64.0.0/10 but one is routed already: only that one may come back.
    routed = CGNAT.address_exclude(ipaddress.IPv4Network("100.100.7.0/24"))
    lines = "\n".join(f"{net} dev tailscale0 scope link" for net in routed)
    listing = tmp_path / "routes"
    listing.write_text(f"default via 192.0.2.1 dev eth0\n{lines}\nlocal 127.0.0.1 dev lo\n")
    stand_in_ip(tmp_path, monkeypatch, f'cat "{listing}"')

    assert free_subnet() == ipaddress.IPv4Network("100.100.7.0/24")
    assert free_subnet().subnet_of(CGNAT)
