"""What every event sink shares: its counters, its interface, its config checks and the bounded retry
delay."""

from __future__ import annotations

import random
from typing import Protocol

from percept.counters import Counters, CounterValue
from percept.messages import Event


class SinkStats(Counters, ints="accepted delivered failed overflow retries connects disconnects "
                                "connect_failures"):
    """Counters of one sink, totals since it was made (events, not transport messages).

    Each counter has one writer (the caller's thread or the sink's worker thread), so reading
    them from another thread is safe; a snapshot is :meth:`as_dict`.

    Attributes:
        accepted: events handed to :meth:`EventSink.send`.
        delivered: events the destination confirmed: written and flushed (JSONL), answered 2xx
            (webhook), acknowledged by the broker with PUBACK (MQTT).
        failed: events given up on: a permanent error (webhook 4xx other than 408/429, a write
            error), attempts exhausted, or still undelivered when the sink closed.
        overflow: events dropped because the sink's bounded queue was full.
        retries: attempts after an event's first (webhook).
        connects: successful connections (MQTT; ``connects - 1`` are reconnects).
        disconnects: connections lost or refused after being up (MQTT).
        connect_failures: connection attempts that failed (MQTT).
    """

    @property
    def pending(self) -> int:
        """Events accepted but neither delivered, failed nor dropped yet (queued or in flight)."""
        return self.accepted - self.delivered - self.failed - self.overflow

    def as_dict(self) -> dict[str, CounterValue]:
        """A snapshot of the counters, ``pending`` included."""
        return {**super().as_dict(), "pending": self.pending}


class EventSink(Protocol):
    """A destination of events. ``send`` never blocks for long and never raises on a delivery
    problem: failures are counted in ``stats`` and logged; ``close`` flushes within a deadline."""

    name: str
    stats: SinkStats

    def send(self, event: Event) -> None:
        """Deliver ``event`` now or queue it for delivery."""
        ...

    def close(self, timeout_s: float) -> None:
        """Deliver what is queued within ``timeout_s`` seconds, then release every resource."""
        ...


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait before retry ``attempt`` (1 = the first retry): exponential with jitter.

    The nominal delay ``d = min(max_s, initial_s * 2 ** (attempt - 1))`` is jittered uniformly
    in ``[d / 2, d]`` ("equal jitter"), so concurrent senders spread out and no wait exceeds
    ``max_s``.
    """
    d = min(max_s, initial_s * 2.0 ** max(0, attempt - 1))
    return d / 2 + rng.uniform(0.0, d / 2)


def require_counts(config: object, *names: str) -> None:
    """``ValueError`` naming the first of the int fields ``names`` of ``config`` that is below 1."""
    for name in names:
        value = getattr(config, name)
        if value < 1:
            raise ValueError(f"{name}: expected >= 1, got {value}")


def require_backoff(config: object, initial: str, largest: str) -> None:
    """``ValueError`` unless the retry-wait fields ``initial`` (first wait, seconds) and ``largest``
    (longest wait) of ``config`` satisfy ``0 < initial <= largest``; see :func:`backoff_delay`."""
    lo, hi = getattr(config, initial), getattr(config, largest)
    if not 0 < lo <= hi:
        raise ValueError(f"{initial}, {largest}: expected 0 < {initial} <= {largest}, got {lo}, {hi}")
