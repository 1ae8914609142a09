"""``percept report``: CLEAR-MOT/IDF1 rows from fusion's evaluation, latency plots, event timeline."""

from __future__ import annotations

import argparse
import base64
import re
from pathlib import Path

import numpy as np
import pytest

from fusion.mot_eval import FrameObjects
from percept.codec import decode
from percept.messages import Event, NodeStats
from replay.importers import import_mot
from replay.log import LogReader, LogWriter
from replay.player_cli import register
from replay.report import mot_rows, write_report
from replay.rerun import rerun

GRAPH = Path(__file__).resolve().parents[2] / "configs" / "mot-track2d.yaml"


@pytest.fixture
def tracked(shared_data, tmp_path) -> Path:
    """TUD-Campus re-run through tracker2d (with the gt copied), plus node stats and events."""
    src = tmp_path / "tud.mcap"
    import_mot(shared_data("mot15", "TUD-Campus"), src)
    out = tmp_path / "tracked.mcap"
    rerun(src, GRAPH, out, with_inputs=True)
    final = tmp_path / "final.mcap"
    with LogWriter(final) as w:
        for m in LogReader(out).messages():
            w.write(m.topic, [bytes(f) for f in m.frames], m.log_time_ns + 3_000_000)  # 3 ms "latency"
        for k in range(3):
            t = k * 1_000_000_000
            w.write("stats/tracker", NodeStats(stamp_ns=t, frame_id="", seq=k, node="tracker", msgs_in=25 * k,
                                               handler_p50_us=80.0 + k, handler_p99_us=300.0 + 50 * k
                                               ).to_frames("stats/tracker"), t + 10_000)
        for k, (kind, sev) in enumerate([("intrusion", "warning"), ("loitering", "info"),
                                         ("intrusion", "critical")]):
            t = 500_000_000 * (k + 1)
            w.write("events/zone", Event(stamp_ns=t, frame_id="camera", seq=k, event_type=kind, severity=sev,
                                         track_ids=(k + 1,), text=f"event {k}").to_frames("events/zone"),
                    t + 1_000_000)
    return final


def _mot_file(path: Path, topic_frames: dict[int, FrameObjects], fps: float = 25.0) -> None:
    lines = []
    for stamp, f in sorted(topic_frames.items()):
        frame = round(stamp * fps / 1e9) + 1
        for tid, (x1, y1, x2, y2) in zip(f.ids.tolist(), f.geom.tolist(), strict=True):
            lines.append(f"{frame},{tid},{x1},{y1},{x2 - x1},{y2 - y1},1,-1,-1,-1")
    path.write_text("\n".join(lines) + "\n")


def test_report_metrics_match_motmetrics_and_html_has_plots(tracked, shared_data, tmp_path):
    out = tmp_path / "report.html"
    results = write_report(tracked, "gt/mot/boxes", out)
    rows = results["mot/tracks"]
    assert [r[0] for r in rows] == ["pedestrian", "all"]
    _cls, mota, idf1, _motp, idsw, fp, fn, n_gt, _n_hyp = rows[-1]
    assert n_gt == 359  # every gt box of TUD-Campus
    # independent check: the same tracks written as a MOT result file, scored by motmetrics
    from replay.report import read_log

    hyp = read_log(tracked, set()).frames["mot/tracks"]
    res = tmp_path / "res.txt"
    _mot_file(res, hyp)
    mot_eval = pytest.importorskip("fusion.mot_eval")
    mm = mot_eval.evaluate(shared_data("mot15", "TUD-Campus", "gt", "gt.txt"), res)
    print(f"report MOTA {mota:.2f} IDF1 {idf1:.2f} IDSW {idsw}; motmetrics MOTA {100 * mm['MOTA']:.2f} "
          f"IDF1 {100 * mm['IDF1']:.2f} IDSW {mm['IDSW']}")
    assert (fp, fn, idsw) == (mm["FP"], mm["FN"], mm["IDSW"])
    assert mota == pytest.approx(100 * mm["MOTA"], abs=1e-6)
    assert idf1 == pytest.approx(100 * mm["IDF1"], abs=1e-6)
    text = out.read_text()
    for needle in ("MOTA %", "IDF1 %", "mot/tracks", "intrusion", "loitering", "tracker", "p99 ms"):
        assert needle in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 3  # topic latency, node latency, event timeline
    png = base64.b64decode(images[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "latency.png").write_bytes(png)
    # latency table: every topic was logged 3 ms after its stamp
    assert re.search(r"<td>mot/tracks</td><td>3\.000</td><td>3\.000</td>", text)


def test_report_gt_from_mot_file_and_cli(tracked, shared_data, tmp_path, capsys):
    gt_txt = shared_data("mot15", "TUD-Campus", "gt", "gt.txt")
    a = write_report(tracked, "gt/mot/boxes", tmp_path / "a.html")
    b = write_report(tracked, str(gt_txt), tmp_path / "b.html")  # fps from seqinfo.ini
    assert [r[:3] for r in a["mot/tracks"]] == [r[:3] for r in b["mot/tracks"]]
    parser = argparse.ArgumentParser()
    register(argparse.Namespace(commands=parser.add_subparsers(dest="command"), bench=None))
    args = parser.parse_args(["report", str(tracked), "--gt", "gt/mot/boxes",
                              "--out", str(tmp_path / "c.html")])
    assert args.func(args) == 0
    assert "MOTA" in capsys.readouterr().out and (tmp_path / "c.html").stat().st_size > 10_000


def _frames(rows: list[list[tuple[int, float]]]) -> dict[int, FrameObjects]:
    """Frames of (id, x) boxes 10 px wide at stamps 0, 1, 2 ... ns."""
    return {t: FrameObjects(np.array([i for i, _ in r], np.int64), ("p",) * len(r),
                            np.array([[x, 0, x + 10, 10] for _, x in r], float).reshape(-1, 4))
            for t, r in enumerate(rows)}


def test_mot_rows_on_a_hand_made_case():
    gt = _frames([[(1, 0), (2, 50)]] * 4)
    # frame 0,1 correct; frame 2: hyp ids swap (2 switches); frame 3: one box missing, one false
    hyp = _frames([[(7, 0), (8, 50)], [(7, 1), (8, 51)], [(8, 0), (7, 50)], [(8, 0), (9, 200)]])
    hyp[99] = _frames([[(5, 500)]])[0]  # a stamp without ground truth is not scored
    rows = mot_rows(gt, hyp, iou=0.5, dist_m=2.0)
    assert [r[0] for r in rows] == ["p", "all"]
    _cls, mota, idf1, motp, idsw, fp, fn, n_gt, n_hyp = rows[0]
    assert (idsw, fp, fn, n_gt, n_hyp) == (2, 1, 1, 8, 8)
    assert mota == pytest.approx(100 * (1 - (1 + 1 + 2) / 8))
    # IDF1: best id mapping 1->7 (2 frames) + 2->8 (2 frames) = 4 of (8 gt + 8 hyp) / 2
    assert idf1 == pytest.approx(100 * 2 * 4 / 16)
    assert motp == pytest.approx(100 * (5 * 1.0 + 2 * 9 / 11) / 7)  # 2 boxes shifted by 1 px: IoU 9/11
    assert mot_rows(gt, gt, 0.5, 2.0)[1][1:3] == [100.0, 100.0]


def test_mot_rows_match_ground_plane_points_per_class():
    """3D tracks: ``x, z`` points within ``dist_m`` match; MOTP is the mean ``1 - d / dist_m`` (%)."""
    def pts(objs: list[tuple[int, str, float]]) -> FrameObjects:
        return FrameObjects([o[0] for o in objs], tuple(o[1] for o in objs), [[o[2], 10.0] for o in objs])

    gt = {t: pts([(1, "Car", 0.0), (2, "Pedestrian", 5.0)]) for t in range(3)}
    hyp = {t: pts([(11, "Car", 0.5), (12, "Pedestrian", 5.0 if t else 8.0)]) for t in range(3)}
    rows = {r[0]: r for r in mot_rows(gt, hyp, iou=0.5, dist_m=2.0)}
    assert list(rows) == ["Car", "Pedestrian", "all"]
    assert rows["Car"][1:] == [100.0, 100.0, pytest.approx(75.0), 0, 0, 0, 3, 3]
    assert rows["Pedestrian"][4:] == [0, 1, 1, 3, 3]  # 3 m away in the first frame: a miss and an FP
    assert rows["all"][4:] == [0, 1, 1, 6, 6]


def test_decoded_events_are_in_the_log(tracked):
    events = [decode(m.frames).msg for m in LogReader(tracked).messages(["events/"])]
    assert [e.event_type for e in events] == ["intrusion", "loitering", "intrusion"]
