"""dns/model.py: what a reconcile's report says (exit code, outcome word, in sync, writes,
its lines and summary), the ownership marker, the device selector's wording, which
setting a device error names, a device's addresses and the errors' metric kinds. Values
built by hand: no I/O."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.dns.model import (
    OWNER_MARKER,
    CreateRecord,
    DesiredRecord,
    DeviceSelector,
    DNSRecord,
    DnsSettings,
    InSync,
    Outcome,
    ReconcileReport,
    Refused,
    Resource,
    Result,
    TailnetDevice,
    UpdateRecord,
    error_kind,
    format_outcome,
    is_owner_marker,
)
from trashmonitor.errors import (
    AuthError,
    ConfigError,
    DriftError,
    TailnetDeviceError,
    TransientAPIError,
    TrashmonError,
    UnreachableError,
)

NAME = "trashmonitor.example.com"
WANT = DesiredRecord("A", NAME, ipaddress.IPv4Address("100.64.0.1"), 1)
HELD = DNSRecord("r1", "A", NAME, "100.64.0.9", 1, False, OWNER_MARKER)
NEW = "A 100.64.0.1 ttl=auto proxied=false"
OLD = "A 100.64.0.9 ttl=auto proxied=false"
CREATE = CreateRecord(resource=Resource.A_RECORD, name=NAME, old="(none)", new=NEW, desired=WANT)
UPDATE = UpdateRecord(
    resource=Resource.A_RECORD, name=NAME, old=OLD, new=NEW, desired=WANT, current=HELD,
    reason="address changed",
)  # fmt: skip
IN_SYNC = InSync(
    resource=Resource.SPLIT_DNS, name="example.com", old="1.0.0.1,1.1.1.1", new="1.0.0.1,1.1.1.1"
)
REFUSED = Refused(
    resource=Resource.A_RECORD, name=NAME, old=OLD, new=NEW, reason="not owned by trashmonitor"
)


def report(*outcomes: Outcome, error: TrashmonError | None = None) -> ReconcileReport:
    kind = None if error is None else error_kind(error)
    return ReconcileReport(100.0, 0.25, False, outcomes, error, kind)


# ------------------------------------------------------------------ the report


@pytest.mark.parametrize(
    ("outcomes", "ended"),
    [
        (
            [Outcome(IN_SYNC, Result.NOTHING_TO_DO)],
            (0, True, 0, "in_sync", "dns: in sync (nothing to do)"),
        ),
        (
            [Outcome(CREATE, Result.APPLIED), Outcome(IN_SYNC, Result.NOTHING_TO_DO)],
            (0, True, 1, "applied", "dns: in sync (1 change(s) applied)"),
        ),
        (
            [Outcome(CREATE, Result.DRY_RUN), Outcome(IN_SYNC, Result.NOTHING_TO_DO)],
            (1, False, 0, "dry_run", "dns: 1 change(s) planned, dry run: nothing written"),
        ),
        (
            [Outcome(REFUSED, Result.REFUSED, error_kind="refused"),
             Outcome(IN_SYNC, Result.APPLIED)],
            (1, False, 0, "drift", "dns: drift remains (1 refused or failed, 0 applied)"),
        ),
        (
            [Outcome(CREATE, Result.FAILED, "HTTP 503; gave up", "server")],
            (1, False, 0, "drift", "dns: drift remains (1 refused or failed, 0 applied)"),
        ),
        (
            [Outcome(CREATE, Result.APPLIED), Outcome(UPDATE, Result.FAILED, "HTTP 403", "auth")],
            (2, False, 1, "drift", "dns: drift remains (1 refused or failed, 1 applied)"),
        ),
        (
            [Outcome(UPDATE, Result.FAILED, "DNS_ZONE: not found", "config")],
            (2, False, 0, "drift", "dns: drift remains (1 refused or failed, 0 applied)"),
        ),
    ],
    ids=["in-sync", "applied", "dry-run", "refused", "failed", "auth", "config"],
)  # fmt: skip
def test_the_report_says_how_the_cycle_ended(
    outcomes: list[Outcome], ended: tuple[int, bool, int, str, str]
) -> None:
    """A write refused for a credential or setting needs a person (exit 2); any other
    refusal or failure, or a dry run, leaves drift (exit 1)."""
    done = report(*outcomes)
    # exit code, in sync, writes, the outcome word, the summary line
    assert (done.exit_code, done.in_sync, done.writes, done.outcome, done.summary()) == ended


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        (DriftError("Cloudflare: HTTP 503; gave up after retries"), 1),
        (TailnetDeviceError("TS_HOSTNAME: last seen 3 h ago"), 1),
        (ConfigError("DNS_ZONE", "no such zone"), 2),
        (UnreachableError("Tailscale: connection refused"), 2),
    ],
)
def test_a_failed_observation_is_the_errors_exit_code_and_nothing_else(
    error: TrashmonError, exit_code: int
) -> None:
    done = report(error=error)
    assert done.exit_code == exit_code
    assert not done.in_sync
    assert done.outcome == "error"
    assert done.summary() == f"dns: could not reconcile: {error.message}"
    assert done.lines() == []


def test_each_line_names_the_resource_the_change_and_why() -> None:
    assert format_outcome(Outcome(IN_SYNC, Result.NOTHING_TO_DO)) == (
        "split_dns example.com: ok 1.0.0.1,1.1.1.1"
    )
    assert format_outcome(Outcome(UPDATE, Result.APPLIED, "re-read first")) == (
        f"a_record {NAME}: update {OLD} -> {NEW} (applied; address changed; re-read first)"
    )
    assert format_outcome(Outcome(REFUSED, Result.REFUSED, error_kind="refused")) == (
        f"a_record {NAME}: refuse {OLD} -> {NEW} (refused; not owned by trashmonitor)"
    )
    assert report(Outcome(CREATE, Result.DRY_RUN)).lines() == [
        f"a_record {NAME}: create (none) -> {NEW} (dry run, not applied)"
    ]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (AuthError("CF_API_TOKEN was not accepted"), "auth"),
        (ConfigError("DNS_ZONE", "no such zone"), "config"),
        (TailnetDeviceError("TS_HOSTNAME: stale"), "device"),
        (TransientAPIError("429", status_code=429, kind="rate_limited"), "rate_limited"),
        (UnreachableError("refused"), "unreachable"),
        (DriftError("gave up"), "server"),  # not a label of trashmon_dns_errors_total
    ],
)
def test_an_error_counts_under_its_kind_when_the_dns_metric_has_it(
    error: TrashmonError, kind: str
) -> None:
    assert error_kind(error) == kind


# ------------------------------------------------------------------ ownership, devices


@given(st.text(max_size=60))
def test_ours_means_the_comment_is_exactly_the_marker(comment: str) -> None:
    assert is_owner_marker(comment) is (comment == OWNER_MARKER)
    assert is_owner_marker(f"{comment}{OWNER_MARKER}") is (comment == "")
    assert is_owner_marker(f"{OWNER_MARKER}{comment}") is (comment == "")


def test_a_record_is_owned_by_its_comment_alone() -> None:
    assert HELD.owned
    assert not DNSRecord("r2", "A", NAME, "100.64.0.1", 1, False, f"{OWNER_MARKER}-old").owned


@pytest.mark.parametrize(
    ("selector", "described"),
    [
        (DeviceSelector("trashmonitor", "tail1234.ts.net"),
         "MagicDNS name 'trashmonitor.tail1234.ts.net'"),
        (DeviceSelector("trashmonitor"), "MagicDNS name 'trashmonitor'"),
        (DeviceSelector(node_id="nPINNED", tag="tag:dns"), "node id 'nPINNED' and tag 'tag:dns'"),
        (DeviceSelector(), "nothing"),
    ],
)  # fmt: skip
def test_the_selector_describes_every_criterion_given(
    selector: DeviceSelector, described: str
) -> None:
    assert selector.describe() == described


@pytest.mark.parametrize(
    ("ts_hostname", "device_id", "device_tag", "setting"),
    [
        ("trashmonitor", "nPINNED", None, "TS_HOSTNAME"),
        (None, "nPINNED", "tag:dns", "TS_DEVICE_ID"),
        (None, None, "tag:dns", "TS_DEVICE_TAG"),
    ],
)
def test_a_device_error_names_the_setting_that_chose_the_device(
    ts_hostname: str | None, device_id: str | None, device_tag: str | None, setting: str
) -> None:
    settings = DnsSettings(
        zone="example.com", hostname=NAME, ts_hostname=ts_hostname, resolvers=None,
        device_id=device_id, device_tag=device_tag, magicdns_suffix="tail1234.ts.net",
    )  # fmt: skip
    assert settings.device_setting == setting
    assert settings.device_selector == DeviceSelector(
        ts_hostname, "tail1234.ts.net", device_id, device_tag
    )


def test_a_device_has_the_first_address_of_each_family() -> None:
    v6, v4, other_v4 = (
        ipaddress.ip_address("fd7a:115c:a1e0::1"),
        ipaddress.ip_address("100.64.0.1"),
        ipaddress.ip_address("100.64.0.2"),
    )
    device = TailnetDevice("1", "pi", "pi.tail1234.ts.net", (v6, v4, other_v4), None, True)
    assert (device.ipv4, device.ipv6) == (v4, v6)
    bare = TailnetDevice("2", "pi", "pi.tail1234.ts.net", (), None, None)
    assert (bare.ipv4, bare.ipv6) == (None, None)
