"""The ``percept`` argument parser of the CLI tests, built as ``percept.cli`` builds it."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from percept.cli import CommandRegistry


def percept_parser(*registers: Callable[[CommandRegistry], None]) -> argparse.ArgumentParser:
    """A ``percept`` parser with a ``bench`` group, holding only the commands that ``registers``
    (each a package's ``cli.register``) add, in that order."""
    parser = argparse.ArgumentParser(prog="percept")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench").add_subparsers(dest="bench", required=True)
    registry = CommandRegistry(commands=sub, bench=bench)
    for register in registers:
        register(registry)
    return parser
