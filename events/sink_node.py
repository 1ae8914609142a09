"""The ``event_sink`` node: events from the bus to a JSONL file, a webhook and an MQTT broker.

Graph file use::

    - name: alerts
      type: event_sink
      subscribe: [events/]
      policy: reliable
      config:
        jsonl: {path: logs/events.jsonl}
        webhook: {url: "http://127.0.0.1:8080/hook", max_attempts: 5}
        mqtt: {host: 127.0.0.1, port: 1883, prefix: percept}

Every ``Event`` on a topic starting with one of ``inputs`` goes to each configured sink in
turn; anything else is counted as ignored. A sink never stops the node: delivery problems are
counted in the sink's own stats (:class:`~events.sinks.base.SinkStats`, in
:attr:`EventSinkNode.stats` ``.sinks``) and a sink that raises is counted in ``sink_errors``
and logged. Every ``log_period_s`` of clock time the node logs each sink's counters; on stop it
closes the sinks (flushing queues) within ``close_timeout_s`` of wall time in all and logs the
totals.

The webhook and MQTT sinks do their network I/O on their own threads (a worker, paho's network
loop), so ``on_message`` only queues and never waits on the network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from events.errors import SinkError
from events.jsonl import JsonlEventSink, JsonlSinkConfig
from events.sinks.base import EventSink, SinkStats
from events.sinks.mqtt import MqttConfig, MqttSink
from events.sinks.webhook import WebhookConfig, WebhookSink
from percept.message import Message
from percept.messages import Event
from percept.node import NodeContext, Processor


@dataclass(frozen=True)
class EventSinkConfig:
    """Options of :class:`EventSinkNode`; at least one of ``jsonl``, ``webhook``, ``mqtt``.

    Attributes:
        inputs: topic prefixes whose ``Event`` messages are delivered.
        jsonl: a JSON-lines file sink (:class:`~events.jsonl.JsonlSinkConfig`).
        webhook: an HTTP POST sink (:class:`~events.sinks.webhook.WebhookConfig`).
        mqtt: an MQTT sink (:class:`~events.sinks.mqtt.MqttConfig`).
        close_timeout_s: time the sinks get in all to flush their queues at stop.
        log_period_s: seconds of clock time between logs of the sink counters (0: never).
    """

    inputs: tuple[str, ...] = ("events/",)
    jsonl: JsonlSinkConfig | None = None
    webhook: WebhookConfig | None = None
    mqtt: MqttConfig | None = None
    close_timeout_s: float = 5.0
    log_period_s: float = 60.0

    def __post_init__(self) -> None:
        if self.jsonl is None and self.webhook is None and self.mqtt is None:
            raise ValueError("jsonl, webhook, mqtt: expected at least one sink")
        if not self.inputs or not all(isinstance(p, str) and p for p in self.inputs):
            raise ValueError(f"inputs: expected non-empty topic prefixes, got {list(self.inputs)}")
        if self.close_timeout_s < 0:
            raise ValueError(f"close_timeout_s: expected >= 0, got {self.close_timeout_s}")
        if self.log_period_s < 0:
            raise ValueError(f"log_period_s: expected >= 0, got {self.log_period_s}")


@dataclass
class EventSinkNodeStats:
    """Counters of an :class:`EventSinkNode` (totals since start).

    Attributes:
        events_in: events received on an input topic.
        ignored: messages that were not events on an input topic.
        sink_errors: exceptions raised by a sink's ``send`` (counted per sink name too).
        sinks: each sink's own :class:`SinkStats` (deliveries, failures, overflow...), by name.
    """

    events_in: int = 0
    ignored: int = 0
    sink_errors: dict[str, int] = field(default_factory=dict)
    sinks: dict[str, SinkStats] = field(default_factory=dict)


def make_sinks(config: EventSinkConfig) -> list[EventSink]:
    """The sinks of ``config``, in the order jsonl, webhook, mqtt (named so)."""
    sinks: list[EventSink] = []
    try:
        if config.jsonl is not None:
            sinks.append(JsonlEventSink(config.jsonl, name="jsonl"))
        if config.webhook is not None:
            sinks.append(WebhookSink(config.webhook, name="webhook"))
        if config.mqtt is not None:
            sinks.append(MqttSink(config.mqtt, name="mqtt"))
    except (SinkError, OSError, ValueError) as exc:
        for s in sinks:
            s.close(0.0)
        raise SinkError(f"event_sink: {exc}") from exc
    return sinks


class EventSinkNode(Processor):
    """Delivers every input ``Event`` to the configured sinks (see the module docstring)."""

    Config = EventSinkConfig

    def __init__(self, config: EventSinkConfig | None = None) -> None:
        super().__init__(config)
        self.stats = EventSinkNodeStats()
        self.sinks: list[EventSink] = []

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: EventSinkConfig = self.config
        self.sinks = make_sinks(cfg)
        self.stats.sinks = {s.name: s.stats for s in self.sinks}
        if cfg.log_period_s > 0:
            ctx.add_timer(cfg.log_period_s, self._log_stats)
        ctx.log.info("event sink: inputs %s, sinks %s", list(cfg.inputs), [s.name for s in self.sinks])

    def on_message(self, topic: str, msg: Message) -> None:
        if not isinstance(msg, Event) or not topic.startswith(self.config.inputs):
            self.stats.ignored += 1
            return
        self.stats.events_in += 1
        for sink in self.sinks:
            try:
                sink.send(msg)
            except Exception as exc:  # one sink's defect must not keep the event from the others
                n = self.stats.sink_errors[sink.name] = self.stats.sink_errors.get(sink.name, 0) + 1
                self.context.log.error("sink %s raised on %s seq %d (%d so far): %s: %s", sink.name, topic,
                                       msg.seq, n, type(exc).__name__, exc, exc_info=exc)

    def _log_stats(self, _now_ns: int = 0) -> None:
        for s in self.sinks:
            self.context.log.info("sink %s: %s", s.name, s.stats.as_dict())

    def stop(self) -> None:
        deadline = time.monotonic() + self.config.close_timeout_s
        for sink in self.sinks:
            sink.close(max(0.0, deadline - time.monotonic()))
        if self.ctx is not None:
            self._log_stats()
