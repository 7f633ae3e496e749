"""Export the monitor's latest state: the Prometheus collector and the rendered routes.

Reads only the latest immutable :class:`~trashmonitor.monitor.model.MonitorState` (via a
``view`` callable: the monitor turns it blind at read time), never the loop. What is
costly at 10,000 cameras is rendered once per state (:class:`PerState`): the /metrics
families, kept inside :class:`MonitorCollector`, and the /api/status document. The JSON and text
renderings themselves live in :mod:`trashmonitor.monitor.status` (the probe uses them
without importing prometheus-client).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Generic, TypeVar

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from trashmonitor import __version__
from trashmonitor.capture.model import State as AgentStreamState
from trashmonitor.monitor.export_cameras import (
    CAMERA_FAMILY_COUNT,
    AvailabilityLines,
    CameraLines,
)
from trashmonitor.monitor.families import sample_family
from trashmonitor.monitor.history import CameraAvailability
from trashmonitor.monitor.history_export import (
    availability_families,
    camera_extra,
    camera_extras,
    history_families,
)
from trashmonitor.monitor.model import (
    STATES,
    AgentView,
    HealthReport,
    MonitorState,
)
from trashmonitor.monitor.play_watch import play_extra, play_extras, play_families
from trashmonitor.monitor.status import StatusText, status_document
from trashmonitor.serving import Request, Response, json_response

NO_POLL_YET = "no poll has completed yet"


def state_extras(state: MonitorState) -> dict[str, dict[str, Any]]:
    """Per camera, the fields of /api/status only the monitor has (quality,
    availability, the chosen cameras' playback checks)."""
    extras = camera_extras(state)
    for name, play in play_extras(state).items():
        extras.setdefault(name, {}).update(play)
    return extras


def state_document(state: MonitorState) -> dict[str, Any] | None:
    """The /api/status document of ``state``; None before the first poll."""
    if state.report is None:
        return None
    return status_document(state.report, _metrics_error(state), state_extras(state))


def _metrics_error(state: MonitorState) -> str | None:
    return None if state.metrics_error is None else state.metrics_error.message


class StatusResponse:
    """The /api/status answer of successive states: what ``json_response`` writes for
    :func:`state_document`, byte for byte, each camera's object kept between states
    (:class:`~trashmonitor.monitor.status.StatusText`). One state at a time (the
    monitor's :class:`PerState` serialises the calls)."""

    def __init__(self) -> None:
        self._text = StatusText()

    def __call__(self, state: MonitorState) -> Response:
        if state.report is None:
            return json_response({"error": NO_POLL_YET}, 503)
        body = self._text.render(state.report, _metrics_error(state), _StateExtras(state))
        return Response(200, body, "application/json")


class _StateExtras:
    """A state's extra fields of each camera (:func:`state_extras`), one camera at a time."""

    def __init__(self, state: MonitorState) -> None:
        self._quality = state.quality
        self._availability = state.availability
        self._play = state.play

    def inputs(self, name: str) -> tuple[object, ...]:
        return (self._quality.get(name), self._availability.get(name), self._play.get(name))

    def fields(self, name: str) -> dict[str, Any]:
        fields = camera_extra(self._quality.get(name), self._availability.get(name))
        play = self._play.get(name)
        if play is not None:
            fields.update(play_extra(play))
        return fields


Rendered = TypeVar("Rendered")


class PerState(Generic[Rendered]):
    """The rendering of the latest :class:`MonitorState`, made by the first caller that
    sees that state (concurrent callers wait for it rather than render it again)."""

    def __init__(self, render: Callable[[MonitorState], Rendered]) -> None:
        self._render = render
        self._lock = threading.Lock()
        self._last: tuple[MonitorState, Rendered] | None = None

    def __call__(self, state: MonitorState) -> Rendered:
        with self._lock:
            if self._last is None or self._last[0] is not state:
                self._last = (state, self._render(state))
            return self._last[1]

    @property
    def last(self) -> tuple[MonitorState, Rendered] | None:
        """The latest state rendered and its rendering, without waiting for one under way."""
        return self._last

    def keep_only(self, state: MonitorState) -> None:
        """Drop the rendering unless it is of ``state`` (the one now published): a
        rendering of an older state is never served again, and kept it holds that
        state (its report, quality and availability mappings) and, for /api/status,
        the 4 MiB answer at 10,000 cameras until the next request. Skipped while a
        rendering is being made: the poll thread never waits for one."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._last is not None and self._last[0] is not state:
                self._last = None
        finally:
            self._lock.release()


class ScrapeForecast:
    """Whether a /metrics scrape is expected before the next poll publishes, from each
    scraper's last two scrapes (Prometheus scrapes at a fixed interval): the poll thread
    then renders the state it just published (:meth:`Monitor.prerender`), and the scrape
    only joins kept text. A scrape rendering it itself while a poll runs waits for the
    GIL behind the poll (measured at 10,000 paths: up to ~0.3 s instead of ~25 ms).
    Rendering every state instead would cost every poll the render (~35 ms CPU at
    10,000 paths); this renders about one state per scrape, as on-demand rendering does.

    One forecast per scraper (its address and User-Agent: two Prometheus replicas, or
    Prometheus and a person's curl on the same host): scrapes of two scrapers taken as
    one series would have gaps that are neither's, and the forecast would be wrong for
    both. At most :attr:`max_scrapers` are followed, the one silent longest dropped
    first: a client making up names costs the others their forecast, not memory. A
    scrape the forecast misses (a scraper's first two, a one-off curl) renders on
    demand, as before. Thread-safe; times are monotonic seconds."""

    def __init__(self, max_scrapers: int = 16) -> None:
        self.max_scrapers = max_scrapers
        self._lock = threading.Lock()
        # scraper -> (previous, latest) scrape; in order of their latest scrape.
        self._scrapers: dict[str, tuple[float | None, float]] = {}

    def scraped(self, at: float, scraper: str = "") -> None:
        with self._lock:
            scrapes = self._scrapers
            last = scrapes.pop(scraper, None)
            scrapes[scraper] = (None if last is None else last[1], at)
            if len(scrapes) > self.max_scrapers:
                del scrapes[next(iter(scrapes))]

    def due(self, now: float, interval: float) -> bool:
        """Some scraper's scrape is expected before the state published ``now`` is
        replaced by the next poll's, ``interval`` later (half an interval of slack for
        the poll's own time), or its expected one is late; not once that scraper has
        been silent for two of its gaps."""
        with self._lock:
            scrapes = list(self._scrapers.values())
        return any(
            _scrape_due(previous, latest, now, interval)
            for previous, latest in scrapes
            if previous is not None
        )


def _scrape_due(previous: float, latest: float, now: float, interval: float) -> bool:
    gap = max(latest - previous, 0.0)
    if now - latest > 2 * gap + interval:
        return False
    return now + 1.5 * interval >= latest + gap


def scraper_of(request: Request) -> str:
    """Who scrapes (:class:`ScrapeForecast`): the peer's address and its User-Agent."""
    return f"{request.client} {request.headers.get('user-agent', '')}"


class MonitorCollector(Collector):
    """The monitor's families, built from the latest :class:`MonitorState` at scrape time
    (stale series vanish). Registered on the monitor's registry like any collector: the
    registry is the only path to /metrics.

    At 10,000 cameras these are ~110,000 samples (~0.3 s of CPU to build and render) that
    change only when a poll publishes a new state, so the collector keeps, per state, the
    families it built and their text (:class:`PrerenderedFamily`): a second scrape of the
    same poll reuses both (:func:`exposition`).

    With ``site`` (one collector per site: monitor/multisite.py) every series but
    :data:`SITELESS` carries that ``site`` label, the kept camera lines included.
    """

    def __init__(self, view: Callable[[], MonitorState], site: str = "") -> None:
        self._view = view
        self.site = site
        self._per_state = PerState(self._prerendered)
        empty = camera_families(None)[1:] + history_families(MonitorState())
        self._camera_headers = empty[:CAMERA_FAMILY_COUNT]
        self._camera_lines = CameraLines(
            site, [_header_text(header) for header in self._camera_headers]
        )
        self._availability: tuple[Mapping[str, CameraAvailability], list[Metric]] | None = None
        self._availability_lines = AvailabilityLines(site)
        self._availability_headers = availability_families({})

    def describe(self) -> Iterable[Metric]:
        return self.families(MonitorState())

    def collect(self) -> Iterable[Metric]:
        return self._per_state(self._view())

    def rendered(self, state: MonitorState) -> list[Metric]:
        """:meth:`families` of ``state`` with their text, rendered once per state."""
        return self._per_state(state)

    def last_rendered(self) -> tuple[MonitorState, list[Metric]] | None:
        """The latest state :meth:`rendered` and its families (renders nothing)."""
        return self._per_state.last

    def keep_only(self, state: MonitorState) -> None:
        """Forget the families rendered for a state other than ``state``
        (:meth:`PerState.keep_only`)."""
        self._per_state.keep_only(state)

    def _prerendered(self, state: MonitorState) -> list[Metric]:
        """:meth:`families`, rendered: the per-camera ones from the lines kept for each
        camera (:class:`CameraLines`: only what changed since the last state is
        rendered again), their ``samples`` built only if someone reads them."""
        families: list[Metric] = [
            PrerenderedFamily(family)
            for family in self._sited(
                [*self._scalar_families(state), _summary_family(state.report)]
            )
        ]
        reference = _LazyFamilies(
            lambda: camera_families(state.report)[1:] + history_families(state), self.site
        )
        texts = self._camera_lines.render(state.report, state.quality)
        for index, (header, text) in enumerate(zip(self._camera_headers, texts, strict=True)):
            families.append(
                PrerenderedFamily(header, text, samples=partial(reference.samples, index))
            )
        families.extend(self._availability_families(state))
        families.extend(PrerenderedFamily(family) for family in self._sited(play_families(state)))
        return families

    def _sited(self, families: list[Metric]) -> list[Metric]:
        if not self.site:
            return families
        return [with_site(self.site, family) for family in families]

    def _availability_families(self, state: MonitorState) -> list[Metric]:
        """Recomputed every few seconds (a new mapping each time): rendered once per
        mapping, from each camera's kept lines (:class:`AvailabilityLines`)."""
        cached = self._availability
        availability = state.availability
        if cached is None or cached[0] is not availability:
            texts = self._availability_lines.render(availability)
            reference = _LazyFamilies(partial(availability_families, availability), self.site)
            rendered: list[Metric] = [
                PrerenderedFamily(
                    header,
                    _header_text(header) + text,
                    samples=partial(reference.samples, index),
                )
                for index, (header, text) in enumerate(
                    zip(self._availability_headers, texts, strict=True)
                )
            ]
            cached = self._availability = (availability, rendered)
        return cached[1]

    def families(self, state: MonitorState) -> list[Metric]:
        """Every family for ``state``, built as ``Sample`` values: the reference the
        rendered text of :meth:`collect` equals."""
        families = self._scalar_families(state)
        families.extend(camera_families(state.report))
        families.extend(history_families(state))  # quality and availability (issue 16)
        families.extend(play_families(state))  # periodic playback checks (issue 16 §5)
        return self._sited(families)

    def _scalar_families(self, state: MonitorState) -> list[Metric]:
        report = state.report
        build = GaugeMetricFamily("trashmon_build_info", "Always 1.", labels=["version"])
        build.add_metric([__version__], 1)
        up = GaugeMetricFamily(
            "trashmon_mediamtx_up", "1 if the last poll of the MediaMTX API succeeded."
        )
        metrics_up = GaugeMetricFamily(
            "trashmon_mediamtx_metrics_up",
            "1 if the last read of MediaMTX /metrics succeeded (not exposed behind Caddy).",
        )
        last = GaugeMetricFamily(
            "trashmon_last_poll_timestamp_seconds", "End of the last successful poll."
        )
        last_success = GaugeMetricFamily(
            "trashmon_last_successful_poll_timestamp_seconds",
            "End of the last successful poll (TrashmonMonitorBlind: absent or old = blind).",
        )
        dropped = GaugeMetricFamily(
            "trashmon_cameras_dropped",
            "Paths MediaMTX listed that the last poll did not track (over --max-cameras).",
        )
        dropped.add_metric([], state.dropped)
        rejected = GaugeMetricFamily(
            "trashmon_mediamtx_rejected_paths",
            "Items the last poll skipped: path names outside MediaMTX's path grammar or "
            "longer than 255 characters (never rendered).",
        )
        rejected.add_metric([], state.rejected)
        families: list[Metric] = [build, up, metrics_up, last, last_success, dropped, rejected]
        if report is not None:
            up.add_metric([], 1 if report.mediamtx_reachable else 0)
        if state.metrics_up is not None:
            metrics_up.add_metric([], 1 if state.metrics_up else 0)
        if state.last_success_at is not None:
            last.add_metric([], state.last_success_at)
            last_success.add_metric([], state.last_success_at)
        return families


class _LazyFamilies:
    """Reference families (``build``), built on first use only, then labelled with the
    site: the samples behind the kept text, for whoever reads them."""

    def __init__(self, build: Callable[[], list[Metric]], site: str) -> None:
        self._build = build
        self._site = site
        self._families: list[Metric] | None = None

    def samples(self, index: int) -> list[Sample]:
        if self._families is None:
            self._families = self._build()
        family = self._families[index]
        return with_site(self._site, family).samples if self._site else family.samples


SITELESS = frozenset({"trashmon_build_info"})
"""Families about the process, not a site: never labelled with one."""


def with_site(site: str, family: Metric) -> Metric:
    """``family`` with ``site`` on every sample (itself when it is :data:`SITELESS`)."""
    if family.name in SITELESS:
        return family
    labelled = Metric(family.name, family.documentation, family.type, family.unit)
    labelled.samples = [
        sample._replace(labels={**sample.labels, "site": site}) for sample in family.samples
    ]
    return labelled


def joined_text(families: Sequence[Metric]) -> bytes:
    """The text of families of one name (several sites' parts) as one family: the first
    one's ``# HELP``/``# TYPE`` lines, then every part's samples."""
    parts = [_text(family) for family in families]
    header = _header_text(families[0])
    return header + b"".join(part[len(header) :] for part in parts)


def _text(family: Metric) -> bytes:
    if isinstance(family, PrerenderedFamily):
        return family.text
    return generate_latest(_Families([family]))


class PrerenderedFamily(Metric):
    """A family that also holds its own text exposition: what ``generate_latest`` writes
    for it, byte for byte (the collector makes one per family per state). ``text`` is
    rendered from ``family`` unless given; ``samples``, when given, builds the samples
    on first read instead of ``family``'s."""

    def __init__(
        self,
        family: Metric,
        text: bytes | None = None,
        samples: Callable[[], list[Sample]] | None = None,
    ) -> None:
        super().__init__(family.name, family.documentation, family.type, family.unit)
        self._samples = family.samples
        self._samples_of = samples
        self.text = generate_latest(_Families([family])) if text is None else text

    @property
    def samples(self) -> list[Sample]:
        if self._samples_of is not None:
            self._samples, self._samples_of = self._samples_of(), None
        return self._samples

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        self._samples = value


def _header_text(family: Metric) -> bytes:
    """The ``# HELP`` and ``# TYPE`` lines ``generate_latest`` writes for ``family``."""
    return generate_latest(_Families([Metric(family.name, family.documentation, family.type)]))


def exposition(registry: Collector) -> bytes:
    """What ``generate_latest(registry)`` renders, reusing the text of the families that
    carry their own (:class:`PrerenderedFamily`); the others (poll timing and errors,
    MQTT, DNS: they move between polls) are rendered now."""
    return b"".join(
        metric.text
        if isinstance(metric, PrerenderedFamily)
        else generate_latest(_Families([metric]))
        for metric in registry.collect()
    )


class _Families(Collector):
    """Families already collected, in the shape ``generate_latest`` renders."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _summary_family(report: HealthReport | None) -> Metric:
    by_state = report.summary if report is not None else {}
    return sample_family("gauge", "trashmon_cameras", "Cameras per state.", [
        Sample("trashmon_cameras", {"state": name}, count) for name, count in by_state.items()
    ])  # fmt: skip


def camera_families(report: HealthReport | None) -> list[Metric]:
    """The per-camera families as ``Sample`` values (the straightforward build: the
    reference for :class:`~trashmonitor.monitor.export_cameras.CameraLines`)."""
    cameras = report.cameras if report is not None else ()
    state_name = "trashmon_camera_state"
    # One shared {"camera": name} per camera: exposition and get_sample_value only read.
    labels = [{"camera": camera.name} for camera in cameras]
    inbound = "trashmon_camera_inbound_bytes"
    frames = "trashmon_camera_frames_in_error"
    last_inbound = "trashmon_camera_last_inbound_timestamp_seconds"
    with_agent = [
        (label, camera.agent) for label, camera in zip(labels, cameras, strict=True) if camera.agent
    ]
    return [
        _summary_family(report),
        sample_family("gauge", state_name, "1 for the camera's current state.", [
            Sample(state_name, {"camera": camera.name, "state": candidate},
                   1 if candidate == camera.state else 0)
            for camera in cameras for candidate in STATES
        ]),
        sample_family("gauge", "trashmon_camera_reason", "1 per active reason.", [
            Sample("trashmon_camera_reason", {"camera": camera.name, "reason": active}, 1)
            for camera in cameras for active in camera.reasons
        ]),
        sample_family("gauge", "trashmon_camera_online", "1 if a real publisher is attached.", [
            Sample("trashmon_camera_online", label, 1 if camera.online else 0)
            for label, camera in zip(labels, cameras, strict=True)
        ]),
        sample_family("counter", inbound, "Bytes received by MediaMTX for the path.", [
            Sample(inbound + "_total", label, camera.inbound_bytes)
            for label, camera in zip(labels, cameras, strict=True)
            if camera.inbound_bytes is not None
        ]),
        sample_family("gauge", "trashmon_camera_readers", "Readers of the path.", [
            Sample("trashmon_camera_readers", label, camera.readers)
            for label, camera in zip(labels, cameras, strict=True)
            if camera.readers is not None
        ]),
        sample_family("counter", frames, "MediaMTX inboundFramesInError for the path.", [
            Sample(frames + "_total", label, camera.frames_in_error)
            for label, camera in zip(labels, cameras, strict=True)
            if camera.frames_in_error is not None
        ]),
        sample_family("gauge", last_inbound, "Last time inbound bytes grew.", [
            Sample(last_inbound, label, camera.last_inbound_at)
            for label, camera in zip(labels, cameras, strict=True)
            if camera.last_inbound_at is not None
        ]),
        *_agent_families(with_agent),
    ]  # fmt: skip


def _agent_families(with_agent: list[tuple[dict[str, str], AgentView]]) -> list[Metric]:
    """Whether each camera's agent is heard, and what it last announced."""
    agent_online = "trashmon_agent_online"
    agent_last = "trashmon_agent_last_state_timestamp_seconds"
    return [
        sample_family("gauge", agent_online, "The agent's status topic says online.", [
            Sample(agent_online, label, 1 if agent.online else 0) for label, agent in with_agent
        ]),
        sample_family("gauge", agent_last, "Last agent state message.", [
            Sample(agent_last, label, agent.last_state_at)
            for label, agent in with_agent
            if agent.last_state_at is not None
        ]),
        *_announced_families(with_agent),
    ]  # fmt: skip


AGENT_STREAM_STATES = tuple(str(state) for state in AgentStreamState)


def _announced_families(with_agent: list[tuple[dict[str, str], AgentView]]) -> list[Metric]:
    """What each agent last announced on its state topic, re-exported per camera so the
    rules need no scrape of the capture hosts (values stay as announced until the next
    state message: trashmon_agent_online and …_last_state_timestamp_seconds say how
    fresh they are). Nothing for an agent heard only on its status topic."""
    heard = [(label, agent) for label, agent in with_agent if agent.last_state_at is not None]

    def gauge(name: str, documentation: str, values: list[tuple[dict[str, str], float]]) -> Metric:
        return sample_family(
            "gauge", name, documentation, [Sample(name, label, value) for label, value in values]
        )

    state = "trashmon_agent_state"
    return [
        sample_family("gauge", state, "1 for the stream state the capture agent last announced "
                "(starting, streaming, stalled, backoff, device_missing, stopped).", [
            Sample(state, {**label, "state": candidate},
                   1 if candidate == agent.stream_state else 0)
            for label, agent in heard for candidate in AGENT_STREAM_STATES
        ]),
        gauge("trashmon_agent_fps", "Output frames per second ffmpeg reported, as the agent "
              "last announced (absent while it is not streaming).",
              [(label, agent.fps) for label, agent in heard if agent.fps is not None]),
        gauge("trashmon_agent_target_fps", "Frames per second the agent is configured for.",
              [(label, agent.target_fps) for label, agent in heard
               if agent.target_fps is not None]),
        gauge("trashmon_agent_restarts", "ffmpeg restarts since the agent process started, "
              "as it last announced (a count that resets to 0 when the agent restarts: "
              "read it with increase()).",
              [(label, agent.restarts) for label, agent in heard]),
        gauge("trashmon_agent_consecutive_failures", "ffmpeg runs that failed in a row, as "
              "the agent last announced (0 once a run is healthy).",
              [(label, agent.consecutive_failures) for label, agent in heard
               if agent.consecutive_failures is not None]),
        gauge("trashmon_agent_black_image", "1 while the agent announces a black picture.",
              [(label, int(agent.black)) for label, agent in heard]),
        gauge("trashmon_agent_frozen_image", "1 while the agent announces a frozen picture.",
              [(label, int(agent.frozen)) for label, agent in heard]),
        gauge("trashmon_agent_device_present", "1 if the agent announces its V4L2 device "
              "present, 0 if missing.",
              [(label, int(agent.device_present)) for label, agent in heard
               if agent.device_present is not None]),
        gauge("trashmon_agent_bitrate_bytes_per_second", "Output bitrate ffmpeg reported, as "
              "the agent last announced it (ffmpeg reports none for RTSP-only output).",
              [(label, agent.bitrate_bps / 8) for label, agent in heard
               if agent.bitrate_bps is not None]),
    ]  # fmt: skip
