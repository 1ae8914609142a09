"""Fixtures of the events tests: a real mosquitto broker on 127.0.0.1 and a paho subscriber.

The broker runs from a config file in the test's tmp folder (an ephemeral port, persistence
off, anonymous clients). Without the ``mosquitto`` binary the MQTT tests skip with a reason;
with ``PERCEPT_REQUIRE_SERVICES=1`` (CI, ``make test``) they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """One mosquitto process on ``127.0.0.1:port``; :meth:`stop` and :meth:`start` keep the port."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.folder = folder
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             "max_queued_messages 100000\n"  # per client; the default 1000 drops bursts
                             "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n",
                             encoding="utf-8")
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto not listening on {self.port} after {timeout_s} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)
        self.proc = None


@pytest.fixture
def mosquitto(tmp_path):
    """A started :class:`Mosquitto` (skips, or fails with PERCEPT_REQUIRE_SERVICES=1, without it)."""
    binary = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)
    if binary is None:
        text = "mosquitto is not installed (apt-get install -y mosquitto; `make test` does it as root)"
        if os.environ.get("PERCEPT_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PERCEPT_REQUIRE_SERVICES=1 but {text}")
        pytest.skip(text)
    broker = Mosquitto(binary, tmp_path)
    broker.start()
    yield broker
    broker.stop()


class MqttSubscriber:
    """A paho client subscribed (QoS 1) to ``topics``; resubscribes after every reconnect.

    Attributes:
        messages: ``(topic, payload bytes, retained)`` in arrival order.
        subscribed: set after each successful SUBACK (clear it to wait for the next one).
    """

    def __init__(self, port: int, topics: tuple[str, ...] = ("percept/#",)) -> None:
        self.topics = topics
        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        self._cond = threading.Condition()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{uuid.uuid4().hex[:8]}",
                        clean_session=True)
        c.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        c.on_connect = lambda cl, _u, _f, rc, _p: rc.is_failure or cl.subscribe([(t, 1) for t in topics])
        c.on_subscribe = lambda _c, _u, _m, _rc, _p: self.subscribed.set()
        c.on_message = self._on_message
        c.connect_async("127.0.0.1", port)
        c.loop_start()
        self.client = c
        if not self.subscribed.wait(10.0):
            raise RuntimeError(f"test subscriber could not subscribe on port {port}")

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def wait_for(self, done: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Wait until ``done()`` holds (checked on every message) or the timeout; its last value."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not done() and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return done()

    def events(self, topic: str = "percept/events") -> list[dict[str, Any]]:
        """The decoded payloads received on the events topic."""
        with self._cond:
            return [json.loads(p) for t, p, _ in self.messages if t == topic]

    def last(self, topic: str) -> tuple[bytes, bool] | None:
        """The latest payload and retain flag received on ``topic``."""
        with self._cond:
            got = [(p, r) for t, p, r in self.messages if t == topic]
        return got[-1] if got else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber_factory():
    """Function ``(port, topics=...) -> MqttSubscriber``; all are closed at teardown."""
    made: list[MqttSubscriber] = []

    def make(port: int, topics: tuple[str, ...] = ("percept/#",)) -> MqttSubscriber:
        made.append(MqttSubscriber(port, topics))
        return made[-1]

    yield make
    for s in made:
        s.close()
