"""Launcher: a 3-node graph as real processes, restarts, inspection and clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

pytestmark = pytest.mark.slow


def _graph(tmp: Path, transport: str = "ipc") -> Path:
    graph = {
        "name": "relay-test",
        "transport": transport,
        "output": "log",
        "restart": {"backoff_s": 0.2, "max_backoff_s": 1.0},
        "nodes": [
            {"name": "source", "type": "test_pattern", "publishes": ["camera/test"],
             "config": {"topic": "camera/test", "rate_hz": 40, "width": 64, "height": 48}},
            {"name": "relay", "type": "relay", "subscribe": ["camera/"], "publishes": ["relayed/"],
             "config": {"rename": {"camera/": "relayed/camera/"}}},
            {"name": "sink", "type": "jsonl_sink", "subscribe": ["relayed/"],
             "config": {"path": str(tmp / "sink.jsonl")}},
        ],
    }
    path = tmp / "graph.yaml"
    path.write_text(yaml.safe_dump(graph))
    return path


def _percept(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "percept.cli", *args], **kw)


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _sink_lines(tmp: Path) -> list[dict]:
    p = tmp / "sink.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def _manifest(run: Path) -> dict:
    try:
        return json.loads((run / "graph.json").read_text())
    except (OSError, ValueError):
        return {}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_graph_restarts_a_killed_node_and_stops_cleanly(short_tmp):
    run = short_tmp / "run"
    launcher = _percept("run", str(_graph(short_tmp)), "--run-dir", str(run))
    try:
        _wait(lambda: len(_sink_lines(short_tmp)) >= 20, 20, "frames at the sink")
        nodes = _wait(lambda: _manifest(run).get("nodes"), 5, "manifest")
        pids = {n: v["pid"] for n, v in nodes.items()}
        assert all(pids.values())
        assert {p.pid for p in psutil.Process(launcher.pid).children()} == set(pids.values())

        os.kill(pids["relay"], signal.SIGKILL)
        killed_at = time.time_ns()
        new = _wait(lambda: (p := _manifest(run)["nodes"]["relay"]["pid"]) not in (None, pids["relay"]) and p,
                    10, "relay restart")
        assert _manifest(run)["nodes"]["relay"]["restarts"] == 1
        # the sink resumes: frames captured after the kill arrive through the new relay
        _wait(lambda: sum(x["stamp_ns"] > killed_at for x in _sink_lines(short_tmp)) >= 10, 15,
              "frames after the restart")
        assert (run / "relay.log").read_text().count("Traceback") == 0

        # inspection tools against the running graph
        topics = json.loads(subprocess.run(
            [sys.executable, "-m", "percept.cli", "topics", "--run-dir", str(run), "--json"],
            capture_output=True, text=True, timeout=30, check=True).stdout)
        by_topic = {t["topic"]: t for t in topics}
        assert by_topic["relayed/camera/test"]["schema"] == "percept.Image"
        assert by_topic["relayed/camera/test"]["publisher"] == "relay"
        assert 20 < by_topic["camera/test"]["rate_hz"] < 60
        assert by_topic["stats/sink"]["schema"] == "percept.NodeStats"
        echo = subprocess.run(
            [sys.executable, "-m", "percept.cli", "echo", "relayed/", "-n", "3", "--run-dir", str(run)],
            capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
        assert len(echo) == 3
        first = json.loads(echo[0])
        assert first["topic"] == "relayed/camera/test" and first["data"]["shape"] == [48, 64, 3]

        all_pids = [*pids.values(), new]
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=15) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    _wait(lambda: all(_gone(p) for p in all_pids), 5, "no orphan node processes")
    assert not (run / "graph.json").exists()
    seqs = [x["seq"] for x in _sink_lines(short_tmp)]
    assert seqs == sorted(seqs)  # one source, in order, even across the relay restart


def test_tcp_graph_runs_and_sigint_stops_it(short_tmp):
    launcher = _percept("run", str(_graph(short_tmp, "tcp")), "--run-dir", str(short_tmp / "run"))
    try:
        _wait(lambda: len(_sink_lines(short_tmp)) >= 10, 20, "frames over tcp")
        endpoints = [n["endpoint"] for n in _manifest(short_tmp / "run")["nodes"].values()]
        assert all(e.startswith("tcp://127.0.0.1:") for e in endpoints)
        children = [p.pid for p in psutil.Process(launcher.pid).children()]
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=15) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    _wait(lambda: all(_gone(p) for p in children), 5, "no orphan node processes")


def test_nodes_die_with_a_killed_launcher(short_tmp):
    launcher = _percept("run", str(_graph(short_tmp)), "--run-dir", str(short_tmp / "run"))
    try:
        _wait(lambda: len(_sink_lines(short_tmp)) >= 5, 20, "frames at the sink")
        children = [p.pid for p in psutil.Process(launcher.pid).children()]
        assert len(children) == 3
        launcher.kill()
        launcher.wait(timeout=5)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    _wait(lambda: all(_gone(p) for p in children), 10, "nodes to follow the launcher")


def test_run_rejects_a_bad_graph_naming_the_key(short_tmp):
    path = _graph(short_tmp)
    data = yaml.safe_load(path.read_text())
    data["nodes"][1]["config"]["renam"] = {}
    path.write_text(yaml.safe_dump(data))
    res = subprocess.run([sys.executable, "-m", "percept.cli", "run", str(path)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert "graph.nodes[1].config (relay)" in res.stderr and "'renam'" in res.stderr
