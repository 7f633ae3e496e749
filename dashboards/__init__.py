"""Grafana dashboards as code, rendered to committed JSON."""
