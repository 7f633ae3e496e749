"""``trashmon hook EVENT``: the main CLI's door to :mod:`trashmonitor.hook`.

``trashmon-hook EVENT`` runs the same code without importing the CLI (argparse,
logging): that is the command server/mediamtx.yml gives MediaMTX.
"""

from __future__ import annotations

import argparse

from trashmonitor.hook import EVENTS, main


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("event", metavar="EVENT", help=f"one of {', '.join(EVENTS)}")


def run(args: argparse.Namespace) -> int:
    return main([args.event])
