"""The JSON form of events, JSON-lines files, and the JSONL sink (flush, fsync, rotation)."""

from __future__ import annotations

import json
import math
import os

import pytest

from events.errors import EventsError, SinkError
from events.jsonl import (
    SNAPSHOT_KEY,
    JsonlEventSink,
    JsonlSinkConfig,
    event_from_json,
    event_json_line,
    event_to_json,
    read_events_jsonl,
)
from percept.messages import Event
from tests.events.eventfactory import make_event

KEYS = {"stamp_ns", "event_type", "track_ids", "zone", "severity", "phase", "event_id", "camera",
        "evidence", "text", "frame_id", "seq"}


def test_json_form_has_the_agreed_keys_and_values():
    e = make_event(3, phase="update", track_ids=(4, 9), snapshot=b"\xff\xd8jpeg")
    d = event_to_json(e)
    assert set(d) == KEYS
    assert d["phase"] == "update" and d["event_id"] == "cam1-intrusion-3" and d["camera"] == "cam1"
    assert d["track_ids"] == [4, 9] and d["severity"] == "warning" and d["stamp_ns"] == e.stamp_ns
    assert d["evidence"] == {"dwell_s": 4.5, "n": 3}
    with_snap = event_to_json(e, snapshot=True)
    assert set(with_snap) == KEYS | {SNAPSHOT_KEY}
    assert with_snap[SNAPSHOT_KEY] == "/9hqcGVn"  # base64 of the bytes
    assert SNAPSHOT_KEY not in event_to_json(make_event(3), snapshot=True)  # none: omitted


def test_v1_event_reads_as_a_start_without_id():
    gt = Event(stamp_ns=5, frame_id="world", event_type="loitering", track_ids=(2,), zone="z")
    d = event_to_json(gt)
    assert (d["phase"], d["event_id"], d["camera"]) == ("start", "", "")
    back = event_from_json(d)
    got = (back.stamp_ns, back.frame_id, back.event_type, back.track_ids, back.zone)
    assert got == (5, "world", "loitering", (2,), "z")


def test_round_trip_through_a_json_line_is_lossless_for_v1_fields():
    e = make_event(1, evidence={"speed": 3.25, "big": math.inf, "nan": math.nan, "ok": True, "s": "x"})
    line = event_json_line(e, snapshot=True)
    assert "Infinity" in line and "NaN" in line
    json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    back = event_from_json(json.loads(line))
    assert isinstance(back, Event)
    for name in ("stamp_ns", "frame_id", "seq", "event_type", "severity", "track_ids", "zone", "text"):
        assert getattr(back, name) == getattr(e, name)
    assert back.evidence["big"] == math.inf and math.isnan(back.evidence["nan"])
    assert back.evidence["ok"] is True and back.evidence["speed"] == 3.25


def test_round_trip_keeps_the_lifecycle_fields_and_snapshot():
    e = make_event(2, phase="end", snapshot=b"\xff\xd8\xff\xe0abc")
    back = event_from_json(json.loads(event_json_line(e, snapshot=True)))
    assert back == e


def test_minimal_json_decodes_with_defaults():
    e = event_from_json({"stamp_ns": 7, "event_type": "crowding"})
    assert (e.frame_id, e.seq, e.severity, e.track_ids, e.zone, e.evidence, e.text) == ("", 0, "info", (), "",
                                                                                         {}, "")


@pytest.mark.parametrize(("d", "key"), [
    ({"event_type": "x"}, "stamp_ns"),
    ({"stamp_ns": 1}, "event_type"),
    ({"stamp_ns": "1", "event_type": "x"}, "stamp_ns"),
    ({"stamp_ns": 1, "event_type": "x", "track_ids": [1, "2"]}, "track_ids"),
    ({"stamp_ns": 1, "event_type": "x", "severity": "panic"}, "severity"),
    ({"stamp_ns": 1, "event_type": "x", "evidence": {"a": [1]}}, "evidence"),
    ({"stamp_ns": 1, "event_type": "x", "phase": 3}, "phase"),
    ({"stamp_ns": True, "event_type": "x"}, "stamp_ns"),
])
def test_bad_json_names_the_key(d, key):
    with pytest.raises(EventsError, match=key):
        event_from_json(d)


def test_read_events_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "ev.jsonl"
    p.write_text(event_json_line(make_event(0)) + "\n\n" + '{"stamp_ns": 1}\n', encoding="utf-8")
    with pytest.raises(EventsError, match=r"ev\.jsonl:3: .*event_type"):
        read_events_jsonl(p)
    p.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(EventsError, match=r"ev\.jsonl:1: invalid JSON"):
        read_events_jsonl(p)
    with pytest.raises(EventsError, match="cannot read"):
        read_events_jsonl(tmp_path / "missing.jsonl")


def test_sink_appends_one_flushed_line_per_event(tmp_path):
    path = tmp_path / "out" / "events.jsonl"
    sink = JsonlEventSink(JsonlSinkConfig(path=str(path)))
    events = [make_event(i) for i in range(3)]
    for i, e in enumerate(events):
        sink.send(e)
        # flushed per event: another reader sees the line before close
        assert len(path.read_text(encoding="utf-8").splitlines()) == i + 1
    sink.close()
    got = read_events_jsonl(path)
    assert [event_to_json(g) for g in got] == [event_to_json(e) for e in events]
    assert (sink.stats.accepted, sink.stats.delivered, sink.stats.failed) == (3, 3, 0)
    again = JsonlEventSink(JsonlSinkConfig(path=str(path)))  # appends, never truncates
    again.send(events[0])
    again.close()
    assert len(read_events_jsonl(path)) == 4


def test_sink_reopens_a_rotated_or_removed_file(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = JsonlEventSink(JsonlSinkConfig(path=str(path)))
    sink.send(make_event(0))
    os.rename(path, tmp_path / "events.jsonl.1")  # logrotate-style
    sink.send(make_event(1))
    path.unlink()
    sink.send(make_event(2))
    sink.send(make_event(3))
    sink.close()
    assert [e.seq for e in read_events_jsonl(tmp_path / "events.jsonl.1")] == [0]
    assert [e.seq for e in read_events_jsonl(path)] == [2, 3]
    assert sink.stats.delivered == 4


def test_sink_snapshots_option_writes_base64(tmp_path):
    path = tmp_path / "e.jsonl"
    sink = JsonlEventSink(JsonlSinkConfig(path=str(path), snapshots=True))
    sink.send(make_event(0, snapshot=b"\xff\xd8\x00"))
    sink.close()
    assert json.loads(path.read_text(encoding="utf-8"))[SNAPSHOT_KEY] == "/9gA"


def test_write_error_is_counted_and_the_sink_goes_on(tmp_path):
    path = tmp_path / "e.jsonl"
    sink = JsonlEventSink(JsonlSinkConfig(path=str(path)))
    sink.send(make_event(0))
    path.unlink()
    path.mkdir()  # the path is now a folder: reopening fails
    sink.send(make_event(1))
    assert (sink.stats.delivered, sink.stats.failed) == (1, 1)
    path.rmdir()
    sink.send(make_event(2))
    sink.close()
    assert [e.seq for e in read_events_jsonl(path)] == [2]
    assert (sink.stats.delivered, sink.stats.failed) == (2, 1)


def test_unwritable_path_fails_at_start(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SinkError, match="cannot open"):
        JsonlEventSink(JsonlSinkConfig(path=str(tmp_path / "file" / "e.jsonl")))

