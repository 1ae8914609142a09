"""End-of-run summaries: node files joined into per-(topic, consumer) counts."""

from __future__ import annotations

import pytest

from percept.errors import PerceptError
from percept.summary import NodeSummary, RunSummary, summary_path


def test_links_join_producers_and_consumers(tmp_path):
    camera = NodeSummary(node="camera", finished=True, published={"cam/img": 8})
    camera.write(summary_path(tmp_path, "camera"))
    NodeSummary(node="det", finished=True, received={"cam/img": 5}, published={"cam/det": 5},
                upstream_published={"camera": {"cam/img": 8}},
                counters={"superseded": 1, "bad_frames": 0}).write(summary_path(tmp_path, "det"))
    # the tracker's producer count comes from det's summary; the sink's from the end marker it got
    NodeSummary(node="trk", received={"cam/det": 5}, upstream_published={"det": {"cam/det": 5}},
                handler_errors=2).write(summary_path(tmp_path, "trk"))
    NodeSummary(node="sink", received={"cam/trk": 3}, upstream_published={"trk": {"cam/trk": 4},
                                                                         "other": {"x": 2}}
                ).write(summary_path(tmp_path, "sink"))
    run = RunSummary.collect(tmp_path, ["camera", "det", "trk", "sink", "ghost"])
    assert set(run.nodes) == {"camera", "det", "trk", "sink"}
    got = {(c.topic, c.producer, c.consumer): (c.published, c.received, c.skipped) for c in run.links}
    assert got == {("cam/img", "camera", "det"): (8, 5, 3), ("cam/det", "det", "trk"): (5, 5, 0),
                   ("cam/trk", "trk", "sink"): (4, 3, 1), ("x", "other", "sink"): (2, 0, 2)}
    assert run.link("cam/img", "det").skipped == 3 and run.link("cam/img", "sink") is None
    lines = run.lines()
    assert lines[0].split() == ["topic", "from", "to", "published", "received", "skipped"]
    assert lines[1].split() == ["cam/img", "camera", "det", "8", "5", "3"]
    assert "node det: ended, ready after 0.00 s; superseded 1" in lines
    assert "node trk: stopped, ready after 0.00 s; handler_errors 2" in lines
    assert run.as_dict()["links"][0]["skipped"] == 3


def test_a_broken_summary_file_is_named(tmp_path):
    path = summary_path(tmp_path, "bad")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(PerceptError, match=r"bad\.json: not a readable node summary"):
        NodeSummary.read(path)
