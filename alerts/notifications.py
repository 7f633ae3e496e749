"""Alertmanager routing for the shipped alerts, derived from the same mixin config.

Severity decides who hears about an alert: ``critical`` pages, ``warning`` goes to a
quieter channel, ``info`` to nobody (it stays visible in Prometheus and Alertmanager).
Alerts are grouped by alert name, site and camera, so one camera's incident is one
message (the same path name at two sites is two cameras).

Inhibitions keep a single cause from paging many times:

* MediaMTX unreachable, or the monitor gone or blind: every camera of that site looks
  down, so the camera-down-type alerts of its cameras are held back while one of those
  fires (``equal: [site]``; without sites the label is absent on both sides, which
  Alertmanager counts as equal);
* a capture agent offline: the stall and image alerts of that same camera say nothing
  more (``equal: [camera]``).

Receivers are webhooks (:func:`webhook_receivers`); the e-mail and ntfy examples are
rendered by the same function with other receivers, so they route identically.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from trashmonitor.alerts.config import DEFAULT_CONFIG, MixinConfig

PAGE_RECEIVER = "page"
NOTIFY_RECEIVER = "notify"
# A receiver without configs: Alertmanager keeps the alert, nobody is notified.
SILENT_RECEIVER = "silent"

# Names without the prefix; the prefix comes from the config (alerts/rules.py).
PLATFORM_DOWN_ALERTS = ("MediamtxUnreachable", "MonitorAbsent", "MonitorBlind")
CAMERA_DOWN_ALERTS = ("CameraDown", "StreamStalled", "PlaceholderOnly")
AGENT_OFFLINE_ALERT = "AgentOffline"
AGENT_DEPENDENT_ALERTS = ("StreamStalled", "BlackImage", "FrozenImage")

Receivers = Callable[[MixinConfig], list[dict[str, Any]]]


def _names_matcher(config: MixinConfig, names: tuple[str, ...]) -> str:
    alternatives = "|".join(config.alert_prefix + name for name in names)
    return f'alertname=~"{alternatives}"'


def webhook_receivers(config: MixinConfig) -> list[dict[str, Any]]:
    """Page and notify as webhooks; the bearer token is read from a file, never inlined."""

    def webhook(url: str) -> dict[str, Any]:
        authorization = {"type": "Bearer", "credentials_file": config.webhook_credentials_file}
        return {
            "url": url,
            "send_resolved": True,
            "http_config": {"authorization": authorization},
        }

    return [
        {"name": PAGE_RECEIVER, "webhook_configs": [webhook(config.page_webhook_url)]},
        {"name": NOTIFY_RECEIVER, "webhook_configs": [webhook(config.notify_webhook_url)]},
        {"name": SILENT_RECEIVER},
    ]


def email_receivers(config: MixinConfig) -> list[dict[str, Any]]:
    """Example: e-mail for both channels; the SMTP password is read from a file."""

    def email(to: str) -> dict[str, Any]:
        return {
            "to": to,
            "from": "trashmonitor@example.org",
            "smarthost": "smtp.example.org:587",
            "auth_username": "trashmonitor@example.org",
            "auth_password_file": "/etc/alertmanager/secrets/smtp-password",
            "require_tls": True,
            "send_resolved": True,
        }

    return [
        {"name": PAGE_RECEIVER, "email_configs": [email("oncall@example.org")]},
        {"name": NOTIFY_RECEIVER, "email_configs": [email("cameras@example.org")]},
        {"name": SILENT_RECEIVER},
    ]


def ntfy_receivers(config: MixinConfig) -> list[dict[str, Any]]:
    """Example: ntfy topics through the webhook receiver; the access token from a file."""
    token = {"type": "Bearer", "credentials_file": "/etc/alertmanager/secrets/ntfy-token"}

    def topic(name: str) -> dict[str, Any]:
        return {
            # ntfy's `tpl`/`m` query parameters turn the JSON body into a readable line.
            "url": f"https://ntfy.example.org/{name}?tpl=1&t={{{{.commonLabels.alertname}}}}"
            "&m={{.status}}:+{{.commonAnnotations.summary}}",
            "send_resolved": True,
            "http_config": {"authorization": token},
        }

    return [
        {"name": PAGE_RECEIVER, "webhook_configs": [topic("trashmonitor-page")]},
        {"name": NOTIFY_RECEIVER, "webhook_configs": [topic("trashmonitor")]},
        {"name": SILENT_RECEIVER},
    ]


def alertmanager_config(
    config: MixinConfig = DEFAULT_CONFIG, receivers: Receivers = webhook_receivers
) -> dict[str, Any]:
    """The Alertmanager configuration document (``alertmanager.yml``)."""
    camera, site = config.camera_label, config.site_label
    routes = [
        {
            "receiver": PAGE_RECEIVER,
            "matchers": ['severity="critical"'],
            "repeat_interval": config.notification_repeat_critical,
        },
        {"receiver": NOTIFY_RECEIVER, "matchers": ['severity="warning"']},
        {"receiver": SILENT_RECEIVER, "matchers": ['severity="info"']},
    ]
    inhibit_rules = [
        {
            "source_matchers": [_names_matcher(config, PLATFORM_DOWN_ALERTS)],
            "target_matchers": [_names_matcher(config, CAMERA_DOWN_ALERTS)],
            "equal": [site],
        },
        {
            "source_matchers": [f'alertname="{config.alert_prefix}{AGENT_OFFLINE_ALERT}"'],
            "target_matchers": [_names_matcher(config, AGENT_DEPENDENT_ALERTS)],
            "equal": [site, camera],
        },
    ]
    return {
        "route": {
            # An alert without a known severity is still heard, on the quiet channel.
            "receiver": NOTIFY_RECEIVER,
            "group_by": ["alertname", site, camera],
            "group_wait": config.notification_group_wait,
            "group_interval": config.notification_group_interval,
            "repeat_interval": config.notification_repeat_warning,
            "routes": routes,
        },
        "inhibit_rules": inhibit_rules,
        "receivers": receivers(config),
    }


ALERTMANAGER_FILE = "alertmanager.yml"
EXAMPLE_FILES: dict[str, Receivers] = {
    "alertmanager.email.example.yml": email_receivers,
    "alertmanager.ntfy.example.yml": ntfy_receivers,
}


def rendered_alertmanager_files(config: MixinConfig = DEFAULT_CONFIG) -> dict[str, str]:
    """File name (inside alerts/) -> content: the shipped config and its examples."""
    from trashmonitor.alerts.render import to_yaml

    files = {ALERTMANAGER_FILE: to_yaml(alertmanager_config(config))}
    for name, receivers in EXAMPLE_FILES.items():
        files[name] = to_yaml(alertmanager_config(config, receivers))
    files[ALERTMANAGER_CONFIG_FILE] = to_yaml(alertmanager_config_resource(config))
    return files


# --- prometheus-operator -----------------------------------------------------------------

ALERTMANAGER_CONFIG_FILE = "alertmanagerconfig.yaml"
# The Secret (created by the operator of the cluster, docs/server.md) holding the
# receivers' URLs and the bearer token: nothing secret in the manifest.
WEBHOOK_SECRET = "trashmonitor-alert-webhook"  # noqa: S105 (a Secret's name)
WEBHOOK_SECRET_KEYS = {PAGE_RECEIVER: "page-url", NOTIFY_RECEIVER: "notify-url"}
WEBHOOK_TOKEN_KEY = "token"  # noqa: S105 (a key in that Secret)
_MATCHER = re.compile(r'^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<type>=~|!~|!=|=)"(?P<value>.*)"$')


def _crd_matchers(matchers: list[str]) -> list[dict[str, str]]:
    """``name=~"value"`` (as written above) -> the CRD's structured matcher."""
    structured = []
    for text in matchers:
        match = _MATCHER.match(text)
        if match is None:
            raise ValueError(f"not a matcher this module writes: {text!r}")
        matcher = {"name": match["name"], "value": match["value"]}
        # "=" is the CRD's default; left out, as kustomize writes it unquoted and
        # PyYAML then reads a bare `=` as YAML's value key.
        if match["type"] != "=":
            matcher["matchType"] = match["type"]
        structured.append(matcher)
    return structured


def alertmanager_config_resource(config: MixinConfig = DEFAULT_CONFIG) -> dict[str, Any]:
    """The same routing as prometheus-operator's ``AlertmanagerConfig`` (v1alpha1)."""
    document = alertmanager_config(config)
    route = document["route"]
    token = {"name": WEBHOOK_SECRET, "key": WEBHOOK_TOKEN_KEY}

    def receiver(name: str) -> dict[str, Any]:
        if name not in WEBHOOK_SECRET_KEYS:
            return {"name": name}
        webhook = {
            "urlSecret": {"name": WEBHOOK_SECRET, "key": WEBHOOK_SECRET_KEYS[name]},
            "sendResolved": True,
            "httpConfig": {"authorization": {"type": "Bearer", "credentials": token}},
        }
        return {"name": name, "webhookConfigs": [webhook]}

    def child(source: dict[str, Any]) -> dict[str, Any]:
        translated: dict[str, Any] = {
            "receiver": source["receiver"],
            "matchers": _crd_matchers(source["matchers"]),
        }
        if "repeat_interval" in source:
            translated["repeatInterval"] = source["repeat_interval"]
        return translated

    inhibit_rules = []
    for rule in document["inhibit_rules"]:
        translated = {
            "sourceMatch": _crd_matchers(rule["source_matchers"]),
            "targetMatch": _crd_matchers(rule["target_matchers"]),
        }
        if "equal" in rule:
            translated["equal"] = rule["equal"]
        inhibit_rules.append(translated)
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {
            "name": "trashmonitor",
            "labels": {"app.kubernetes.io/name": "trashmonitor", "role": "alert-routing"},
        },
        "spec": {
            "route": {
                "receiver": route["receiver"],
                "groupBy": route["group_by"],
                "groupWait": route["group_wait"],
                "groupInterval": route["group_interval"],
                "repeatInterval": route["repeat_interval"],
                "routes": [child(r) for r in route["routes"]],
            },
            "receivers": [receiver(r["name"]) for r in document["receivers"]],
            "inhibitRules": inhibit_rules,
        },
    }
