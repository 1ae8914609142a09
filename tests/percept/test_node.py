"""Node runtime: processors without sockets, timers on clocks, and the socket shell."""

from __future__ import annotations

import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

from percept import Detections, Detections2D, Image, NodeStats
from percept.builtin_nodes import Relay, RelayConfig, TestPatternCamera, TestPatternConfig
from percept.bus import Subscriber
from percept.clock import VirtualClock, WallClock
from percept.errors import PerceptError
from percept.message import Message
from percept.node import LocalRunner, Processor, Timers
from percept.shell import NodeShell, NodeSpec


class Flaky(Processor):
    """Relays detections; raises on every message whose seq is divisible by 3."""

    def on_message(self, topic: str, msg: Message) -> None:
        if msg.seq % 3 == 0:
            raise RuntimeError(f"cannot handle seq {msg.seq}")
        self.context.publish("out/" + topic, msg)


def _dets(seq: int) -> Detections2D:
    return Detections2D(stamp_ns=10_000 + seq, frame_id="cam", seq=seq,
                        detections=Detections([[0, 0, 10, 10]], [0.9], [1]))


def test_virtual_clock_never_goes_back():
    clock = VirtualClock(100)
    clock.advance_to(200)
    assert clock.now_ns() == 200
    with pytest.raises(PerceptError, match="cannot go back"):
        clock.advance_to(150)
    assert abs(WallClock().now_ns() - time.time_ns()) < 1e9


def test_timers_catch_up_in_virtual_time_and_skip_on_wall_clock():
    fired: list[int] = []
    virtual = Timers(catch_up=True)
    virtual.add(100, fired.append, first_ns=100)
    virtual.run_due(450, lambda e: None)
    assert fired == [100, 200, 300, 400]
    fired.clear()
    wall = Timers(catch_up=False)
    wall.add(100, fired.append, first_ns=100)
    wall.run_due(450, lambda e: None)
    assert fired == [450] and wall.next_deadline() == 550


def test_local_runner_fires_timers_deterministically_between_messages():
    cam = TestPatternCamera(TestPatternConfig(rate_hz=10, width=32, height=8))
    runs = []
    for _ in range(2):
        runner = LocalRunner(TestPatternCamera(cam.config), start_ns=0)
        runner.advance_to(1_000_000_000)
        runs.append([(t, m.stamp_ns, m.seq) for t, m in runner.outputs])
    assert runs[0] == runs[1]
    assert [s for _, s, _ in runs[0]] == [k * 100_000_000 for k in range(1, 11)]
    assert runner.outputs[0][1].data.shape == (8, 32, 3)


def test_handler_errors_are_counted_not_fatal():
    runner = LocalRunner(Flaky(), name="flaky")
    for i in range(9):
        runner.feed("det", _dets(i))
    assert runner.ctx.counters.handler_errors == 3
    assert [m.seq for _, m in runner.outputs] == [1, 2, 4, 5, 7, 8]
    assert runner.ctx.counters.msgs_in == 9 and runner.ctx.counters.topics_in == {"det": 9}


def test_relay_renames_by_prefix():
    runner = LocalRunner(Relay(RelayConfig(rename={"camera/": "relayed/camera/"})))
    runner.feed("camera/front", _dets(1))
    runner.feed("other", _dets(2))
    assert [t for t, _ in runner.outputs] == ["relayed/camera/front", "other"]


def _malformed() -> list[list[bytes]]:
    good = _dets(1).to_frames("det")
    header = msgpack.unpackb(good[1])
    bad = []
    bad.append([b"det"])                                                  # wrong frame count
    bad.append([b"det", good[1]])                                         # buffers missing
    bad.append([b"det", good[1], *map(bytes, good[2:]), b"extra"])        # buffer too many
    bad.append([b"det", good[1][:-3], *map(bytes, good[2:])])             # truncated header
    bad.append([b"det", good[1], bytes(good[2])[:-1], *map(bytes, good[3:])])  # truncated array
    for key, value in (("s", "percept.Unknown"), ("v", 99)):
        h = dict(header, **{key: value})
        bad.append([b"det", msgpack.packb(h), *map(bytes, good[2:])])     # schema / version
    h = dict(header, a=[["xyxy", "O", [1, 4]], *header["a"][1:]])
    bad.append([b"det", msgpack.packb(h), *map(bytes, good[2:])])         # disallowed dtype
    h = dict(header, a=[["xyxy", "f4", [2, 4]], *header["a"][1:]])
    bad.append([b"det", msgpack.packb(h), *map(bytes, good[2:])])         # shape/size mismatch
    h = dict(header, a=[["xyxy", "f4", [2**40, 4]], *header["a"][1:]])
    bad.append([b"det", msgpack.packb(h), *map(bytes, good[2:])])         # over the cap
    bad.append([b"det", b"\x00\xff not msgpack", b""])                    # not msgpack
    rng = np.random.default_rng(7)
    bad.append([rng.bytes(n) for n in (5, 40, 17)])                       # random bytes
    return bad


def test_shell_survives_malformed_input_and_counts_it(short_tmp):
    """A node fed every kind of malformed message keeps running; its stats count them."""
    ctx = zmq.Context.instance()
    upstream = ctx.socket(zmq.PUB)
    upstream.bind(f"ipc://{short_tmp}/up.sock")
    spec = NodeSpec(name="flaky", type="unused", endpoint=f"ipc://{short_tmp}/flaky.sock",
                    connect=(f"ipc://{short_tmp}/up.sock",), subscribe=("",), stats_period_s=0.2)
    shell = NodeShell(spec, Flaky())
    out = Subscriber(spec.endpoint, ["out/", "stats/"])
    runner = threading.Thread(target=shell.run, kwargs={"duration_s": 3.0})
    runner.start()
    time.sleep(0.5)
    bad = _malformed()
    for i in range(1, 7):
        for frames in bad:
            upstream.send_multipart(frames)
        upstream.send_multipart(_dets(i).to_frames("det"))
    relayed, stats = [], []
    while (env := out.recv(1.0)) is not None:
        (stats if env.topic.startswith("stats/") else relayed).append(env.msg)
    runner.join()
    out.close()
    upstream.close(0)
    assert [m.seq for m in relayed] == [1, 2, 4, 5]  # seq 3 and 6 raise in the handler
    final = shell.stats()
    assert final.decode_errors == 6 * len(bad)
    assert final.handler_errors == 2 and final.msgs_in == 6
    assert stats and all(isinstance(s, NodeStats) and s.node == "flaky" for s in stats)
    assert [s.seq for s in stats] == list(range(len(stats)))
    assert stats[-1].decode_errors == final.decode_errors and stats[-1].rss_bytes > 0


def test_source_shell_publishes_images_at_its_rate(short_tmp):
    spec = NodeSpec(name="cam", type="test_pattern", endpoint=f"ipc://{short_tmp}/cam.sock",
                    stats_period_s=0)
    shell = NodeShell(spec, TestPatternCamera(TestPatternConfig(rate_hz=50, width=64, height=48)))
    sub = Subscriber(spec.endpoint, ["camera/"])
    t = threading.Thread(target=shell.run, kwargs={"duration_s": 1.5})
    t.start()
    got = []
    while (env := sub.recv(1.0)) is not None:
        got.append(env.msg)
    t.join()
    sub.close()
    assert 30 <= len(got) <= 80
    assert all(isinstance(m, Image) and m.data.shape == (48, 64, 3) for m in got)
    stamps = np.diff([m.stamp_ns for m in got]) / 1e6
    assert np.median(stamps) == pytest.approx(20, abs=3)  # 50 Hz of clock time
