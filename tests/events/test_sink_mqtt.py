"""MQTT sink against a real mosquitto broker: topics, retained state, restart, overflow, LWT."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from events.jsonl import event_to_json
from events.sinks.mqtt import PHASE_TYPES, MqttConfig, MqttSink, topic_level
from percept.config import build
from percept.errors import ConfigError, MessageError
from percept.messages import EventPhase
from tests.events.eventfactory import make_event

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)


def _sink(port: int, **kw) -> MqttSink:
    sink = MqttSink(MqttConfig(port=port, **kw))
    deadline = time.monotonic() + 10.0
    while not sink.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.connected
    return sink


def _wait(cond, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    return cond()


def test_events_reach_a_subscriber_in_frigate_style(mosquitto, subscriber_factory):
    sub = subscriber_factory(mosquitto.port)
    sink = _sink(mosquitto.port)
    person = {"class": "person", "dwell_s": 2.0}
    events = [make_event(0, phase="start", event_id="cam1-intrusion-1", evidence=person),
              make_event(1, phase="update", event_id="cam1-intrusion-1", evidence={**person, "dwell_s": 3.0}),
              make_event(2, phase="end", event_id="cam1-intrusion-1", evidence=person)]
    for e in events:
        sink.send(e)
    assert sub.wait_for(lambda: len(sub.events()) == 3)
    got = sub.events()
    assert [m["type"] for m in got] == ["new", "update", "end"]
    after = [event_to_json(e) for e in events]
    assert [m["after"] for m in got] == after
    assert [m["before"] for m in got] == [after[0], after[0], after[1]]
    sink.close(timeout_s=5.0)
    assert (sink.stats.accepted, sink.stats.delivered, sink.stats.failed, sink.stats.overflow) == (3, 3, 0, 0)
    assert sub.wait_for(lambda: sub.last("percept/available") == (b"offline", False))


def test_retained_counts_per_camera_zone_and_class(mosquitto, subscriber_factory):
    sink = _sink(mosquitto.port)
    topic = "percept/cam1/lawn/person"
    person = {"class": "person"}
    sink.send(make_event(0, event_id="a", track_ids=(1,), evidence=person))
    sink.send(make_event(1, event_id="b", track_ids=(2,), evidence=person))
    sink.send(make_event(2, event_id="c", track_ids=(2,), evidence=person))  # same track, other rule
    sink.send(make_event(3, event_id="d", zone="", event_type="crowding", track_ids=(1, 2, 3)))
    sink.send(make_event(4, event_id="a", phase="end", track_ids=(1,), evidence=person))
    sink.send(make_event(5, event_id="e", camera="gate/2", zone="", event_type="abandoned", track_ids=()))
    sink.close(timeout_s=5.0)
    late = subscriber_factory(mosquitto.port)  # joins afterwards: sees the retained state only
    assert late.wait_for(lambda: late.last(topic) is not None and late.last("percept/available") is not None)
    assert late.last(topic) == (b"1", True)  # track 2 (twice) still open; track 1 ended
    assert late.wait_for(lambda: late.last("percept/cam1/crowding") == (b"3", True))
    assert late.wait_for(lambda: late.last("percept/gate_2/abandoned") == (b"1", True))
    assert late.last("percept/available") == (b"offline", True)
    assert late.events() == []  # events are not retained


def test_snapshot_is_published_retained_as_jpeg_bytes(mosquitto, subscriber_factory):
    sub = subscriber_factory(mosquitto.port)
    sink = _sink(mosquitto.port)
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
    sink.send(make_event(0, snapshot=jpeg, evidence={"class": "person"}))
    assert sub.wait_for(lambda: sub.last("percept/cam1/person/snapshot") is not None)
    assert sub.last("percept/cam1/person/snapshot") == (jpeg, False)
    assert "snapshot_jpeg_b64" not in sub.events()[0]["after"]
    sink.close(timeout_s=5.0)


@pytest.mark.slow
def test_broker_restart_queued_events_arrive_and_overflow_is_counted(mosquitto, subscriber_factory):
    sub = subscriber_factory(mosquitto.port, topics=("percept/events",))
    sink = _sink(mosquitto.port, queue_size=20, reconnect_min_s=1.0, reconnect_max_s=4.0)
    sink.send(make_event(0, phase="start", event_id="x"))
    assert sub.wait_for(lambda: len(sub.events()) == 1)
    # 1) broker down: 15 events (within the bound of 20) are queued, none lost
    _restart_with(mosquitto, sink, sub, [make_event(i, phase="update", event_id="x") for i in range(1, 16)])
    assert sub.wait_for(lambda: len(sub.events()) == 16, timeout_s=15.0)
    assert [m["after"]["seq"] for m in sub.events()] == list(range(16))  # all, in order, once
    assert _wait(lambda: sink.stats.delivered == 16)
    assert (sink.stats.overflow, sink.stats.connects) == (0, 2)
    # 2) broker down: 50 events, 20 fit; the 30 newest overflow and are counted
    more = [make_event(i, phase="update", event_id="x") for i in range(16, 66)]
    _restart_with(mosquitto, sink, sub, more)
    assert sub.wait_for(lambda: len(sub.events()) == 36, timeout_s=15.0)
    assert [m["after"]["seq"] for m in sub.events()] == list(range(36))
    sink.close(timeout_s=5.0)
    st = sink.stats
    assert (st.accepted, st.delivered, st.overflow, st.failed, st.pending) == (66, 36, 30, 0, 0)
    assert st.connects == 3 and st.disconnects == 2 and st.connect_failures >= 2
    time.sleep(0.2)
    assert len(sub.events()) == 36  # nothing arrives twice


@pytest.mark.slow
def test_events_sent_all_through_a_restart_arrive_once_in_order(mosquitto, subscriber_factory):
    sub = subscriber_factory(mosquitto.port, topics=("percept/events",))
    sink = _sink(mosquitto.port, queue_size=100_000, reconnect_min_s=1.0, reconnect_max_s=4.0)
    stop = threading.Event()
    sent: list[int] = []

    def produce() -> None:  # one event a millisecond, before, during and after the reconnect
        while not stop.is_set():
            sink.send(make_event(len(sent), phase="update", event_id="y"))
            sent.append(len(sent))
            time.sleep(0.001)

    producer = threading.Thread(target=produce)
    _restart_with(mosquitto, sink, sub, [], during=lambda: producer.start())
    time.sleep(0.5)
    stop.set()
    producer.join()
    assert sub.wait_for(lambda: len(sub.events()) >= len(sent), timeout_s=30.0)
    sink.close(timeout_s=5.0)
    assert [m["after"]["seq"] for m in sub.events()] == sent
    assert (sink.stats.delivered, sink.stats.overflow, sink.stats.failed) == (len(sent), 0, 0)


def _restart_with(broker, sink: MqttSink, sub, events: list, during=None) -> None:
    """Stop the broker, send ``events`` while it is down, start it again on the same port.

    The restart waits for one failed reconnect attempt of the sink, so the test subscriber (fast
    reconnect) is subscribed again before the sink's next attempt (``reconnect_min_s`` * 2 later).
    """
    assert _wait(lambda: sink.stats.pending == 0)  # all acknowledged: nothing in flight is re-sent
    fails = sink.stats.connect_failures
    broker.stop()
    t_down = time.monotonic()
    assert _wait(lambda: not sink.connected)
    for e in events:
        sink.send(e)
    if during is not None:
        during()
    assert _wait(lambda: sink.stats.connect_failures > fails)
    sub.subscribed.clear()
    connects = sink.stats.connects
    broker.start()
    t_up = time.monotonic()
    assert sub.subscribed.wait(5.0)
    assert _wait(lambda: sink.stats.connects > connects, timeout_s=10.0)
    log.info("broker down %.2f s; sink reconnected %.2f s after the broker was back",
             t_up - t_down, time.monotonic() - t_up)


def test_last_will_marks_a_dead_sink_offline(mosquitto, subscriber_factory):
    code = ("import sys, time\n"
            "from events.sinks.mqtt import MqttConfig, MqttSink\n"
            f"s = MqttSink(MqttConfig(port={mosquitto.port}, keepalive_s=1))\n"
            "while not s.connected: time.sleep(0.01)\n"
            "print('up', flush=True)\n"
            "time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
        sub = subscriber_factory(mosquitto.port, topics=("percept/available",))
        assert sub.wait_for(lambda: sub.last("percept/available") == (b"online", True))
        proc.kill()  # no clean disconnect: the broker publishes the will
        assert sub.wait_for(lambda: sub.last("percept/available") == (b"offline", False), timeout_s=10.0)
    finally:
        proc.kill()
        proc.wait()


def test_unreachable_broker_counts_attempts_and_close_counts_the_queue_failed():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = MqttSink(MqttConfig(port=port, queue_size=2, reconnect_min_s=0.05, reconnect_max_s=0.1))
    for i in range(5):
        sink.send(make_event(i))
    assert _wait(lambda: sink.stats.connect_failures >= 2)
    t0 = time.perf_counter()
    sink.close(timeout_s=0.2)
    assert time.perf_counter() - t0 < 2.0
    st = sink.stats
    assert (st.accepted, st.delivered, st.overflow, st.failed, st.pending, st.connects) == (5, 0, 3, 2, 0, 0)


def test_every_event_phase_has_a_frigate_type_and_no_other_phase_exists():
    assert {str(p) for p in PHASE_TYPES} == {p.value for p in EventPhase}
    assert PHASE_TYPES[EventPhase("start")] == "new"
    with pytest.raises(MessageError, match="phase"):  # so no unknown phase ever reaches the sink
        make_event(0, phase="paused")


def test_topic_levels_are_sanitised():
    assert topic_level("gate/2#+") == "gate_2__" and topic_level("") == "_" and topic_level("lawn") == "lawn"


@pytest.mark.parametrize(("config", "key"), [
    ({"port": 0}, "port"), ({"prefix": "a/#"}, "prefix"), ({"prefix": "/a"}, "prefix"),
    ({"queue_size": 0}, "queue_size"), ({"reconnect_min_s": 5.0, "reconnect_max_s": 1.0}, "reconnect_min_s"),
    ({"host": ""}, "host"), ({"qos": 2}, "qos"),
])
def test_bad_mqtt_config_names_the_key(config, key):
    with pytest.raises(ConfigError, match=key):
        build(MqttConfig, config, "sinks.mqtt")


def test_json_payload_is_strict(mosquitto, subscriber_factory):
    sub = subscriber_factory(mosquitto.port, topics=("percept/events",))
    sink = _sink(mosquitto.port)
    sink.send(make_event(0, evidence={"speed": float("inf")}))
    assert sub.wait_for(lambda: len(sub.messages) == 1)
    sink.close(timeout_s=5.0)
    raw = sub.messages[0][1].decode()
    payload = json.loads(raw, parse_constant=lambda c: pytest.fail(c))
    assert payload["after"]["evidence"]["speed"] == "Infinity"
