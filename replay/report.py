"""``percept report``: an HTML page of tracking metrics, latency histograms and an event timeline.

Tracking metrics are CLEAR-MOT (MOTA, MOTP, ID switches) and IDF1 of every ``Tracks`` topic
against a ground-truth topic, per class and over all classes, computed by the project's one
evaluation, :mod:`fusion.mot_eval` (motmetrics). Frames are keyed by ``stamp_ns`` and the
ground-truth frames are the ones scored: a ground-truth frame without a hypothesis message counts
all its objects missed, a hypothesis message at a stamp without ground truth is not scored.
Matching is by IoU >= ``iou_threshold`` for image boxes (``x1, y1, x2, y2`` pixels) or by
ground-plane distance <= ``dist_threshold_m`` for 3D tracks (``x, z`` in a camera frame, else
``x, y``; metres; MOTP is then the mean ``1 - d / dist_threshold_m``). Plots are matplotlib PNGs
embedded base64.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fusion.mot_eval import FrameObjects, MatchRule, evaluate_objects
from percept.codec import decode
from percept.errors import DecodeError
from percept.message import Message
from percept.messages import Detections2D, Event, NodeStats, Tracks
from replay.errors import LogError
from replay.importers import MOT_CLASSES
from replay.log import LogReader
from sensors.datasets.mot_format import read_mot_rows, read_seqinfo
from sensors.errors import SensorError

if TYPE_CHECKING:
    from percept.cliutil import ProgressCallback


@dataclass
class LogContents:
    """Decoded pieces of a log the report needs."""

    frames: dict[str, dict[int, FrameObjects]] = field(default_factory=dict)
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    stats: dict[str, list[NodeStats]] = field(default_factory=dict)
    events: list[tuple[float, str, Event]] = field(default_factory=list)
    schemas: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    first_ns: int | None = None
    decode_errors: int = 0


def objects_of(msg: Message) -> FrameObjects | None:
    """Ids, class names and geometry of a Tracks or Detections2D (with ``track_id``) message."""
    def names(ids: np.ndarray, table: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(table[c] if 0 <= c < len(table) else str(c) for c in ids.tolist())

    if isinstance(msg, Detections2D):
        d = msg.detections
        ids = d.track_id if d.track_id is not None else np.full(len(d), -1, np.int64)
        return FrameObjects(ids, names(d.class_id, msg.class_names), d.xyxy)
    if isinstance(msg, Tracks):
        f = msg.state_fields
        if all(k in f for k in ("x1", "y1", "x2", "y2")):
            cols = [f.index(k) for k in ("x1", "y1", "x2", "y2")]
        elif all(k in f for k in ("x", "z")) and msg.frame_id.startswith("camera"):
            cols = [f.index("x"), f.index("z")]
        elif all(k in f for k in ("x", "y")):
            cols = [f.index("x"), f.index("y")]
        else:
            return None
        return FrameObjects(msg.track_id, names(msg.class_id, msg.class_names), msg.state[:, cols])
    return None


def read_log(path: str | Path, object_topics: set[str], progress: ProgressCallback | None = None
             ) -> LogContents:
    """Decode what the report uses; ``object_topics`` are kept as per-frame objects.
    ``progress(seconds read, seconds)`` in log time, after each message."""
    out = LogContents()
    reader = LogReader(path)
    t0, t1 = reader.time_range_ns()
    for m in reader.messages():
        if progress is not None:
            progress((m.log_time_ns - t0) / 1e9, (t1 - t0) / 1e9)
        out.counts[m.topic] = out.counts.get(m.topic, 0) + 1
        try:
            _t, msg = decode(m.frames)
        except DecodeError:
            out.decode_errors += 1
            continue
        out.schemas[m.topic] = msg.SCHEMA
        if out.first_ns is None:
            out.first_ns = m.log_time_ns
        out.latency_ms.setdefault(m.topic, []).append((m.log_time_ns - msg.stamp_ns) / 1e6)
        if isinstance(msg, NodeStats):
            out.stats.setdefault(msg.node, []).append(msg)
        elif isinstance(msg, Event):
            out.events.append(((m.log_time_ns - out.first_ns) / 1e9, m.topic, msg))
        if m.topic in object_topics or isinstance(msg, Tracks):
            obj = objects_of(msg)
            if obj is not None:
                out.frames.setdefault(m.topic, {})[msg.stamp_ns] = obj
    return out


def read_mot_gt(path: Path, fps: float) -> dict[int, FrameObjects]:
    """A MOT ``gt.txt`` as frames keyed by ``(frame - 1) / fps`` in ns (class ``pedestrian``, the
    importer's name); rows not to be evaluated (flag 0) are dropped."""
    try:
        rows = read_mot_rows(path, "gt")
    except SensorError as exc:
        raise LogError(str(exc)) from exc
    return {round((f - 1) * 1e9 / fps): FrameObjects(r.track_id, MOT_CLASSES * len(r), r.xyxy)
            for f, r in rows.per_frame()}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def mot_rows(gt: dict[int, FrameObjects], hyp: dict[int, FrameObjects], iou: float,
             dist_m: float) -> list[list[Any]]:
    """One table row per class present in the ground truth, then ``all`` (classes not told apart):
    ``[class, MOTA %, IDF1 %, MOTP %, IDSW, FP, FN, GT, hyp]`` over the ground-truth frames."""
    rule = MatchRule(iou_threshold=iou, dist_threshold_m=dist_m)
    classes = sorted({c for f in gt.values() for c in f.classes})
    rows: list[list[Any]] = []
    for cls in [*classes, None]:
        m = evaluate_objects(gt, hyp, cls, rule, keys=sorted(gt))
        rows.append([cls or "all", 100 * m.MOTA, 100 * m.IDF1, 100 * m.MOTP, m.IDSW, m.FP, m.FN, m.GT,
                     m.TP + m.FP])
    return rows


def write_report(log_path: str | Path, gt: str, out: str | Path, *, tracks: Sequence[str] = (),
                 gt_topic: str | None = None, fps: float | None = None, iou_threshold: float = 0.5,
                 dist_threshold_m: float = 2.0, progress: ProgressCallback | None = None
                 ) -> dict[str, list[list[Any]]]:
    """Write the HTML report; return the metric rows per tracks topic.

    ``gt`` is a topic of the log, a MOT ``gt.txt`` (``fps`` or its sequence's seqinfo.ini), or
    another log (its ``gt_topic``, default its first topic starting with ``gt/``). ``progress``:
    see :func:`read_log` (the log, in log time).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gt_path = Path(gt)
    contents = read_log(log_path, {gt} | set(tracks), progress)
    if gt_path.is_file() and gt_path.suffix == ".txt":
        rate = fps or _seqinfo_fps(gt_path.parent.parent / "seqinfo.ini")
        gt_frames, gt_name = read_mot_gt(gt_path, rate), str(gt_path)
    elif gt_path.is_file():
        other = read_log(gt_path, set())
        if gt_topic is None:
            cands = sorted(t for t in other.frames if t.startswith("gt/"))
            if not cands:
                raise LogError(f"{gt_path}: no gt/ topic with objects; name one with gt_topic")
            gt_topic = cands[0]
        other = read_log(gt_path, {gt_topic})
        gt_frames, gt_name = other.frames.get(gt_topic, {}), f"{gt_path}:{gt_topic}"
    else:
        gt_frames, gt_name = contents.frames.get(gt, {}), gt
    if not gt_frames:
        raise LogError(f"{log_path}: ground truth {gt!r} has no frames with objects "
                       f"(topics: {sorted(contents.counts)})")
    hyp_topics = list(tracks) or sorted(t for t, s in contents.schemas.items()
                                        if s == Tracks.SCHEMA and t != gt and not t.startswith("gt/"))
    topic_rows = [[t, contents.schemas.get(t, "?"), n] for t, n in sorted(contents.counts.items())]
    parts = [f"<h1>percept report: {html.escape(str(log_path))}</h1>",
             "<h2>Topics</h2>", _table(["topic", "schema", "messages"], topic_rows)]
    results: dict[str, list[list[Any]]] = {}
    parts.append(f"<h2>Tracking vs {html.escape(gt_name)}</h2>")
    for topic in hyp_topics:
        rows = mot_rows(gt_frames, contents.frames.get(topic, {}), iou_threshold, dist_threshold_m)
        results[topic] = rows
        parts += [f"<h3>{html.escape(topic)}</h3>",
                  _table(["class", "MOTA %", "IDF1 %", "MOTP", "IDSW", "FP", "FN", "GT", "hyp"], rows)]
    if not hyp_topics:
        parts.append("<p>No Tracks topic in this log.</p>")
    parts.append("<h2>Latency</h2>")
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for topic, lat in sorted(contents.latency_ms.items()):
        if not topic.startswith("stats/"):
            ax.hist(lat, bins=40, alpha=0.5, label=topic)
    ax.set_xlabel("log time - stamp (ms)")
    ax.set_ylabel("messages")
    ax.set_title("per-topic latency (record time vs capture stamp)")
    ax.legend(fontsize=7)
    parts.append(f'<img alt="topic latency" src="{_png(fig)}">')
    lat_rows = [[t, float(np.percentile(v, 50)), float(np.percentile(v, 99)), float(np.max(v))]
                for t, v in sorted(contents.latency_ms.items())]
    parts.append(_table(["topic", "p50 ms", "p99 ms", "max ms"], lat_rows))
    if contents.stats:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        for node, st in sorted(contents.stats.items()):
            ax.hist([s.handler_p99_us / 1e3 for s in st], bins=30, alpha=0.5, label=node)
        ax.set_xlabel("handler p99 per stats period (ms)")
        ax.set_title("per-node handler latency (NodeStats)")
        ax.legend(fontsize=7)
        parts.append(f'<img alt="node latency" src="{_png(fig)}">')
        last = [(n, s[-1]) for n, s in sorted(contents.stats.items())]
        parts.append(_table(["node", "msgs in", "msgs out", "dropped", "handler errors", "p50 us", "p99 us"],
                            [[n, s.msgs_in, s.msgs_out, s.dropped, s.handler_errors, s.handler_p50_us,
                              s.handler_p99_us] for n, s in last]))
    parts.append("<h2>Events</h2>")
    if contents.events:
        types = sorted({e.event_type for _, _, e in contents.events})
        fig, ax = plt.subplots(figsize=(8, 0.5 + 0.4 * len(types)))
        colours = {"info": "tab:blue", "warning": "tab:orange", "critical": "tab:red"}
        ax.scatter([t for t, _, _ in contents.events],
                   [types.index(e.event_type) for _, _, e in contents.events],
                   c=[colours.get(e.severity, "k") for _, _, e in contents.events], marker="|", s=200)
        ax.set_yticks(range(len(types)), types)
        ax.set_xlabel("time since log start (s)")
        parts.append(f'<img alt="event timeline" src="{_png(fig)}">')
        parts.append(_table(["t s", "topic", "type", "severity", "tracks", "text"],
                            [[t, tp, e.event_type, e.severity, list(e.track_ids), e.text]
                             for t, tp, e in contents.events[:200]]))
    else:
        parts.append("<p>No events.</p>")
    style = "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;text-align:right}"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>percept report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    Path(out).write_text(page, encoding="utf-8")
    return results


def _seqinfo_fps(ini: Path) -> float:
    if not ini.is_file():
        raise LogError(f"{ini}: not found; give fps for a MOT gt.txt")
    try:
        return read_seqinfo(ini).frame_rate
    except SensorError as exc:
        raise LogError(str(exc)) from exc
