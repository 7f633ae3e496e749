"""Cloudflare through the official ``cloudflare`` SDK: the zone, the records at one name,
create and update, and :class:`CloudflareRecords`, the provider the reconciler sees.

Every SDK error is mapped onto trashmonitor's error tree here, with the permission the
token lacks named, so callers never see an SDK exception (whose text would embed raw
response bodies). Cloudflare's error codes (81053, 81057, 81058) are known only here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from ssl import SSLContext
from typing import Any, TypeVar

import cloudflare
from opentelemetry.trace import NoOpTracer, Tracer

from trashmonitor.dns.apply import write_outcome
from trashmonitor.dns.model import (
    CreateRecord,
    DesiredRecord,
    DNSRecord,
    Outcome,
    Resource,
    Result,
    UpdateRecord,
    WriteChange,
)
from trashmonitor.dns.plan import normalise_name, record_matches
from trashmonitor.dns.retry import RetryPolicy, parse_retry_after, transient_kind
from trashmonitor.errors import (
    AuthError,
    CloudflareRejected,
    ConfigError,
    MalformedResponseError,
    TransientAPIError,
    TrashmonError,
)
from trashmonitor.transport import Transport
from trashmonitor.transport_httpx import HttpxBridge

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
# Records at one exact name are few; a page this size means one request, and no extra
# empty page as the SDK's auto-pager would fetch (the steady state budget counts it).
RECORDS_PER_PAGE = 100

# What each call needs, in the words of the Cloudflare dashboard's token editor.
PERMISSION_ZONE_READ = "Zone → Zone → Read"
PERMISSION_DNS_READ = "Zone → DNS → Read"
PERMISSION_DNS_EDIT = "Zone → DNS → Edit"

CODE_IDENTICAL_RECORD = 81058
CODE_RECORD_EXISTS = 81057
CODE_CONFLICT = 81053


def _error_summary(body: object) -> tuple[tuple[int, ...], str]:
    """Codes and messages of a v4 envelope ``{success, errors: [{code, message}]}``."""
    errors = body.get("errors") if isinstance(body, dict) else None
    codes: list[int] = []
    texts: list[str] = []
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict):
            code = item.get("code")
            if isinstance(code, int):
                codes.append(code)
            texts.append(f"{code}: {item.get('message', '')}".strip())
    return tuple(codes), "; ".join(texts)


SDK_ERRORS = (
    cloudflare.APIStatusError,
    cloudflare.APIConnectionError,
    cloudflare.APIResponseValidationError,
    ValueError,
    TypeError,
)


def mapped_error(error: Exception, what: str, permission: str) -> TrashmonError:
    """The error tree's error for an SDK exception (one of ``SDK_ERRORS``); ``what`` says
    which call, for the message. Never chained to ``error``: the SDK's errors hold the
    request, whose Authorization header is the token (a validation error holds the
    response, and through it the request)."""
    if isinstance(error, cloudflare.APIStatusError):
        status = error.status_code
        codes, text = _error_summary(error.body)
        detail = f"HTTP {status}" + (f", {text}" if text else "")
        if status in (401, 403):
            verb = "was not accepted" if status == 401 else "is not allowed"
            return AuthError(
                f"Cloudflare: CF_API_TOKEN {verb} to {what} ({detail}); "
                f"the token needs {permission} on the zone"
            )
        kind = transient_kind(status)
        if kind is not None:
            retry_after = parse_retry_after(error.response.headers.get("retry-after"))
            return TransientAPIError(
                f"Cloudflare: {what} failed ({detail})",
                status_code=status,
                kind=kind,
                retry_after=retry_after,
            )
        return CloudflareRejected(f"Cloudflare: {what} refused ({detail})", status, codes)
    if isinstance(error, cloudflare.APIConnectionError):
        cause = type(error.__cause__ or error).__name__
        return TransientAPIError(
            f"Cloudflare: {what}: cannot reach the API ({cause})",
            status_code=None,
            kind="unreachable",
        )
    return MalformedResponseError(
        f"Cloudflare: {what}: unexpected response ({type(error).__name__})"
    )


def _record_from_sdk(item: Any) -> DNSRecord:
    try:
        ttl = getattr(item, "ttl", 1)
        return DNSRecord(
            record_id=str(item.id),
            type=str(item.type).upper(),
            name=normalise_name(str(item.name)),
            content=str(getattr(item, "content", "") or ""),
            ttl=int(ttl) if ttl is not None else 1,
            proxied=bool(getattr(item, "proxied", False)),
            comment=str(getattr(item, "comment", "") or ""),
            modified_on=str(getattr(item, "modified_on", "") or ""),
        )
    except AttributeError as error:
        raise MalformedResponseError(f"Cloudflare: DNS record without {error.name}") from error


class CloudflareDNS:
    """The calls the reconciler makes, each retried by ``retry`` and counted in ``calls``."""

    def __init__(
        self,
        api_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        max_retries: int = 0,
        transport: Transport | None = None,
        timeout: float = 20.0,
        tls: SSLContext | None = None,
    ) -> None:
        # ``transport`` is the protocol the Tailscale and MediaMTX clients take too (a
        # MockTransport in tests), under the SDK's httpx client through HttpxBridge; None
        # keeps the SDK's own httpx pool. ``tls``: a context shared with the Tailscale
        # client (see :func:`~trashmonitor.dns.config.build`); None builds httpx's
        # default one.
        http_client = None
        if transport is not None or tls is not None:
            http_client = cloudflare.DefaultHttpxClient(
                base_url=base_url,
                timeout=timeout,
                transport=None if transport is None else HttpxBridge(transport),
                verify=tls or True,
            )
        self._client = cloudflare.Cloudflare(
            api_token=api_token,
            base_url=base_url,
            max_retries=max_retries,
            http_client=http_client,
            timeout=timeout,
        )
        self._retry = retry or RetryPolicy()

    def close(self) -> None:
        self._client.close()

    def _call(self, what: str, permission: str, function: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return function()
            except SDK_ERRORS as error:
                failure = mapped_error(error, what, permission)
            # Raised after the except block: the SDK's error (its request holds the
            # token) is no __context__ (``from None`` would only hide it).
            raise failure

        return self._retry.call(f"Cloudflare {what}", attempt)

    def zone_id(self, zone: str) -> str:
        page = self._call(
            f"read zone {zone}",
            PERMISSION_ZONE_READ,
            lambda: self._client.zones.list(name=zone),
        )
        for item in page.result:
            if normalise_name(str(item.name)) == normalise_name(zone):
                return str(item.id)
        raise ConfigError(
            "DNS_ZONE",
            f"no Cloudflare zone {zone!r} is visible to CF_API_TOKEN "
            f"(it needs {PERMISSION_ZONE_READ} on that zone)",
        )

    def records_at(self, zone_id: str, name: str) -> tuple[DNSRecord, ...]:
        """Every record, of any type, whose name is exactly ``name``."""
        what = f"list records at {name}"
        page = self._call(
            what,
            PERMISSION_DNS_READ,
            lambda: self._client.dns.records.list(
                zone_id=zone_id, name={"exact": name}, per_page=RECORDS_PER_PAGE
            ),
        )
        items = list(page.result)
        while len(page.result) >= RECORDS_PER_PAGE:
            page = self._call(what, PERMISSION_DNS_READ, page.get_next_page)
            items.extend(page.result)
        return tuple(_record_from_sdk(item) for item in items)

    def create(self, zone_id: str, want: DesiredRecord) -> DNSRecord:
        what = f"create {want.type} {want.name}"
        created = self._call(
            what,
            PERMISSION_DNS_EDIT,
            lambda: self._client.dns.records.create(**_record_body(zone_id, want)),
        )
        if created is None:
            raise MalformedResponseError(f"Cloudflare: {what}: empty result")
        return _record_from_sdk(created)

    def update(self, zone_id: str, record_id: str, want: DesiredRecord) -> DNSRecord:
        """PUT the whole record: every field we care about is stated, none inherited."""
        what = f"update {want.type} {want.name}"
        updated = self._call(
            what,
            PERMISSION_DNS_EDIT,
            lambda: self._client.dns.records.update(record_id, **_record_body(zone_id, want)),
        )
        if updated is None:
            raise MalformedResponseError(f"Cloudflare: {what}: empty result")
        return _record_from_sdk(updated)


def _record_body(zone_id: str, want: DesiredRecord) -> dict[str, Any]:
    return {
        "zone_id": zone_id,
        "name": want.name,
        "type": want.type,
        "content": want.address.compressed,
        "ttl": want.ttl,
        # Always sent: left out, a new record may default to proxied (orange cloud), and
        # a proxied A record to a tailnet address is useless.
        "proxied": want.proxied,
        "comment": want.comment,
    }


class CloudflareRecords:
    """The Cloudflare provider: ``records()`` at the published name, ``apply(changes)``.

    Keeps the zone id between runs (a steady ``--watch`` iteration does not look it up
    again) and forgets it when the zone may have gone. Every call is a child span.
    """

    resources = frozenset({Resource.A_RECORD, Resource.AAAA_RECORD})

    def __init__(
        self, client: CloudflareDNS, zone: str, name: str, *, tracer: Tracer | None = None
    ) -> None:
        self.client = client
        self._zone = zone
        self._name = name
        self._tracer = tracer or NoOpTracer()
        self._zone_id: str | None = None

    def _zone_id_now(self) -> str:
        if self._zone_id is None:
            with self._tracer.start_as_current_span(
                "cloudflare.zone_id", attributes={"dns.zone": self._zone}
            ):
                self._zone_id = self.client.zone_id(self._zone)
        return self._zone_id

    def _records_at(self, zone_id: str) -> tuple[DNSRecord, ...]:
        with self._tracer.start_as_current_span(
            "cloudflare.records_at", attributes={"dns.name": self._name}
        ):
            return self.client.records_at(zone_id, self._name)

    def records(self) -> tuple[DNSRecord, ...]:
        zone_id = self._zone_id_now()
        try:
            return self._records_at(zone_id)
        except TrashmonError as error:
            if not error.retryable:
                self._zone_id = None  # the zone may be gone or moved: look it up again
            raise

    def apply(self, changes: Sequence[WriteChange]) -> tuple[Outcome, ...]:
        return tuple(write_outcome(change, partial(self._write, change)) for change in changes)

    def _write(self, change: WriteChange) -> Outcome:
        if isinstance(change, UpdateRecord):
            return self._update(change)
        if isinstance(change, CreateRecord):
            return self._create(change)
        return Outcome(change, Result.FAILED, "not a DNS record change", "internal")

    def _span(self, name: str, want: DesiredRecord) -> Any:
        attributes = {"dns.name": want.name, "dns.type": want.type}
        return self._tracer.start_as_current_span(name, attributes=attributes)

    def _update(self, change: UpdateRecord) -> Outcome:
        zone_id = self._zone_id_now()
        # Someone may have edited the record since the plan (a person in the dashboard,
        # another reconciler): a PUT would silently undo their change.
        present = self._records_at(zone_id)
        current = next((r for r in present if r.record_id == change.record_id), None)
        if current != change.current:
            return Outcome(
                change, Result.REFUSED, _changed_since_plan(change.current, current), "refused"
            )
        with self._span("cloudflare.update", change.desired):
            self.client.update(zone_id, change.record_id, change.desired)
        return Outcome(change, Result.APPLIED)

    def _create(self, change: CreateRecord) -> Outcome:
        zone_id = self._zone_id_now()
        want = change.desired
        try:
            with self._span("cloudflare.create", want):
                self.client.create(zone_id, want)
        except CloudflareRejected as error:
            if CODE_CONFLICT in error.codes:
                detail = f"conflict (code {CODE_CONFLICT})"
                return Outcome(change, Result.REFUSED, detail, "conflict")
            if not {CODE_IDENTICAL_RECORD, CODE_RECORD_EXISTS} & set(error.codes):
                raise
            # A retried POST may have landed twice: what is there now decides.
            present = self._records_at(zone_id)
            if any(r.type == want.type and record_matches(r, want) for r in present):
                return Outcome(change, Result.APPLIED, "already created (81058), converged")
            detail = "Cloudflare says the record exists but it differs"
            return Outcome(change, Result.FAILED, detail, "server")
        return Outcome(change, Result.APPLIED)


def _changed_since_plan(planned: DNSRecord, current: DNSRecord | None) -> str:
    if current is None:
        return "the record was deleted since it was read; nothing written; run again"
    fields = [
        name
        for name in ("content", "comment", "ttl", "proxied", "type", "modified_on")
        if getattr(planned, name) != getattr(current, name)
    ]
    what = ", ".join("modification time" if f == "modified_on" else f for f in fields)
    return f"the record changed since it was read ({what}); nothing written; run again"
