"""Replay recorded exchanges with vcrpy (``record_mode="none"``): the reconciler must make
exactly the recorded requests, bodies included, and nothing else.

The cassettes were recorded from the fake APIs (tests/dns/record_cassettes.py), so they
pin our side of the exchange; the fake's shapes follow the documented API responses.
"""

from __future__ import annotations

import pytest
from support.dns_fake import FakeAPIs
from support.dns_world import cassette_reconciler, dns_vcr


@pytest.mark.parametrize(
    ("cassette", "expected_actions", "writes", "reads"),
    [
        # 4 reads, and split DNS read again right before it is written
        ("first_run_creates.yaml", ["create", "create"], 2, 5),
        ("steady_state_no_op.yaml", ["ok", "ok"], 0, 4),
    ],
)
def test_replay_makes_exactly_the_recorded_requests(
    cassette: str, expected_actions: list[str], writes: int, reads: int
) -> None:
    fake = FakeAPIs()  # only for its tokens: nothing is served
    reconciler, close = cassette_reconciler(fake)
    try:
        with dns_vcr([fake.cf_token, fake.ts_key]).use_cassette(cassette) as tape:
            report = reconciler.reconcile()
            assert tape.all_played
            recorded_writes = [r for r in tape.requests if r.method != "GET"]
    finally:
        close()

    assert [str(o.change.action) for o in report.outcomes] == expected_actions
    assert report.exit_code == 0
    assert report.writes == writes
    assert len(recorded_writes) == writes
    assert len(tape.requests) == reads + writes


def test_a_write_with_another_body_does_not_match_the_cassette() -> None:
    fake = FakeAPIs()
    reconciler, close = cassette_reconciler(fake, ttl=300)
    try:
        with dns_vcr([fake.cf_token, fake.ts_key]).use_cassette("first_run_creates.yaml"):
            report = reconciler.reconcile()
    finally:
        close()

    first = report.outcomes[0]
    assert str(first.result) == "failed"  # the POST body differs (ttl=300): no replay
    assert first.error_kind == "unreachable"
