"""Webhook sink against a real HTTP server on 127.0.0.1: retries, order, idempotency, overflow."""

from __future__ import annotations

import random
import time

import pytest

from events.jsonl import event_to_json
from events.sinks.base import backoff_delay
from events.sinks.webhook import WebhookConfig, WebhookSink, idempotency_key
from percept.config import build
from percept.errors import ConfigError
from tests.events.eventfactory import make_event
from tests.events.http_receiver import Receiver


@pytest.fixture
def receiver_factory():
    made: list[Receiver] = []

    def make(script: list[int | str] | None = None) -> Receiver:
        made.append(Receiver(script))
        return made[-1]

    yield make
    for r in made:
        r.stop()


def _sink(url: str, **kw) -> WebhookSink:
    cfg = {"url": url, "timeout_s": 2.0, "backoff_initial_s": 0.02, "backoff_max_s": 0.1, **kw}
    return WebhookSink(WebhookConfig(**cfg), seed=0)


def test_receiver_failing_twice_then_succeeding_gets_each_event_once_in_order(receiver_factory):
    rx = receiver_factory([500, 500])
    sink = _sink(rx.url)
    events = [make_event(i, phase=p) for i, p in enumerate(["start", "update", "update", "end", "start"])]
    t0 = time.perf_counter()
    for e in events:
        sink.send(e)
    sink.close(timeout_s=10.0)
    elapsed = time.perf_counter() - t0
    ok = [r for r in rx.requests if r.answer == 200]
    assert [r.key for r in ok] == [idempotency_key(e) for e in events]
    assert [r.body for r in ok] == [event_to_json(e, snapshot=True) for e in events]
    assert [r.answer for r in rx.requests] == [500, 500] + [200] * len(events)
    assert rx.requests[0].key == rx.requests[1].key == rx.requests[2].key  # the same event, retried
    assert sink.stats.as_dict() == {**sink.stats.as_dict(), "accepted": 5, "delivered": 5, "failed": 0,
                                    "overflow": 0, "retries": 2, "pending": 0}
    assert elapsed < 5.0


def test_lost_response_is_retried_and_deduplicated_by_idempotency_key(receiver_factory):
    rx = receiver_factory(["drop"])
    sink = _sink(rx.url)
    events = [make_event(i) for i in range(3)]
    for e in events:
        sink.send(e)
    sink.close(timeout_s=10.0)
    assert len(rx.requests) == 4  # the first event arrived twice: its answer was lost
    assert rx.requests[0].key == rx.requests[1].key
    assert [r.key for r in rx.accepted()] == [idempotency_key(e) for e in events]
    assert (sink.stats.delivered, sink.stats.retries, sink.stats.failed) == (3, 1, 0)


def test_4xx_is_not_retried_but_408_and_429_are(receiver_factory):
    rx = receiver_factory([400, 408, 429])
    sink = _sink(rx.url)
    bad, good = make_event(0), make_event(1)
    sink.send(bad)
    sink.send(good)
    sink.close(timeout_s=10.0)
    assert [(r.key, r.answer) for r in rx.requests] == [
        (idempotency_key(bad), 400), (idempotency_key(good), 408), (idempotency_key(good), 429),
        (idempotency_key(good), 200)]
    assert (sink.stats.delivered, sink.stats.failed, sink.stats.retries) == (1, 1, 2)


def test_attempts_are_bounded_and_then_the_event_fails(receiver_factory):
    rx = receiver_factory([503] * 10)
    sink = _sink(rx.url, max_attempts=3)
    sink.send(make_event(0))
    sink.close(timeout_s=10.0)
    assert len(rx.requests) == 3
    assert (sink.stats.delivered, sink.stats.failed, sink.stats.retries, sink.stats.pending) == (0, 1, 2, 0)


def test_full_queue_drops_the_oldest_and_counts_overflow(receiver_factory):
    rx = receiver_factory(["block"])
    sink = _sink(rx.url, queue_size=3)
    events = [make_event(i) for i in range(10)]
    sink.send(events[0])
    assert rx.in_flight.wait(5.0)  # event 0 is being delivered, out of the queue
    for e in events[1:]:
        sink.send(e)
    assert sink.stats.overflow == 6
    rx.release.set()
    sink.close(timeout_s=10.0)
    assert [r.key for r in rx.accepted()] == [idempotency_key(e) for e in (events[0], *events[7:])]
    st = sink.stats
    assert (st.accepted, st.delivered, st.overflow, st.pending) == (10, 4, 6, 0)


def test_close_gives_up_at_its_deadline_and_counts_the_rest_failed(receiver_factory):
    rx = receiver_factory([500] * 1000)
    sink = _sink(rx.url, max_attempts=1000, backoff_max_s=0.05)
    for i in range(5):
        sink.send(make_event(i))
    t0 = time.perf_counter()
    sink.close(timeout_s=0.3)
    took = time.perf_counter() - t0
    assert 0.25 <= took < 0.3 + 2.0 + 0.5  # the deadline, plus at most one request's timeout
    assert (sink.stats.delivered, sink.stats.failed, sink.stats.pending) == (0, 5, 0)
    sink.send(make_event(9))  # after close: refused, counted
    assert sink.stats.failed == 6


def test_unreachable_receiver_is_retried_then_failed():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = _sink(f"http://127.0.0.1:{port}/hook", max_attempts=3)
    sink.send(make_event(0))
    sink.close(timeout_s=5.0)
    assert (sink.stats.failed, sink.stats.retries) == (1, 2)


def test_backoff_is_exponential_jittered_and_bounded():
    rng = random.Random(1)
    for attempt in range(1, 30):
        nominal = min(8.0, 0.5 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, 0.5, 8.0, rng) for _ in range(50)]
        assert all(nominal / 2 <= d <= nominal for d in delays)
        assert len(set(delays)) > 1  # jittered


@pytest.mark.parametrize(("config", "key"), [
    ({}, "url"), ({"url": "ftp://x/y"}, "url"), ({"url": "http://h/", "timeout_s": 0}, "timeout_s"),
    ({"url": "http://h/", "queue_size": 0}, "queue_size"),
    ({"url": "http://h/", "max_attempts": 0}, "max_attempts"),
    ({"url": "http://h/", "backoff_max_s": 0.1}, "backoff_max_s"),
    ({"url": "http://h/", "retries": 3}, "retries"),
])
def test_bad_webhook_config_names_the_key(config, key):
    with pytest.raises(ConfigError, match=key):
        build(WebhookConfig, config, "sinks.webhook")
