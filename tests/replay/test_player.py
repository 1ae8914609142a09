"""Player: a recorded live 3-node run played back to a real subscriber (timing, order, controls)."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from percept.bus import Subscriber
from percept.codec import decode
from percept.config import build
from percept.graph import GraphConfig, validate
from percept.launcher import Launcher
from replay.log import LogReader, LogWriter
from replay.player import Player, Progress

RECORD_S = 1.5


@pytest.fixture(scope="module")
def live_log():
    """A log of a live graph (test_pattern 50 Hz -> relay -> sink), written from a Subscriber."""
    tmp = Path(tempfile.mkdtemp(prefix="pl-", dir="/tmp"))
    graph = validate(build(GraphConfig, {
        "name": "rec", "transport": "ipc", "nodes": [
            {"name": "cam", "type": "test_pattern", "publishes": ["camera/"],
             "config": {"topic": "camera/test", "rate_hz": 50, "width": 64, "height": 48}},
            {"name": "relay", "type": "relay", "subscribe": ["camera/"], "publishes": ["relayed/"],
             "config": {"rename": {"camera/": "relayed/camera/"}}},
            {"name": "sink", "type": "jsonl_sink", "subscribe": ["relayed/"],
             "config": {"path": str(tmp / "sink.jsonl")}}]}, "graph"))
    launcher = Launcher(graph, tmp / "run")
    eps = [c.spec.endpoint for c in launcher.children.values()]
    path = tmp / "live.mcap"
    sub = Subscriber(eps, ("camera/", "relayed/"), hwm=1000)
    launcher.start()
    try:
        n = 0
        with LogWriter(path) as w:
            end = time.monotonic() + RECORD_S + 1.0
            while time.monotonic() < end:
                frames = sub.recv_frames(0.1)
                if frames is not None:
                    w.write(bytes(frames[0]).decode(), [bytes(f) for f in frames], time.time_ns())
                    n += 1
    finally:
        sub.close()
        launcher.stop()
    assert n > 60, f"live graph produced only {n} messages"
    yield path
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


def _receive(sub: Subscriber, until_quiet_s: float = 0.5,
             limit_s: float = 20.0) -> list[tuple[str, int, int]]:
    """(topic, seq, monotonic receive ns) until nothing arrives for ``until_quiet_s``."""
    out = []
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        env = sub.recv(until_quiet_s)
        if env is None:
            break
        out.append((env.topic, env.msg.seq, time.monotonic_ns()))
    return out


def _play(log: Path, ep: str, **kw) -> tuple[Player, Subscriber]:
    sub = Subscriber(ep, ("",), hwm=10000)
    player = Player(log, ep, wait_subscribers=1, **kw)
    return player, sub


def _recorded(log: Path, topics=None, start_ns=None, end_ns=None) -> list[tuple[str, int, int]]:
    return [(m.topic, decode(m.frames).msg.seq, m.log_time_ns)
            for m in LogReader(log).messages(topics, start_ns, end_ns)]


def test_round_trip_rate_1_same_order_and_timing(live_log, short_tmp):
    rec = _recorded(live_log)
    ep = f"ipc://{short_tmp}/p.sock"
    player, sub = _play(live_log, ep, rate=1.0)
    with player, sub:
        player.start()  # receive concurrently, timing each message on arrival
        got = _receive(sub)
        assert player.join(5.0)
        sent = player.sent
    assert sent == len(rec)
    assert [(t, s) for t, s, _ in got] == [(t, s) for t, s, _ in rec]
    log_t = np.array([t for *_, t in rec], np.int64)
    rx_t = np.array([t for *_, t in got], np.int64)
    err_ms = np.abs((rx_t - rx_t[0]) - (log_t - log_t[0])) / 1e6
    p99 = float(np.percentile(err_ms, 99))
    print(f"round trip {len(rec)} msgs: timing error p50 {np.median(err_ms):.3f} ms "
          f"p99 {p99:.3f} ms max {err_ms.max():.3f} ms")
    # Paced at the recorded timing, not as fast as possible. The p99 < 2 ms target is measured by
    # bench/replay_timing.py (timing targets live in benchmarks, not in test assertions).
    span_log, span_rx = (log_t[-1] - log_t[0]) / 1e9, (rx_t[-1] - rx_t[0]) / 1e9
    assert span_rx == pytest.approx(span_log, rel=0.1)


def test_rate_max_is_much_faster_than_real_time(live_log, short_tmp):
    rec = _recorded(live_log)
    span = (rec[-1][2] - rec[0][2]) / 1e9
    player, sub = _play(live_log, f"ipc://{short_tmp}/m.sock", rate=None)
    with player, sub:
        t0 = time.monotonic_ns()
        player.start()
        got = _receive(sub, 0.3)
        assert player.join(5.0)
        wall = (got[-1][2] - t0) / 1e9  # start to last arrival
    print(f"rate max: {span:.2f} s of log in {wall * 1e3:.1f} ms ({span / wall:.0f}x real time)")
    assert len(got) == len(rec)
    assert wall < span / 5  # typically 100x+; loose for a loaded 2-core machine


def test_start_end_topics_filters(live_log, short_tmp):
    rec = _recorded(live_log)
    first = rec[0][2]
    want = _recorded(live_log, ["relayed/"], first + 300_000_000, first + 800_000_000)
    assert 0 < len(want) < len(rec) / 2
    player, sub = _play(live_log, f"ipc://{short_tmp}/f.sock", rate=4.0, start_s=0.3, end_s=0.8,
                        topics=["relayed/"])
    with player, sub:
        player.start()
        got = _receive(sub, 0.3)
    assert [(t, s) for t, s, _ in got] == [(t, s) for t, s, _ in want]


def test_pause_step_seek_and_progress(live_log, short_tmp):
    rec = _recorded(live_log)
    first = rec[0][2]
    progress: list[Progress] = []
    player, sub = _play(live_log, f"ipc://{short_tmp}/c.sock", rate=1.0, paused=True,
                        progress=progress.append)
    with player, sub:
        player.start()
        time.sleep(0.3)
        assert sub.recv(0.2) is None  # paused: nothing sent
        for _ in range(3):
            player.step()
        got = _receive(sub, 0.3)
        assert [(t, s) for t, s, _ in got] == [(t, s) for t, s, _ in rec[:3]]
        assert sub.recv(0.2) is None  # still paused after the steps
        player.seek(1.0)
        player.step()
        env = sub.recv(2.0)
        after = next(r for r in rec if r[2] >= first + 1_000_000_000)
        assert env is not None and (env.topic, env.msg.seq) == after[:2]
        player.resume()
        rest = _receive(sub, 0.5)
        assert player.join(5.0)
    later = [r for r in rec if r[2] > after[2]]
    assert [(t, s) for t, s, _ in rest] == [(t, s) for t, s, _ in later]
    assert progress[-1].sent == 3 + 1 + len(later)
    assert progress[-1].position_s == pytest.approx((rec[-1][2] - first) / 1e9)


def test_loop_and_stop_from_another_thread(live_log, short_tmp):
    n = len(_recorded(live_log, ["relayed/"]))
    player, sub = _play(live_log, f"ipc://{short_tmp}/l.sock", rate=None, loop=True, topics=["relayed/"])
    with player, sub:
        player.start()
        got: list = []
        while len(got) < 2 * n + 5:
            env = sub.recv(2.0)
            assert env is not None
            got.append(env)
        threading.Thread(target=player.stop).start()
        assert player.join(5.0)
    assert player.loops >= 2
    assert [e.msg.seq for e in got[n:2 * n]] == [e.msg.seq for e in got[:n]]


def test_replay_cli_non_tty(live_log, short_tmp, capsys):
    import argparse

    from replay.player_cli import register

    parser = argparse.ArgumentParser()
    register(argparse.Namespace(commands=parser.add_subparsers(dest="command"), bench=None))
    ep = f"ipc://{short_tmp}/cli.sock"
    args = parser.parse_args(["replay", str(live_log), "--rate", "max", "--topics", "camera/",
                              "--endpoint", ep, "--wait-subscribers", "1", "--end", "1.0"])
    assert args.rate is None
    with Subscriber(ep, ("",), hwm=10000) as sub:
        t = threading.Thread(target=args.func, args=(args,))
        t.start()
        got = _receive(sub, 0.5)
        t.join(5.0)
    first = _recorded(live_log)[0][2]
    want = _recorded(live_log, ["camera/"], None, first + 1_000_000_000)
    assert [(t, s) for t, s, _ in got] == [(t, s) for t, s, _ in want]
    assert f"sent {len(want)} messages" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["replay", str(live_log), "--rate", "-1"])


def test_truncated_log_refused_then_played_with_skip_bad(short_tmp):
    from percept.messages import Image
    from replay.errors import LogError

    log = short_tmp / "cut.mcap"
    with LogWriter(log, chunk_size=64 * 1024, foxglove=False) as w:
        for i in range(60):
            img = Image(stamp_ns=i * 10_000_000, frame_id="cam", seq=i, encoding="mono8",
                        data=np.full((64, 64), i, np.uint8))
            w.write("camera/a", [bytes(f) for f in img.to_frames("camera/a")], i * 10_000_000)
    data = log.read_bytes()
    log.write_bytes(data[: len(data) * 2 // 3])  # cut inside a later chunk: the summary is gone
    with pytest.raises(LogError, match="offset"):
        Player(log, f"ipc://{short_tmp}/x.sock", rate=None)
    player, sub = _play(log, f"ipc://{short_tmp}/cut.sock", rate=None, skip_bad=True)
    with player, sub:
        player.start()
        got = _receive(sub, 0.3)
        assert player.join(5.0)
    seqs = [seq for _topic, seq, _t in got]
    assert 0 < len(seqs) < 60 and seqs == list(range(len(seqs)))  # every complete chunk, in order


def _broken_log(path: Path) -> int:
    """A log whose every chunk is corrupt (nothing readable); returns the number of chunks."""
    from percept.messages import Image
    from replay._mcap_scan import Chunk, Scanner

    with LogWriter(path, chunk_size=32 * 1024, foxglove=False) as w:
        for i in range(30):
            img = Image(stamp_ns=i * 10_000_000, frame_id="cam", seq=i, encoding="mono8",
                        data=np.full((64, 64), i, np.uint8))
            w.write("camera/a", [bytes(f) for f in img.to_frames("camera/a")], i * 10_000_000)
    scanner = Scanner(path)
    chunks = [c for c in scanner.scan() if isinstance(c, Chunk)]
    scanner.close()
    data = bytearray(path.read_bytes())
    for c in chunks:
        data[c.offset + c.length - 100] ^= 0xFF
    path.write_bytes(bytes(data))
    return len(chunks)


def test_skip_bad_with_nothing_readable_fails_with_one_line(short_tmp):
    """Regression: `replay --skip-bad` on a log with nothing readable exited 0 ("sent 0 messages")
    and logged every bad chunk twice."""
    import os
    import subprocess
    import sys

    log = short_tmp / "broken.mcap"
    n_chunks = _broken_log(log)
    assert n_chunks >= 2
    repo = Path(__file__).resolve().parents[2]
    argv = ["replay", str(log), "--skip-bad", "--rate", "max", "--endpoint", f"ipc://{short_tmp}/b.sock"]
    res = subprocess.run([sys.executable, "-m", "percept.cli", *argv], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONPATH": str(repo)})
    assert res.returncode == 2 and res.stdout == ""
    err = res.stderr.strip().splitlines()
    want = f"percept: error: {log}: nothing to play: no readable message ({n_chunks} bad parts skipped)"
    assert err[-1] == want
    warnings = [line for line in err if "skipped: bad chunk" in line]
    assert len(warnings) == n_chunks  # once each
    assert len({w.split("byte offset ")[1] for w in warnings}) == n_chunks
