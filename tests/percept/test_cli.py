"""The ``percept`` command line as a product: help of every command, ``--version``, one error
style with ``--debug``, a closed pipe, ``topics``/``echo --endpoint``, and :mod:`percept.cliutil`."""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from percept import cliutil
from percept.bus import Publisher
from percept.cli import build_parser, main
from percept.detections import Detections
from percept.introspect import MAX_ARRAY_ITEMS, array_value, message_values
from percept.messages import Detections2D, Image

REPO = Path(__file__).resolve().parents[2]


def _handler_module(parser: argparse.ArgumentParser) -> str | None:
    """The file of the module whose handler a (sub)command runs; the first found below it."""
    func = parser._defaults.get("func")
    if func is not None:
        return sys.modules[func.__module__].__file__
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found = _handler_module(sub)
                if found:
                    return found
    return None


def _walk(parser: argparse.ArgumentParser, path: str):
    """(command path, parser, its sub-command group or None) of ``parser`` and all below it."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    yield path, parser, groups[0] if groups else None
    for group in groups:
        for name, sub in group.choices.items():
            yield from _walk(sub, f"{path} {name}")


def _own_commands() -> list[tuple[str, argparse.ArgumentParser, argparse._SubParsersAction | None]]:
    """Every command of this checkout (plugins installed from elsewhere are not this tree's to check)."""
    out = []
    for path, parser, group in _walk(build_parser(), "percept"):
        module = _handler_module(parser)
        if path == "percept" or module is None or Path(module).resolve().is_relative_to(REPO):
            out.append((path, parser, group))
    return out


def test_every_command_and_option_has_help_and_shows_its_default() -> None:
    commands = _own_commands()
    names = {path for path, _, _ in commands}
    assert {"percept detect", "percept log cat", "percept import frames", "percept eval mot",
            "percept bench bus", "percept calibrate check", "percept sim", "percept echo"} <= names
    for path, parser, group in commands:
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction
                          | argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{path} {action.dest}: no help"
            text = formatter._expand_help(action)
            meaningful = not cliutil._no_default(action.default)
            if meaningful and (action.option_strings or action.nargs in ("?", "*")):
                assert "default" in text, f"{path} {action.option_strings}: help does not show its default"
        if group is not None:
            assert group.metavar == "COMMAND", f"{path}: sub-commands listed by an internal name"
            helps = {a.dest: a.help for a in group._choices_actions}
            assert set(helps) == set(group.choices), f"{path}: sub-commands without help"
            for name, text in helps.items():
                assert text and "\n" not in text and len(text) <= 90, f"{path} {name}: {text!r}"


def test_top_level_help_lists_each_command_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: percept [-h] [--version] [-v] [--debug] COMMAND ...")
    assert "``" not in text and "_command" not in text and "{" not in text  # no raw docstrings or dests
    listed = text.split("commands:\n")[1].split("\n\n")[0]
    for name in ("detect", "track2d", "run", "log", "replay", "import", "topics", "echo", "bench"):
        assert any(line.split()[:1] == [name] for line in listed.splitlines()), name


def test_a_missing_sub_command_is_named_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["log"])
    err = capsys.readouterr().err
    assert "percept log: error: the following arguments are required: COMMAND" in err
    assert "log_command" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"percept {version('percept')}"


def _bad_graph(tmp_path: Path) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text("name: g\nnodes:\n  - name: a\n    type: relay\n   bad: indent\n")
    return path


def test_a_yaml_syntax_error_is_one_line_file_line_message(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: a YAML syntax error printed PyYAML's multi-line parser dump."""
    path = _bad_graph(tmp_path)
    assert main(["run", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"percept: error: {path}:5: ")
    scenario = tmp_path / "scene.yaml"
    scenario.write_text("name: s\nactors: [a, b\n")
    assert main(["sim", str(scenario), "--endpoint", f"ipc://{tmp_path}/s.sock"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"percept: error: {scenario}:3: expected ',' or ']', but got '<stream end>' "
                   "(while parsing a flow sequence at line 2, column 9)"]


def test_debug_adds_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _bad_graph(tmp_path)
    assert main(["--debug", "run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "ConfigError" in err
    assert err.strip().splitlines()[-1].startswith(f"percept: error: {path}:5: ")


@pytest.mark.parametrize("argv, expected", [
    (["log", "info", "{tmp}/missing.mcap"], "{tmp}/missing.mcap"),  # naming the file
    (["topics", "--endpoint", "ipc://{tmp}/x.sock", "--duration", "0"], "--duration: expected > 0"),
    (["import", "frames", "--dir", "{tmp}", "--fps", "0", "--out", "{tmp}/o.mcap"], "fps must be > 0"),
])
def test_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                     expected: str) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("percept: error: ") and expected.format(tmp=tmp_path) in err[0]


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """Regression: `percept log cat LOG ... | head -1` ended in a BrokenPipeError traceback."""
    from replay.log import LogWriter

    log = tmp_path / "many.mcap"
    with LogWriter(log, foxglove=False) as w:
        for i in range(3000):  # ~600 kB of JSON lines: far more than a pipe buffer
            msg = Image(stamp_ns=i, frame_id="cam", seq=i, encoding="mono8", data=np.zeros((4, 4), np.uint8))
            w.write("cam", msg.to_frames("cam"), 1_000 + i)
    script = (f"{sys.executable} -m percept.cli log cat {log} --topic cam 2>{tmp_path / 'err.txt'} "
              "| head -1; echo rc=${PIPESTATUS[0]}")
    res = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["seq"] == 0
    assert lines[1] == f"rc={cliutil.EXIT_PIPE}"
    assert (tmp_path / "err.txt").read_text() == ""


class _Talker:
    """A publisher (not a graph: no run folder) sending a small Detections2D every 10 ms."""

    def __init__(self, endpoint: str) -> None:
        self.pub = Publisher(endpoint)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            dets = Detections(xyxy=[[1.5, 2, 30, 40]], confidence=[0.9], class_id=[0])
            self.pub.publish("cam/dets", Detections2D(stamp_ns=1_000 + seq, frame_id="cam", seq=seq,
                                                      detections=dets, class_names=("person",)))
            seq += 1
            time.sleep(0.01)

    def __enter__(self) -> _Talker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.pub.close()


def test_echo_and_topics_watch_any_publisher_by_endpoint(short_tmp: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    ep = f"ipc://{short_tmp}/talk.sock"
    with _Talker(ep):
        assert main(["echo", "cam/", "--endpoint", ep, "-n", "3", "--timeout", "10"]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [x["topic"] for x in lines] == ["cam/dets"] * 3
        assert lines[0]["schema"] == "percept.Detections2D"
        seqs = [x["seq"] for x in lines]
        assert seqs == list(range(seqs[0], seqs[0] + 3))
        assert main(["echo", "cam/", "--endpoint", ep, "-n", "1", "--timeout", "10", "--values"]) == 0
        (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert line["xyxy"] == [[1.5, 2.0, 30.0, 40.0]] and line["confidence"] == [0.9]
        assert main(["topics", "--endpoint", ep, "--duration", "0.5", "--json"]) == 0
        (info,) = json.loads(capsys.readouterr().out)
        assert info["topic"] == "cam/dets" and info["publisher"] == "?" and 10 < info["rate_hz"] < 150
        assert main(["topics", "--endpoint", ep, "--duration", "0.3"]) == 0
        table = capsys.readouterr().out.splitlines()
        assert table[0].split() == ["topic", "schema", "publisher", "msgs", "rate", "Hz", "kB/s"]
        assert table[1].split()[:3] == ["cam/dets", "percept.Detections2D", "?"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["echo", "cam/", "--graph", "g", "--endpoint", ep])


def test_array_values_are_lists_and_big_ones_truncated() -> None:
    assert array_value(np.array([0.9, 0.1], np.float32)) == [0.9, 0.1]  # float32 at its own precision
    assert array_value(np.arange(6, dtype=np.int32).reshape(2, 3)) == [[0, 1, 2], [3, 4, 5]]
    big = np.arange(100 * 4, dtype=np.int64).reshape(100, 4)
    assert array_value(big) == {"dtype": "<i8", "shape": [100, 4],
                                "head": big[:MAX_ARRAY_ITEMS // 4].tolist(), "truncated": True}
    wide = np.arange(3 * 200, dtype=np.int16).reshape(3, 200)
    assert array_value(wide, 64)["head"] == list(range(64))  # a row wider than the limit: first values, flat
    dets = Detections(xyxy=[[1, 2, 3, 4]], confidence=[0.75], class_id=[2])
    msg = Detections2D(stamp_ns=5, frame_id="cam", seq=1, detections=dets, class_names=("a",))
    view = message_values(msg)
    assert view["schema"] == "percept.Detections2D" and view["stamp_ns"] == 5
    assert view["xyxy"] == [[1.0, 2.0, 3.0, 4.0]] and view["class_id"] == [2] and view["confidence"] == [0.75]


def test_table_aligns_text_left_and_numbers_right() -> None:
    lines = cliutil.table(["name", "n", "rate"], [("a", 5, 1.25), ("long-name", 120, 10.0)])
    assert lines == ["name         n  rate", "a            5   1.2", "long-name  120  10.0"]


def test_error_text_of_an_os_error() -> None:
    assert cliutil.error_text(FileNotFoundError(2, "No such file or directory", "/x/y")) == \
        "/x/y: No such file or directory"
    assert cliutil.error_text(ValueError("a\n  b")) == "a b"


def test_progress_is_quiet_off_a_terminal(tmp_path: Path) -> None:
    with (tmp_path / "log.txt").open("w") as stream, cliutil.progress("work", 3, stream=stream) as update:
        for i in range(3):
            update(i + 1)
    assert (tmp_path / "log.txt").read_text() == ""
    assert list(cliutil.track(range(4), "t", stream=open(os.devnull, "w"))) == [0, 1, 2, 3]  # noqa: SIM115


def test_progress_draws_a_bar_on_a_terminal() -> None:
    pytest.importorskip("rich")
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as stream:
        with cliutil.progress("frobnicate", 5, unit="frames", stream=stream) as update:
            for i in range(5):
                update(i + 1, status="going")
        chunks = []
        while select.select([master], [], [], 0.5)[0]:
            chunks.append(os.read(master, 65536))
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert "frobnicate" in text and "5/5 frames going" in text and "100%" in text


def test_positive_int() -> None:
    assert cliutil.positive_int("3") == 3
    for bad in ("0", "-2", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="whole number >= 1"):
            cliutil.positive_int(bad)


def test_no_running_graph_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PERCEPT_RUN_DIR", str(tmp_path))
    assert main(["topics"]) == 2
    assert main(["echo", "cam/", "--graph", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"percept: error: no graph running under {tmp_path}; start one with `percept run`, "
                   "or listen to a publisher with --endpoint",
                   f"percept: error: no graph running in {tmp_path / 'nope'} (no graph.json); start one "
                   "with `percept run` or listen to a publisher with --endpoint"]
