"""Graph control messages and the node shell's side of the handshake and of the end of stream."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from percept.bus import Publisher, Subscriber
from percept.codec import decode, encode
from percept.control import Control, ControlKind, control_topic, is_control_topic
from percept.errors import MessageError
from percept.message import Message
from percept.messages import Detections2D
from percept.node import LocalRunner, Processor
from percept.shell import NodeShell, NodeSpec
from tests.percept.test_node import _dets


def test_control_round_trips_and_names_its_topic():
    msg = Control(stamp_ns=5, frame_id="", kind="end", node="camera", published={"cam/img": 8, "x": 0})
    topic, back = decode(encode(msg.topic, msg))
    assert topic == "ctl/end/camera" == control_topic(ControlKind.END, "camera")
    assert back == msg and back.published == {"cam/img": 8, "x": 0} and back.kind == ControlKind.END
    ready = Control(stamp_ns=0, frame_id="", kind=ControlKind.READY, node="det", heard=["camera"])
    assert decode(encode(ready.topic, ready))[1].heard == ("camera",)
    assert is_control_topic(ready.topic) and not is_control_topic("camera/ctl/x")


@pytest.mark.parametrize(("fields", "match"), [
    ({"kind": "bye", "node": "a"}, "Control.kind: expected one of"),
    ({"kind": "end", "node": ""}, "Control.node"),
    ({"kind": "end", "node": "a", "published": {"t": -1}}, "Control.published"),
])
def test_bad_control_fields_are_named(fields, match):
    with pytest.raises(MessageError, match=match):
        Control(stamp_ns=0, frame_id="", **fields)


class Batcher(Processor):
    """Holds every message and publishes them all at the end of the stream."""

    def start(self, ctx) -> None:
        super().start(ctx)
        self.held: list[Message] = []

    def on_message(self, topic: str, msg: Message) -> None:
        self.held.append(msg)

    def on_end_of_stream(self) -> None:
        for m in self.held:
            self.context.publish("out", m)

    def counters(self):
        return {"held": len(self.held)}


def test_local_runner_hands_the_end_of_stream_to_the_processor():
    runner = LocalRunner(Batcher())
    for i in range(3):
        assert runner.feed("det", _dets(i)) == []
    assert [m.seq for _t, m in runner.end_of_stream()] == [0, 1, 2]
    assert runner.ctx.counters.topics_out == {"out": 3}
    assert runner.processor.counters() == {"held": 3}


def _shell(short_tmp, name: str, **kw) -> NodeShell:
    spec = NodeSpec(name=name, type="unused", endpoint=f"ipc://{short_tmp}/{name}.sock", stats_period_s=0,
                    summary_path=str(short_tmp / f"{name}.json"), **kw)
    return NodeShell(spec, Batcher())


def test_a_node_whose_feeder_ended_flushes_forwards_the_end_and_stops(short_tmp):
    up = Publisher(f"ipc://{short_tmp}/up.sock")
    shell = _shell(short_tmp, "batcher", connect=(f"ipc://{short_tmp}/up.sock",), subscribe=("det",),
                   upstream=("up",))
    out = Subscriber(shell.spec.endpoint, ["out", "ctl/end/"])
    runner = threading.Thread(target=shell.run, kwargs={"duration_s": 20.0})
    runner.start()
    up.wait_for_subscribers(1, timeout=5)
    t0 = time.monotonic()
    for i in range(4):
        up.publish("det", _dets(i))
    # an end marker from a node that does not feed it is ignored; the feeder's ends the stream
    up.publish("ctl/end/other", Control(stamp_ns=0, frame_id="", kind="end", node="other"))
    up.publish("ctl/end/up", Control(stamp_ns=0, frame_id="", kind="end", node="up", published={"det": 5}))
    got = []
    while (env := out.recv(5.0)) is not None:
        got.append(env)
        if isinstance(env.msg, Control):
            break
    runner.join(timeout=10)
    assert not runner.is_alive() and time.monotonic() - t0 < 10
    data, (last,) = got[:-1], got[-1:]
    assert [e.msg.seq for e in data] == [0, 1, 2, 3] and all(isinstance(e.msg, Detections2D) for e in data)
    end = last.msg
    assert (last.topic, end.kind, end.node) == ("ctl/end/batcher", "end", "batcher")
    assert end.published == {"out": 4}
    assert shell.finished
    summary = shell.summary()
    assert summary.finished and summary.received == {"det": 4} and summary.published == {"out": 4}
    assert summary.upstream_published == {"up": {"det": 5}} and summary.counters == {"held": 4}
    out.close()
    up.close(0)


def test_a_node_waits_for_its_ready_timeout_then_starts_with_a_warning(short_tmp, caplog):
    shell = _shell(short_tmp, "lonely", wait_for=("ghost",), wait_connect=(f"ipc://{short_tmp}/ghost.sock",),
                   ready_timeout_s=0.5)
    fired = []
    shell.ctx.add_timer(0.01, fired.append)
    with caplog.at_level(logging.INFO):
        t = threading.Thread(target=shell.run, kwargs={"duration_s": 1.2})
        t.start()
        time.sleep(0.3)
        assert not shell.ready and not fired  # timers wait with the node
        t.join()
    assert shell.ready and fired and 0.5 <= shell.ready_s < 1.0
    assert "['ghost'] not ready after 0.5 s; starting without them" in caplog.text
