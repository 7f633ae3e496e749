"""Prometheus alert and recording rules, rendered from one config."""
