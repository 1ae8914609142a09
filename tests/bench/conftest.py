"""Fixtures of the benchmark tests."""

from __future__ import annotations

import argparse

import pytest

from bench.cli import register
from percept.cli import CommandRegistry


@pytest.fixture
def bench_parser() -> argparse.ArgumentParser:
    """A ``percept`` parser built as ``percept.cli`` builds it, with only ``bench.cli.register``."""
    parser = argparse.ArgumentParser(prog="percept")
    sub = parser.add_subparsers(dest="command", required=True)
    bsub = sub.add_parser("bench").add_subparsers(dest="bench", required=True)
    register(CommandRegistry(commands=sub, bench=bsub))
    return parser
