"""The thin I/O shell around :mod:`machine`: runs ffmpeg, reads it, feeds events.

One loop thread owns the ffmpeg process (it is also the thread whose death
``PR_SET_PDEATHSIG`` watches), two reader threads per run turn stdout/stderr into
events on a queue, and every decision is :func:`machine.step`'s. Stopping ffmpeg is
SIGTERM, a wait, a second SIGTERM, then SIGKILL, and the process is always reaped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from trashmonitor.backoff import Backoff
from trashmonitor.capture import machine, model
from trashmonitor.capture.command import build_command, measure_buffer_bitrate
from trashmonitor.capture.config import AgentConfig
from trashmonitor.capture.model import AgentSnapshot, DeviceInfo, ProgressBlock, StderrEvent
from trashmonitor.capture.notify import notify, watchdog_interval
from trashmonitor.capture.parsing import ProgressParser, iter_lines, parse_stderr_line
from trashmonitor.capture.redact import redact
from trashmonitor.capture.snapshot import take_snapshot
from trashmonitor.capture.v4l2 import V4l2Device, device_present, synthetic_device
from trashmonitor.children import StopStep, escalation, start_child, stop_child

log = logging.getLogger(__name__)

# The loop sleeps until the machine's next deadline (stall, retry, black) or this
# period at most (device presence, watchdog): every wake-up costs CPU the agent is
# budgeted not to spend (<= 2 % of its ffmpeg's).
TICK_SECONDS = 1.0
# Deadlines are strict ("more than stall_seconds"): tick just after them.
_PAST_DEADLINE = 0.005
TERM_WAIT_SECONDS = 2.0
SECOND_TERM_WAIT_SECONDS = 1.0
KILL_WAIT_SECONDS = 5.0
# SIGTERM, a second SIGTERM (ffmpeg streaming to a frozen server ignores the first),
# then SIGKILL (a stopped ffmpeg ignores every SIGTERM).
STOP_STEPS = escalation(
    TERM_WAIT_SECONDS, second_term_wait=SECOND_TERM_WAIT_SECONDS, kill_wait=KILL_WAIT_SECONDS
)

Listener = Callable[[AgentSnapshot], None]


def policy_for(config: AgentConfig) -> model.Policy:
    return model.Policy(
        stall_seconds=config.stall_seconds,
        start_seconds=config.connect_timeout + config.stall_seconds,
        backoff=Backoff(config.backoff_initial, config.backoff_max),
        black_seconds=config.black_seconds,
    )


@dataclass(frozen=True)
class _Item:
    run_id: int
    at: float
    payload: ProgressBlock | StderrEvent


class FfmpegRun:
    """One ffmpeg process and the threads reading its output."""

    def __init__(
        self, argv: list[str], run_id: int, sink: queue.Queue[_Item], clock: Callable[[], float]
    ) -> None:
        self.run_id = run_id
        self.tail: deque[str] = deque(maxlen=8)
        self._sink = sink
        self._clock = clock
        # SIGKILL if the agent dies: nothing of ffmpeg's is worth a graceful end then.
        self.proc = start_child(
            argv,
            die_signal=signal.SIGKILL,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            process_group=0,  # a terminal's Ctrl-C reaches the agent, which decides
        )
        self._threads = [
            threading.Thread(target=self._read_progress, name=f"ffmpeg-progress-{run_id}"),
            threading.Thread(target=self._read_stderr, name=f"ffmpeg-stderr-{run_id}"),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_progress(self) -> None:
        assert self.proc.stdout is not None
        parser = ProgressParser()
        for line in iter_lines(self.proc.stdout):
            block = parser.feed(line)
            if block is not None:
                self._sink.put(_Item(self.run_id, self._clock(), block))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in iter_lines(self.proc.stderr):
            self.tail.append(line)
            event = parse_stderr_line(line)
            if event is not None:
                self._sink.put(_Item(self.run_id, self._clock(), event))

    def join_readers(self, timeout: float = 2.0) -> None:
        for thread in self._threads:
            thread.join(timeout)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop(self, steps: tuple[StopStep, ...] = STOP_STEPS) -> str:
        """End the process however stuck it is; returns what it took. Always reaped."""
        outcome = stop_child(self.proc, steps)
        self.join_readers()
        return outcome


class Agent:
    """Supervises one camera's ffmpeg. ``run()`` blocks until :meth:`request_stop`."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        tick_seconds: float = TICK_SECONDS,
        device: V4l2Device | None = None,
    ) -> None:
        self.config = config
        self.policy = policy_for(config)
        self._clock = clock
        self._tick_seconds = tick_seconds
        self._epoch_offset = time.time() - clock()
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._run: FfmpegRun | None = None
        self._run_id = 0
        # What a snapshot shows before run() starts; its actions are run()'s to take.
        self._machine, _ = machine.initial(clock())
        self._listeners: list[Listener] = []
        self._stop = threading.Event()
        self._last_key: tuple[object, ...] | None = None
        self._last_progress: float | None = None
        # (when measured, bits/s): the buffer is read at most once a second, however
        # often snapshots are taken (scrapes, MQTT state, the loop's own log line).
        self._buffer_bitrate: tuple[float, float | None] = (float("-inf"), None)
        self._ready_sent = False
        self._watchdog = watchdog_interval()
        self._last_watchdog = 0.0
        self.loop_at = clock()
        if config.source_kind == "v4l2":
            self._device_node: V4l2Device | None = device or V4l2Device(config.camera_dev)
            self._device = DeviceInfo(path=config.camera_dev, present=False)
        else:
            self._device_node = None
            self._device = synthetic_device(
                config.camera_dev if config.source_kind == "testsrc" else "lavfi",
                config.width,
                config.height,
                config.fps,
            )

    # Public API (thread-safe) ---------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Called from the loop thread with each snapshot whose state/reason/image/device
        changed. Keep it quick; exceptions are logged and ignored."""
        self._listeners.append(listener)

    def snapshot(self) -> AgentSnapshot:
        """The current view, safe to call from any thread (all inputs are immutable)."""
        run = self._run
        now = self._clock()
        return take_snapshot(
            camera=self.config.camera,
            machine=self._machine,
            policy=self.policy,
            target_fps=self.config.fps,
            device=self._device,
            ffmpeg_pid=run.pid if run is not None else None,
            now=now,
            epoch_offset=self._epoch_offset,
            last_progress_monotonic=self._last_progress,
            buffer_bitrate_bps=self._measured_bitrate(now),
        )

    def _measured_bitrate(self, now: float) -> float | None:
        if self.config.buffer_dir is None:
            return None
        measured_at, bits = self._buffer_bitrate
        if now - measured_at >= 1.0:
            bits = measure_buffer_bitrate(self.config.buffer_dir)
            self._buffer_bitrate = (now, bits)
        return bits

    @property
    def device(self) -> V4l2Device | None:
        """The camera's V4L2 boundary (controls); None for testsrc/lavfi sources."""
        return self._device_node

    def request_stop(self) -> None:
        """Ask the loop to stop ffmpeg and return."""
        self._stop.set()

    def loop_healthy(self, now: float | None = None) -> bool:
        """The loop iterated recently (a stop escalation may hold it for ~3 s)."""
        at = self._clock() if now is None else now
        return at - self.loop_at < TERM_WAIT_SECONDS + SECOND_TERM_WAIT_SECONDS + 3.0

    # The loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> int:
        """Supervise until :meth:`request_stop` or until ``stop`` is set (a signal)."""
        stops = (self._stop,) if stop is None else (self._stop, stop)
        now = self._clock()
        self._refresh_device(now)
        self._machine, actions = machine.initial(now, self._device.present)
        self._announce()
        self._apply(actions)
        next_tick = now
        try:
            while True:
                self.loop_at = self._clock()
                if (
                    any(s.is_set() for s in stops)
                    and self._machine.state is not model.State.STOPPED
                ):
                    self._feed(model.StopRequested(self._clock()))
                if self._machine.state is model.State.STOPPED and self._run is None:
                    break
                due = self._due(next_tick)
                self._drain(max(0.0, due - self._clock()))
                self._check_exit()
                now = self._clock()
                if now >= due:  # (due, not a recomputed one: past deadlines drop out)
                    self._refresh_device(now)
                    self._feed(model.Tick(now, self._device.present, random.random()))  # noqa: S311
                    self._ping_watchdog(now)
                    next_tick = now + self._tick_seconds
        finally:
            if self._run is not None:  # an exception escaped: never leave ffmpeg behind
                self._run.stop()
                self._run = None
            notify("STOPPING=1")
        return 0

    def _due(self, next_tick: float) -> float:
        deadline = machine.next_deadline(self._machine, self.policy, self._clock())
        return next_tick if deadline is None else min(next_tick, deadline + _PAST_DEADLINE)

    def _drain(self, timeout: float) -> None:
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._handle(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return

    def _handle(self, item: _Item) -> None:
        if self._run is None or item.run_id != self._run.run_id:
            return  # a late line from a run already replaced
        if isinstance(item.payload, ProgressBlock):
            self._feed(model.Progress(item.at, item.payload))
            if self._machine.last_progress_at == item.at:  # counted: not a buffer-only run
                self._last_progress = item.at
        else:
            if item.payload.detail:
                detail = self._redact(item.payload.detail)
                log.warning("ffmpeg: %s: %s", item.payload.kind.value, detail)
            self._feed(model.Image(item.at, item.payload, random.random()))  # noqa: S311

    def _redact(self, text: str) -> str:
        return redact(text, self.config.secrets)

    def _check_exit(self) -> None:
        run = self._run
        if run is None or run.proc.poll() is None:
            return
        run.join_readers()
        self._drain(0)  # progress written just before exit still counts
        self._run = None
        log.warning(
            "ffmpeg (pid %d) exited with %s; last output: %s",
            run.pid,
            run.proc.returncode,
            self._redact(" | ".join(run.tail)) or "(none)",
        )
        self._feed(model.Exited(self._clock(), run.proc.returncode, random.random()))  # noqa: S311

    def _feed(self, event: model.Event) -> None:
        self._machine, actions = machine.step(self._machine, event, self.policy)
        self._announce()
        self._apply(actions)

    def _apply(self, actions: model.Actions) -> None:
        for action in actions:
            if action is model.Action.STOP:
                self._stop_ffmpeg()
            elif action is model.Action.START:
                self._start_ffmpeg()

    def _stop_ffmpeg(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        outcome = run.stop()
        log.info("ffmpeg (pid %d) stopped: %s", run.pid, outcome)
        self._feed(model.Exited(self._clock(), run.proc.returncode, random.random()))  # noqa: S311

    def _start_ffmpeg(self) -> None:
        if self._run is not None:  # a buffer-only leftover: replaced, not a failure
            leftover, self._run = self._run, None
            log.info("ffmpeg (pid %d) replaced: %s", leftover.pid, leftover.stop())
        self._run_id += 1
        argv = build_command(self.config)
        try:
            self._run = FfmpegRun(argv, self._run_id, self._queue, self._clock)
        except OSError as error:
            log.error("cannot start %s: %s", self.config.ffmpeg, error.strerror)
            now = self._clock()
            self._machine, _ = machine.step(self._machine, model.Started(now), self.policy)
            self._feed(model.Exited(now, None, random.random()))  # noqa: S311
            return
        log.info("ffmpeg started (pid %d): %s", self._run.pid, self._redact(" ".join(argv)))
        self._feed(model.Started(self._clock()))

    def _refresh_device(self, now: float) -> None:
        if self._device_node is None:
            return
        present = device_present(self._device_node.path)
        if present and not self._device.present:
            info = self._device_node.info()  # identity and format, once per (re)appearance
            self._device = replace(info, present=True)
            log.info(
                "device %s: %s %r at %s, %s %sx%s @ %s fps",
                info.path, info.driver or "?", info.card, info.bus or "?",
                info.pixel_format or "?", info.width, info.height, info.fps,
            )  # fmt: skip
        elif not present and self._device.present:
            self._device = replace(self._device, present=False)

    def _announce(self) -> None:
        current = self._machine
        # Cheap check first: most events (progress, ticks) change nothing worth telling.
        quick = (
            current.state,
            current.reason,
            current.black(self._clock(), self.policy),
            current.frozen,
            current.device_present,
        )
        if quick == self._last_key:
            return
        self._last_key = quick
        snap = self.snapshot()
        log.info(
            "state %s (%s) image=%s device=%s restarts=%d failures=%d",
            snap.state,
            snap.reason,
            ",".join(snap.image_reasons) or "ok",
            "present" if snap.device.present else "missing",
            snap.restarts,
            snap.consecutive_failures,
        )
        notify(f"STATUS={snap.state} ({snap.reason})")
        if snap.state is model.State.STREAMING and not self._ready_sent:
            self._ready_sent = notify("READY=1")
        for listener in list(self._listeners):
            try:
                listener(snap)
            except Exception:
                log.exception("state listener failed")

    def _ping_watchdog(self, now: float) -> None:
        if self._watchdog is None or now - self._last_watchdog < self._watchdog:
            return
        if notify("WATCHDOG=1"):
            self._last_watchdog = now
