"""Fixtures for the DNS reconciler tests (the world itself is in support/dns_world.py)."""

from __future__ import annotations

from support.dns_world import fake, harness_factory

__all__ = ["fake", "harness_factory"]
