"""``trashmon hook EVENT``: the main CLI's door to :mod:`trashmonitor.hook`.

``trashmon-hook EVENT`` runs the same code without importing the CLI (argparse,
logging): that is the command server/mediamtx.yml gives MediaMTX. The hook's settings
are environment variables only, declared in :data:`trashmonitor.hook.SETTINGS`; this
module turns that table into the ``--help`` text and the table of docs/monitor.md
(``python -P -m trashmonitor.hook_cli`` prints it).
"""

from __future__ import annotations

import argparse

from trashmonitor.hook import EVENTS, SETTINGS, main


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("event", metavar="EVENT", help=f"one of {', '.join(EVENTS)}")
    parser.epilog = "Environment (no flags: MediaMTX gives a hook its environment): " + "; ".join(
        f"{setting.env} (default {setting.shown_default.replace('`', '')})" for setting in SETTINGS
    )


def markdown() -> str:
    """The docs table of the hook's settings, one row per declared setting."""
    rows = ["| environment | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{s.env}` | {s.shown_default} | {s.help} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


def run(args: argparse.Namespace) -> int:
    return main([args.event])


if __name__ == "__main__":  # prints the hook's settings table of docs/monitor.md
    print(markdown(), end="")
