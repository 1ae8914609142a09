"""``bench.cli.register`` reaches ``percept bench`` through percept's plugin loading (entry points)."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from bench import cli as bench_cli
from percept.cli import build_parser

ENTRY_POINT = "bench.cli:register"


@pytest.fixture
def bench_plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the ``bench`` entry point visible as pyproject.toml declares it.

    An installed checkout already has it (nothing to do); before ``pip install -e .`` re-reads
    pyproject.toml, a distribution folder on ``sys.path`` declares the same entry point, which
    importlib.metadata finds exactly as it finds an installed package's.
    """
    if any(ep.value == ENTRY_POINT for ep in entry_points(group="percept.commands")):
        return
    dist = tmp_path / "percept_bench_plugin-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: percept-bench-plugin\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(f"[percept.commands]\nbench = {ENTRY_POINT}\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_pyproject_declares_the_entry_point_and_the_package() -> None:
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'bench = "{ENTRY_POINT}"' in text
    assert '"bench*"' in text


@pytest.mark.usefixtures("bench_plugin_installed")
def test_percept_cli_gets_bench_bus_detect_track2d() -> None:
    parser = build_parser()
    cases = {("bus", "--quick", "--repeat", "1"): bench_cli.cmd_bench_bus,
             ("detect", "--model", "m.onnx", "--runs", "2"): bench_cli.cmd_bench_detect,
             ("track2d", "--runs", "1", "--trackers", "sort"): bench_cli.cmd_bench_track2d}
    for argv, func in cases.items():
        args = parser.parse_args(["bench", *argv])
        assert args.func is func
    args = parser.parse_args(["bench", "track2d", "--runs", "1", "--trackers", "sort"])
    assert (args.runs, args.trackers, args.sequences) == (1, ["sort"], None)
    args = parser.parse_args(["bench", "bus", "--quick", "--repeat", "1"])
    assert (args.quick, args.repeat, args.transports) == (True, 1, ["ipc", "tcp"])
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "track2d", "--trackers", "deepsort"])  # not a known tracker
