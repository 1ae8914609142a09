"""The ``event_sink`` node on LocalRunner with the real sinks (file, HTTP server, mosquitto)."""

from __future__ import annotations

import logging
import socket

import pytest

from events.errors import SinkError
from events.jsonl import event_to_json, read_events_jsonl
from events.sink_node import EventSinkNode
from events.sinks.base import SinkStats
from events.sinks.webhook import idempotency_key
from percept.detections import Detections
from percept.errors import ConfigError
from percept.messages import Detections2D, Event
from percept.node import LocalRunner, make_processor
from tests.events.eventfactory import make_event
from tests.events.http_receiver import Receiver

NODE = "events.sink_node:EventSinkNode"


@pytest.fixture
def receiver():
    rx = Receiver([500])
    yield rx
    rx.stop()


def _node(config: dict) -> EventSinkNode:
    proc = make_processor(NODE, config, "nodes.alerts.config")
    assert isinstance(proc, EventSinkNode)
    return proc


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_events_fan_out_to_jsonl_webhook_and_mqtt(tmp_path, receiver, mosquitto, subscriber_factory):
    sub = subscriber_factory(mosquitto.port, topics=("site/events",))
    path = tmp_path / "events.jsonl"
    node = _node({"jsonl": {"path": str(path)},
                  "webhook": {"url": receiver.url, "backoff_initial_s": 0.01, "backoff_max_s": 0.05},
                  "mqtt": {"port": mosquitto.port, "prefix": "site"}})
    runner = LocalRunner(node, name="alerts")
    events = [make_event(i, phase=p) for i, p in enumerate(["start", "update", "end"])]
    for e in events:
        runner.feed("events/cam1", e)
    runner.feed("events/cam1", Detections2D(stamp_ns=events[-1].stamp_ns, frame_id="cam1",
                                            detections=Detections.empty()))  # not an event
    runner.feed("gt/events", make_event(9))  # not an input topic
    assert sub.wait_for(lambda: len(sub.events("site/events")) == 3)
    runner.close()
    assert [e.seq for e in read_events_jsonl(path)] == [0, 1, 2]
    assert [r.key for r in receiver.accepted()] == [idempotency_key(e) for e in events]
    assert [m["after"] for m in sub.events("site/events")] == [event_to_json(e) for e in events]
    st = node.stats
    assert (st.events_in, st.ignored, st.sink_errors) == (3, 2, {})
    assert {name: (s.delivered, s.failed) for name, s in st.sinks.items()} == {
        "jsonl": (3, 0), "webhook": (3, 0), "mqtt": (3, 0)}
    assert st.sinks["webhook"].retries == 1  # the receiver failed once


def test_a_failing_sink_does_not_stop_the_others(tmp_path):
    path = tmp_path / "events.jsonl"
    node = _node({"jsonl": {"path": str(path)},
                  "webhook": {"url": f"http://127.0.0.1:{_dead_port()}/", "max_attempts": 2,
                              "backoff_initial_s": 0.01, "backoff_max_s": 0.02}})
    runner = LocalRunner(node)
    for i in range(4):
        runner.feed("events/cam1", make_event(i))
    runner.close()
    assert len(read_events_jsonl(path)) == 4
    assert node.stats.sinks["webhook"].as_dict()["failed"] == 4
    assert node.stats.sinks["jsonl"].delivered == 4


class _Broken:
    """A sink with a defect: ``send`` raises (the node must count it and go on)."""

    name = "broken"

    def __init__(self) -> None:
        self.stats = SinkStats()

    def send(self, event: Event) -> None:
        raise RuntimeError(f"cannot send {event.seq}")

    def close(self, timeout_s: float) -> None:
        pass


def test_a_sink_that_raises_is_counted_and_the_next_sinks_still_get_the_event(tmp_path, caplog):
    path = tmp_path / "events.jsonl"
    node = _node({"jsonl": {"path": str(path)}})
    runner = LocalRunner(node)
    node.sinks.insert(0, _Broken())
    for i in range(3):
        runner.feed("events/cam1", make_event(i))
    runner.close()
    assert node.stats.sink_errors == {"broken": 3}
    assert runner.ctx.counters.handler_errors == 0  # the node itself never failed
    assert len(read_events_jsonl(path)) == 3
    assert "cannot send 2" in caplog.text


def test_sink_counters_are_logged_periodically(tmp_path, caplog):
    node = _node({"jsonl": {"path": str(tmp_path / "e.jsonl")}, "log_period_s": 10.0})
    runner = LocalRunner(node, start_ns=1_000_000_000)
    runner.feed("events/a", make_event(0))
    with caplog.at_level(logging.INFO):
        runner.advance_to(1_000_000_000 + 25 * 10**9)
    assert caplog.text.count("sink jsonl: {'accepted': 1, 'delivered': 1") == 2
    runner.close()


@pytest.mark.parametrize(("config", "message"), [
    ({}, "at least one sink"),
    ({"kafka": {}}, "unknown key 'kafka'"),
    ({"webhook": {}}, r"config\.webhook: missing required key 'url'"),
    ({"webhook": {"url": "localhost:80"}}, r"config\.webhook: url"),
    ({"jsonl": {"path": 3}}, r"config\.jsonl\.path"),
    ({"mqtt": {"port": "1883"}}, r"config\.mqtt\.port"),
    ({"mqtt": {"queue_size": -1}}, r"config\.mqtt: queue_size"),
    ({"jsonl": {"path": "e.jsonl"}, "inputs": []}, "inputs"),
])
def test_bad_config_fails_at_load_naming_the_key(config, message):
    with pytest.raises(ConfigError, match=message) as err:
        make_processor(NODE, config, "nodes.alerts.config")
    assert "nodes.alerts.config" in str(err.value)


def test_unwritable_jsonl_fails_at_start(tmp_path):
    (tmp_path / "f").write_text("x")
    node = _node({"jsonl": {"path": str(tmp_path / "f" / "e.jsonl")}})
    with pytest.raises(SinkError, match="cannot open"):
        LocalRunner(node)
