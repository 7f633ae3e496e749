"""The applier: routes each write to the provider owning its resource, in plan order,
and knows no provider by name. Pure: the providers here record what they are given."""

from __future__ import annotations

import ast
import ipaddress
from pathlib import Path

from support.dns_world import recorders

from trashmonitor.dns import model
from trashmonitor.dns.apply import apply_plan, write_outcome
from trashmonitor.errors import AuthError, TransientAPIError

DNS = Path(__file__).resolve().parents[2] / "dns"
RECORD = model.DesiredRecord("A", "t.example.com", ipaddress.IPv4Address("100.64.0.1"), 1)
SPLIT = model.DesiredSplitDNS("example.com", ("1.1.1.1",))


CREATE_A = model.CreateRecord(
    resource=model.Resource.A_RECORD, name="n", old="(none)", new="A", desired=RECORD
)
CREATE_SPLIT = model.CreateSplitDNS(
    resource=model.Resource.SPLIT_DNS,
    name="example.com",
    old="(none)",
    new="1.1.1.1",
    desired=SPLIT,
)
OK_AAAA = model.InSync(resource=model.Resource.AAAA_RECORD, name="n", old="AAAA", new="AAAA")
CONFLICT = model.Refused(
    resource=model.Resource.A_RECORD, name="n", old="CNAME", new="A", kind="conflict"
)


def test_each_write_goes_to_its_provider_and_outcomes_keep_plan_order() -> None:
    records, split = recorders()
    plan: list[model.PlannedChange] = [CREATE_A, OK_AAAA, CREATE_SPLIT]

    outcomes = apply_plan(plan, (records, split), dry_run=False)

    assert [(o.change, o.result) for o in outcomes] == [
        (CREATE_A, model.Result.APPLIED), (OK_AAAA, model.Result.NOTHING_TO_DO),
        (CREATE_SPLIT, model.Result.APPLIED),
    ]  # fmt: skip
    assert (records.batches, split.batches) == ([[CREATE_A]], [[CREATE_SPLIT]])


def test_refusals_in_sync_lines_and_dry_runs_never_reach_a_provider() -> None:
    records, split = recorders()

    refused = apply_plan([CONFLICT, OK_AAAA], (records, split), dry_run=False)
    planned = apply_plan([CREATE_A, CREATE_SPLIT], (records, split), dry_run=True)

    assert [(o.result, o.error_kind) for o in refused] == [
        (model.Result.REFUSED, "conflict"), (model.Result.NOTHING_TO_DO, None),
    ]  # fmt: skip
    assert [o.result for o in planned] == [model.Result.DRY_RUN, model.Result.DRY_RUN]
    assert records.batches == split.batches == []


def test_a_write_nobody_owns_fails_instead_of_vanishing() -> None:
    records, _ = recorders()

    (outcome,) = apply_plan([CREATE_SPLIT], (records,), dry_run=False)

    assert (outcome.result, outcome.error_kind) == (model.Result.FAILED, "internal")
    assert records.batches == []


def test_a_failed_write_is_an_outcome_with_the_errors_kind() -> None:
    def limited() -> model.Outcome:
        raise TransientAPIError("Cloudflare: create failed (HTTP 429)", status_code=429,
                                kind="rate_limited")  # fmt: skip

    def refused() -> model.Outcome:
        raise AuthError("Cloudflare: CF_API_TOKEN is not allowed to create")

    retried = write_outcome(CREATE_A, limited)
    denied = write_outcome(CREATE_A, refused)

    assert (retried.result, retried.error_kind) == (model.Result.FAILED, "rate_limited")
    assert retried.detail.endswith("gave up after retries")
    assert (denied.result, denied.error_kind) == (model.Result.FAILED, "auth")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    found |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    return found


def test_the_pipeline_stages_know_no_provider() -> None:
    """model, plan, observe, apply and loop import neither adapter nor SDK: a third
    provider needs no change in them (the external-dns boundary)."""
    for stage in ("model", "plan", "observe", "apply", "loop", "export"):
        imports = imported_modules(DNS / f"{stage}.py")
        assert not {m for m in imports if "cloudflare" in m or "tailscale" in m}, stage


def test_cloudflare_error_codes_live_only_in_the_cloudflare_adapter() -> None:
    for path in sorted(DNS.glob("*.py")):
        if path.name != "cloudflare_api.py":
            text = path.read_text(encoding="utf-8")
            assert not any(code in text for code in ("81053", "81057", "81058")), path.name
