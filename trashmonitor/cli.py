"""``trashmon``: one console script, one subcommand per component.

Subcommands are looked up in :data:`COMMANDS` and their modules imported only when
chosen, so ``trashmon probe`` never pays for importing the Cloudflare SDK or
OpenTelemetry; their one-line help is in that table too. A subcommand module provides::

    def configure(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int    # returns an exit code

Errors derived from :class:`~trashmonitor.errors.TrashmonError` become one line on
stderr and their exit code; ``--debug`` shows the traceback as well. A module whose
path never logs says so with ``LOGS = False``: the log level is still checked, but the
logging module (~8 ms of start-up) is not imported for it. One that holds nothing to
release at exit says so with ``EXIT_AT_ONCE = True``: run as the program, it then
ends without tearing the interpreter down (freeing every object a probe of 10,000
paths made, ~20 ms of its CPU).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, cast

from trashmonitor import __version__
from trashmonitor.errors import EXIT_INTERRUPTED, EXIT_UNDECIDED, TrashmonError
from trashmonitor.settings import SettingsTable, option

# name -> (module, one-line help). Keep the help here so `trashmon --help` imports nothing.
COMMANDS: dict[str, tuple[str, str]] = {
    "probe": ("trashmonitor.monitor.probe_cli", "judge every camera once and exit 0/1/2 (CI)"),
    "monitor": ("trashmonitor.monitor.daemon_cli", "poll MediaMTX and agents, serve status"),
    "capture": ("trashmonitor.capture.agent_cli", "publish one camera with supervised ffmpeg"),
    "pki": ("trashmonitor.pki", "create the MQTT mTLS PKI and mosquitto config"),
    "dns": ("trashmonitor.dns.cli", "reconcile the Cloudflare A record and Tailscale split-DNS"),
    "rules": ("trashmonitor.alerts.cli", "print or write Prometheus rules and Grafana dashboards"),
    "demo": ("trashmonitor.demo", "run the whole stack here with synthetic cameras"),
    "hook": ("trashmonitor.hook_cli", "notify the monitor of a MediaMTX path event (runOn* hook)"),
}


LOG_LEVELS = ("debug", "info", "warning", "error")


def parse_log_level(text: str) -> str:
    level = text.strip().lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


LOG_LEVEL = option(
    "--log-level L", "TRASHMON_LOG_LEVEL", parse_log_level, "info",
    "log level: debug, info, warning or error (--debug: debug)",
)  # fmt: skip
COMMON = SettingsTable("trashmon", (LOG_LEVEL,))
"""The settings every command takes, before or after its name (docs/monitor.md's table:
``python -P -m trashmonitor.cli``)."""


class CommandModule(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(name: str) -> CommandModule:
    module_name, _ = COMMANDS[name]
    return cast(CommandModule, importlib.import_module(module_name))


def _root_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trashmon",
        description="Health and streaming monitor for webcams on a tailnet.",
        epilog="Exit codes: 0 ok, 1 unhealthy or drift, 2 could not decide "
        "(bad configuration, unreachable source, malformed input). "
        "Run 'trashmon COMMAND --help' for a command's settings.",
    )
    parser.add_argument("--version", action="version", version=f"trashmon {__version__}")
    _add_common(parser)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logs",
    )
    # Not COMMON.add_arguments: the option is on the root and on each command, and the
    # command's default (None) would hide a root `--log-level` given before the command.
    parser.add_argument(
        LOG_LEVEL.flag,
        metavar=LOG_LEVEL.metavar,
        default=argparse.SUPPRESS,
        choices=LOG_LEVELS,
        help=LOG_LEVEL.help_text(),
    )


def build_parser(command: str | None, *, only_command: bool = False) -> argparse.ArgumentParser:
    """The full parser; only ``command``'s module is imported (all of them for None).

    ``only_command``: the other commands' parsers are left out. Only the root's own
    ``--help`` and its "invalid choice" error show them, and neither can happen when the
    command is the first argument (:func:`main`): each left out saves building a parser
    (~0.3 ms, gettext lookups included) at every start."""
    parser = _root_parser()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        if only_command and name != command:
            continue
        child = sub.add_parser(name, help=help_text, description=help_text)
        _add_common(child)
        if name == command:
            _load(name).configure(child)
    return parser


def _chosen_command(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if arg in COMMANDS), None)


def _setup_logging(level_name: str, module: CommandModule) -> None:
    if not getattr(module, "LOGS", True):
        return
    import logging

    logging.basicConfig(
        level=getattr(logging, level_name.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The cyclic collector off for a while, then as it was: for work that allocates
    many objects of which none is cyclic garbage (imports, a probe's model), which the
    collector would otherwise rescan every 700 allocations."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def warn(line: str) -> None:
    """``line`` on stderr; nowhere when the shell closed it (``2>&-``: ``sys.stderr`` is
    None, and ``print(file=None)`` would write to stdout, after a piped document)."""
    if sys.stderr is not None:
        print(line, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Start-up: importing the command's modules and building its parser allocate tens
    # of thousands of objects that all live on (~40 collections, ~5 ms of a probe's CPU).
    with cyclic_gc_paused():
        command = _chosen_command(args_list)
        parser = build_parser(command, only_command=bool(args_list) and args_list[0] == command)
        args = parser.parse_args(args_list)
    debug = bool(getattr(args, "debug", False))
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_UNDECIDED
    try:
        module = _load(args.command)
        # Read once; --debug wins without reading it, as it always did.
        level = "debug" if debug else COMMON.read(args, COMMON.component)[LOG_LEVEL]
        _setup_logging(level, module)
        code = module.run(args)
        if argv is None and getattr(module, "EXIT_AT_ONCE", False):
            _exit_at_once(code)
        return code
    except TrashmonError as error:
        if debug:
            import traceback

            traceback.print_exc()
        warn(f"trashmon {args.command}: error: {error.message}")
        return error.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _exit_at_once(code: int) -> None:
    """End the process with ``code`` once stdout and stderr are written out, skipping
    the interpreter's teardown (atexit handlers, freeing every object): only for a
    command that holds nothing to release. A stream that cannot be flushed (a closed
    pipe) returns instead, and the usual exit reports it as it always did. A stream
    closed at start (``>&-``) is None in ``sys``: nothing to flush there."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except OSError:
        return
    os._exit(code)


if __name__ == "__main__":  # the common settings table of docs/monitor.md
    print(COMMON.markdown(meaning=True), end="")
