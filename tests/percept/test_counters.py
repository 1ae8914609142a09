"""The shared counter record: declaration, snapshot, reset, merge, equality."""

from __future__ import annotations

import pytest

from percept.counters import Counters


class _Stats(Counters, ints="frames dropped", floats="busy_s", maps="per_topic"):
    """A record with one counter of each kind."""


class _Sink(Counters, ints="accepted delivered"):
    """A record with a derived value."""

    @property
    def pending(self) -> int:
        return self.accepted - self.delivered

    def as_dict(self) -> dict:
        return {**super().as_dict(), "pending": self.pending}


def test_defaults_and_keyword_construction() -> None:
    s = _Stats(frames=3, per_topic={"a": 1})
    assert (s.frames, s.dropped, s.busy_s, s.per_topic) == (3, 0, 0.0, {"a": 1})
    assert isinstance(s.busy_s, float)
    assert _Stats.NAMES == ("frames", "dropped", "busy_s", "per_topic")


def test_unknown_counter_is_named() -> None:
    with pytest.raises(TypeError, match="no counter 'frame'"):
        _Stats(frame=1)


def test_as_dict_is_a_snapshot() -> None:
    s = _Stats(frames=2, per_topic={"a": 1})
    snap = s.as_dict()
    s.frames += 1
    s.per_topic["a"] += 1
    assert snap == {"frames": 2, "dropped": 0, "busy_s": 0.0, "per_topic": {"a": 1}}


def test_reset_zeroes_every_counter() -> None:
    s = _Stats(frames=2, dropped=1, busy_s=0.5, per_topic={"a": 1})
    s.reset()
    assert s == _Stats()


def test_merge_adds_counters_and_maps_key_by_key() -> None:
    a = _Stats(frames=2, busy_s=0.25, per_topic={"a": 1, "b": 2})
    b = _Stats(frames=3, dropped=1, busy_s=0.5, per_topic={"b": 3, "c": 4})
    assert a.merge(b) is a
    assert a == _Stats(frames=5, dropped=1, busy_s=0.75, per_topic={"a": 1, "b": 5, "c": 4})
    with pytest.raises(TypeError, match="expected a _Stats"):
        a.merge(_Sink())  # type: ignore[arg-type]


def test_equality_needs_the_same_type_and_repr_names_counters() -> None:
    assert _Sink(accepted=1) == _Sink(accepted=1)
    assert _Sink(accepted=1) != _Sink(accepted=2)
    assert _Sink(accepted=1) != _Stats(frames=1)
    assert repr(_Sink(accepted=1)) == "_Sink(accepted=1, delivered=0)"


def test_declaring_a_counter_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="declared twice: frames"):
        class _Twice(_Stats, ints="frames"):
            pass


def test_records_keep_their_derived_values() -> None:
    s = _Sink(accepted=5, delivered=2)
    assert s.pending == 3
    assert s.as_dict() == {"accepted": 5, "delivered": 2, "pending": 3}
