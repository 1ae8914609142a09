"""Fixtures of the benchmark tests."""

from __future__ import annotations

import argparse

import pytest

from bench.cli import register
from tests.cli_parser import percept_parser


@pytest.fixture
def bench_parser() -> argparse.ArgumentParser:
    """A ``percept`` parser built as ``percept.cli`` builds it, with only ``bench.cli.register``."""
    return percept_parser(register)
