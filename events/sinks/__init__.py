"""Event sinks: where :class:`~percept.messages.Event` messages go besides the bus.

* :mod:`events.jsonl` — a JSON-lines file (the one JSON form of an event lives there too),
* :mod:`events.sinks.webhook` — HTTP POST with retries, backoff and a bounded queue,
* :mod:`events.sinks.mqtt` — MQTT (paho-mqtt) in the topic style Frigate users know.

Every sink has the small interface of :class:`events.sinks.base.EventSink`; the ``event_sink``
node (:mod:`events.sink_node`) fans events out to the sinks of its config.
"""
