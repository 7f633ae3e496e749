"""``trashmon probe``: judge every camera once and exit 0 (ok), 1 (unhealthy) or 2 (undecided).

Built for CI: one poll by default, a bounded total time, one line per camera (or
``--json``, the ``/api/status`` document). ``trashmon probe -`` reads a
``/v3/paths/list`` answer from stdin so ``curl …/v3/paths/list | trashmon probe -``
keeps working for users of the seed's health.py.

Imports stay light on purpose (the standard library's HTTP client and the pure model
only: no httpx, prometheus-client, OpenTelemetry or Cloudflare SDK, no logging, and
``--play``'s modules only with ``--play``) because a CI probe's cost is mostly its
start-up; tests/monitor/test_probe_cli.py runs a real probe and checks what it imported.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from trashmonitor.cli import cyclic_gc_paused, warn
from trashmonitor.errors import (
    EXIT_OK,
    EXIT_UNHEALTHY,
    ConfigError,
    MalformedResponseError,
    TrashmonError,
)
from trashmonitor.monitor import config
from trashmonitor.monitor.health import Judging, evaluate
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import UrllibTransport
from trashmonitor.monitor.mediamtx_parse import decode_paths_page
from trashmonitor.monitor.model import HealthReport, PathsSnapshot, Thresholds
from trashmonitor.monitor.sites import DEFAULT_SITE, Site
from trashmonitor.monitor.status import (
    printable,
    sites_document,
    sites_table,
    status_document,
    table,
    unpolled_document,
)
from trashmonitor.settings import ReadSettings

if TYPE_CHECKING:
    from trashmonitor.monitor.play import PlayResult

MAX_PARALLEL_SITES = 32
LOGS = False
"""Nothing on the probe's path logs (it reads MediaMTX with urllib, not httpx): the CLI
then leaves the logging module unimported (~8 ms of a probe's start-up)."""
EXIT_AT_ONCE = True
"""Nothing is left to release when the probe has answered (its page threads are done,
``--play``'s children waited for, no file open): the CLI ends the process without the
interpreter's teardown, ~20 ms of CPU at 10,000 paths."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        nargs="?",
        choices=["-"],
        help="'-' reads one /v3/paths/list JSON document from stdin instead of --api",
    )
    config.SETTINGS.add_arguments(parser, config.PROBE)


def _snapshot_from_stdin(max_bytes: int) -> PathsSnapshot:
    at = time.time()
    # Bounded like an answer over HTTP: `cat /dev/zero | trashmon probe -` must not eat
    # the machine's memory before anything is said.
    body = sys.stdin.buffer.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise MalformedResponseError(
            f"stdin: more than {max_bytes} bytes (the limit is --mediamtx-max-body)"
        )
    page = decode_paths_page(body, "stdin")
    if page.page_count > 1:
        # The seed's curl reads page 0 only: say so rather than judge a partial list.
        warn(
            f"trashmon probe: note: stdin holds one page of {page.page_count} "
            f"({len(page.items)} of {page.item_count} paths); use --api to read them all"
        )
    return PathsSnapshot(at, {path.name: path for path in page.items}, page.rejected)


def _poll(client: MediaMTXClient, deadline: float) -> PathsSnapshot:
    at = time.time()
    listing = client.read_paths(deadline)
    return PathsSnapshot(at, listing.paths, listing.rejected)


def probe(args: argparse.Namespace) -> HealthReport:
    # A probe builds ~10 objects per path and frees them all at exit; nothing it makes
    # is cyclic garbage, yet the collector would rescan the growing heap every few
    # thousand allocations (a third of json.loads's time at 10,000 paths).
    with cyclic_gc_paused():
        return _probe(args)


def _probe(args: argparse.Namespace) -> HealthReport:
    settings = config.SETTINGS.read(args, config.PROBE)  # every value checked before any I/O
    thresholds = config.thresholds(settings)
    window = settings[config.STALL_WINDOW]
    if args.source == "-":
        if window is not None:
            raise ConfigError("--stall-window", "cannot poll twice when reading stdin")
        if args.api is not None:
            raise ConfigError("--api", "give either '-' (read stdin) or --api, not both")
        history = [_snapshot_from_stdin(settings[config.MAX_BODY])]
    else:
        history = _poll_api(settings, window)
        if window is not None:
            # Two polls `window` apart: equal byte counts across them are the stall.
            thresholds = thresholds._replace(stall_after=window)
    return _judged(history, settings, thresholds)


def _judged(
    history: Sequence[PathsSnapshot], settings: ReadSettings, thresholds: Thresholds
) -> HealthReport:
    """The probe's judgement of one site's polls, as of the last one."""
    judging = Judging(
        now=history[-1].at,
        thresholds=thresholds,
        parked=settings[config.PARKED],
        known=settings[config.EXPECT],
    )
    return evaluate(history, judging)


def _poll_api(
    settings: ReadSettings, window: float | None, site: Site | None = None
) -> list[PathsSnapshot]:
    budget = settings[config.PROBE_TIMEOUT]
    deadline = time.monotonic() + budget + (window or 0.0)
    if site is None:
        site = Site(DEFAULT_SITE, settings[config.API])
    client_settings = config.site_client_settings(settings, site)
    with MediaMTXClient(
        site.api_url,
        timeout=budget,
        transport=UrllibTransport(),
        credentials=client_settings.credentials,
        max_body_bytes=client_settings.max_body_bytes,
    ) as client:
        history = [_poll(client, deadline)]
        if window is not None:
            time.sleep(window)
            history.append(_poll(client, deadline))
    return history


def run(args: argparse.Namespace) -> int:
    try:
        with cyclic_gc_paused():  # rendering too: re-enabled, it would scan the whole report
            return _report(args)
    except TrashmonError:
        raise
    except Exception as error:
        # Whatever was not anticipated (a parser's bug on hostile input, RecursionError,
        # MemoryError, …) is "could not decide": exit 2 with one line, never a traceback
        # (`--debug` shows it, through the chained cause).
        detail = printable(str(error))[:200]
        raise TrashmonError(
            f"unexpected {error.__class__.__name__}" + (f": {detail}" if detail else "")
        ) from error


class SiteVerdict(NamedTuple):
    site: str
    report: HealthReport | None
    error: TrashmonError | None = None
    """Why the site could not be judged (its report is None then)."""


def probe_sites(args: argparse.Namespace, sites: tuple[Site, ...]) -> list[SiteVerdict]:
    """Every named site polled at once, each with the whole budget: one slow or down
    site costs only its own verdict."""
    settings = config.SETTINGS.read(args, config.PROBE)
    if args.source == "-":
        # Name where the sites came from: a flag, TRASHMON_SITES or the sites file.
        named = config.SITES if config.SITES in settings.sources else config.SITES_FILE
        raise ConfigError(
            settings.source(named), "cannot read stdin for sites: give either '-' or sites"
        )
    if settings[config.PLAY]:
        raise ConfigError("--play", "not with sites yet: probe one MediaMTX with --api")
    thresholds = config.thresholds(settings)
    window = settings[config.STALL_WINDOW]
    if window is not None:
        thresholds = thresholds._replace(stall_after=window)

    def judge(site: Site) -> SiteVerdict:
        try:
            history = _poll_api(settings, window, site)
        except TrashmonError as error:
            return SiteVerdict(site.name, None, error)
        return SiteVerdict(site.name, _judged(history, settings, thresholds))

    from concurrent.futures import ThreadPoolExecutor  # only with sites: the probe starts fast

    # A large page loads msgspec in whichever thread reads it first: safe here (no thread
    # imports typing_extensions), and importing it now would tax every small probe.

    with ThreadPoolExecutor(max_workers=min(len(sites), MAX_PARALLEL_SITES)) as pool:
        return list(pool.map(judge, sites))


def _report_sites(args: argparse.Namespace, sites: tuple[Site, ...]) -> int:
    """The sites' table (a SITE column) or document; the exit is the worst site's: 2 if
    any could not be read, else 1 if any is unhealthy (or all have nothing to judge)."""
    verdicts = probe_sites(args, sites)
    judged = [(v.site, v.report) for v in verdicts if v.report is not None]
    for verdict in verdicts:
        if verdict.error is not None:
            message = printable(verdict.error.message)
            warn(f"trashmon probe: site {verdict.site}: error: {message}")
    if args.json:
        documents = [
            (v.site, status_document(v.report) if v.report is not None
             else unpolled_document(v.error.message if v.error else ""))
            for v in verdicts
        ]  # fmt: skip
        _write_json(sites_document(documents))
    else:
        print(sites_table(judged))
    gc.freeze()
    if any(verdict.error is not None for verdict in verdicts):
        return max(verdict.error.exit_code for verdict in verdicts if verdict.error is not None)
    everything = HealthReport(
        max(report.generated_at for _, report in judged),
        tuple(camera for _, report in judged for camera in report.cameras),
    )
    return _judged_exit(args, everything)


def _report(args: argparse.Namespace) -> int:
    settings = config.SETTINGS.read(args, config.PROBE)
    sites = config.sites(settings)
    if sites[0].name:
        return _report_sites(args, sites)
    report = probe(args)
    played: list[PlayResult] | None = None
    if settings[config.PLAY]:
        from trashmonitor.monitor import play_cli  # ffmpeg pulls: only with --play

        played = play_cli.play(args, report)
    if args.json:
        document = status_document(report)
        if played is not None:
            from trashmonitor.monitor.play import play_document

            document["playback"] = play_document(played)
        _write_json(document)
    else:
        print(table(report))
        if played is not None:
            from trashmonitor.monitor.play import play_table

            print("\n" + play_table(played))
    # The process exits next, and its final collection would still scan every object
    # the probe made (~10 ms at 10,000 paths): none of them is garbage left to find.
    gc.freeze()
    judged = _judged_exit(args, report)
    if played is None:
        return judged
    # With --play the exit is the worse of the judgement's and the playback's.
    return max(judged, play_cli.play_exit(played))


def _write_json(document: object) -> None:
    """``document`` on stdout: indented for a person at a terminal; piped, in one form
    whatever its size (:func:`_piped_json`). Nowhere when the shell closed stdout
    (``>&-``: Python's ``sys.stdout`` is None), as ``print`` does for the table."""
    if sys.stdout is None:
        return
    if sys.stdout.isatty():
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    encoded = _piped_json(document)
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a stdout of text only (one replaced in-process)
        sys.stdout.write(encoded.decode())
        return
    sys.stdout.flush()
    binary.write(encoded)
    binary.flush()


def _piped_json(document: object) -> bytes:
    """The one piped form, msgspec's compact UTF-8 (no spaces, no ``\\u`` escapes for
    what is not ASCII): at 10,000 cameras msgspec takes ~5 ms where json.dumps takes
    ~40. A small document while msgspec is not loaded (no page was large enough) is
    written by json.dumps in the same bytes (:func:`_dumped_alike`), sparing msgspec's
    import (~10 ms). A document UTF-8 cannot carry at all (a lone surrogate, from an
    argument that was not UTF-8) is written with ASCII escapes, the same separators."""
    if "msgspec" not in sys.modules:
        dumped = _dumped_alike(document)
        if dumped is not None:
            return dumped
    from trashmonitor.monitor.msgspec_lean import msgspec_json

    try:
        return msgspec_json.encode(document) + b"\n"
    except UnicodeEncodeError:
        return (json.dumps(document, separators=(",", ":")) + "\n").encode()


# Beyond this many values (~1,600 cameras) msgspec's import costs less than json.dumps
# and the walk below (~6 µs a camera, against ~0.5 µs once msgspec is loaded).
MAX_DUMPED_VALUES = 25_000


def _dumped_alike(document: object) -> bytes | None:
    """What msgspec's encoder writes for ``document`` (and a newline), written by
    json.dumps; or None when json.dumps would spell it otherwise or it is too large.

    Compact and not ASCII-escaped, json.dumps spells strings, integers, booleans and
    null as msgspec does; floats too, unless either uses an exponent (|x| < 1e-4 or
    >= 1e16, written ``1e-05``/``1e+16`` by one and ``0.00001``/``1e16`` by the other)
    or they are not finite (``NaN`` against ``null``). Only dicts with string keys,
    lists and tuples hold other values. tests/monitor/test_probe_json.py holds the
    result to msgspec's on arbitrary documents."""
    pending = [document]
    left = MAX_DUMPED_VALUES
    while pending:
        left -= 1
        if left < 0:
            return None
        value = pending.pop()
        if isinstance(value, dict):
            if not all(key.__class__ is str for key in value):
                return None
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
        elif isinstance(value, float):
            if value.__class__ is not float or not (value == 0.0 or 1e-4 <= abs(value) < 1e16):
                return None
        elif value.__class__ not in _SPELLED_ALIKE:
            return None
    try:
        return (json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:  # a lone surrogate: msgspec refuses it too
        return None


_SPELLED_ALIKE = (str, int, bool, type(None))


def _judged_exit(args: argparse.Namespace, report: HealthReport) -> int:
    if not any(camera.state != "parked" for camera in report.cameras) and not args.allow_empty:
        warn(
            "trashmon probe: unhealthy: no camera to judge (MediaMTX lists no path that is "
            "not parked); name the cameras with --expect or TRASHMON_EXPECT, or pass "
            "--allow-empty"
        )
        return EXIT_UNHEALTHY
    return EXIT_OK if report.healthy else EXIT_UNHEALTHY
