"""``percept record`` and ``percept log info|cat|export|recover`` (entry point group ``percept.commands``).

    percept record --graph NAME | --run-dir DIR | --endpoint EP... [--topics PATTERN...]
                   --out LOG.mcap [--compression zstd|lz4|none] [--rotate-mb N] [--rotate-s S]
    percept log info LOG
    percept log cat LOG --topic T [-n N] [--values]
    percept log export LOG --topic T --format images|video|mp4|mot|kitti --out PATH [--images T] [--trail N]
    percept log recover LOG --out FIXED
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from percept import cliutil
from percept.cliutil import out as _out
from percept.codec import decode
from percept.errors import DecodeError
from percept.introspect import message_values
from percept.message import Message
from percept.messages import Image, Tracks
from replay.errors import LogError
from replay.log import LogReader
from replay.recover import recover

log = logging.getLogger(__name__)


def _decoded(reader: LogReader, topic: str) -> Iterator[tuple[int, Message]]:
    """(log_time_ns, message) of ``topic`` (exact name); undecodable messages are logged and skipped."""
    for m in reader.messages([topic]):
        if m.topic != topic:
            continue
        try:
            yield m.log_time_ns, decode(m.frames).msg
        except DecodeError as exc:
            log.warning("%s: skipped an undecodable message on %s: %s", reader.path, topic, exc)


# -- record ----------------------------------------------------------------------------------
def cmd_record(args: argparse.Namespace) -> int:
    from replay.recorder import Recorder

    if args.endpoint:
        endpoints = list(args.endpoint)
    else:
        from percept.graph import Manifest, find_run_dir

        endpoints = Manifest.read(find_run_dir(args.run_dir, args.graph)).endpoints
    rec = Recorder(endpoints, args.topics or [], args.out, args.compression,
                   None if args.rotate_mb is None else int(args.rotate_mb * 1024 * 1024), args.rotate_s)
    if threading.current_thread() is threading.main_thread():  # handlers only work there
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: rec.stop())
    stats = rec.run(args.duration)
    log.info("recorded %d messages (%d topics) into %s", stats.messages, len(stats.per_topic),
             ", ".join(map(str, stats.files)) or "no file")
    return 0


# -- log info / cat --------------------------------------------------------------------------
def info_lines(path: str | Path) -> list[str]:
    """The ``log info`` table: one row per topic (schema, count, rate, time span)."""
    with LogReader(path) as reader:
        s = reader.summary()
    span = (s.end_ns - s.start_ns) / 1e9
    rows = [(t.topic, t.schema, t.count, t.rate_hz, t.first_ns, t.last_ns)
            for t in sorted(s.topics.values(), key=lambda t: t.topic)]
    return [f"{s.path}: {s.count} messages, {len(s.topics)} topics, {span:.3f} s "
            f"({s.start_ns} .. {s.end_ns} ns)",
            *cliutil.table(["topic", "schema", "count", "rate Hz", "first ns", "last ns"], rows, digits=2)]


def cat_lines(path: str | Path, topic: str, count: int | None = None, values: bool = False) -> Iterator[str]:
    """JSON lines ``{"topic", "log_time_ns", **Message.summary()}`` of topic prefix ``topic``;
    with ``values`` the message's contents (:func:`percept.introspect.message_values`: arrays as
    lists, big ones truncated) instead of the summary."""
    n = 0
    with LogReader(path) as reader:
        for m in reader.messages([topic]):
            if count is not None and n >= count:
                return
            try:
                msg = decode(m.frames).msg
                body: dict[str, Any] = message_values(msg) if values else msg.summary()
            except DecodeError as exc:
                body = {"error": str(exc)}
            n += 1
            yield json.dumps({"topic": m.topic, "log_time_ns": m.log_time_ns, **body}, default=str)


# -- export ----------------------------------------------------------------------------------
def export_images(reader: LogReader, topic: str, out: Path) -> int:
    """One file per Image (``NNNNNN_<stamp_ns>.jpg`` for JPEG data, else ``.png``) under folder ``out``."""
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for _t, msg in _decoded(reader, topic):
        if not isinstance(msg, Image):
            raise LogError(f"{reader.path}: topic {topic} holds {msg.SCHEMA}, not percept.Image")
        name = out / f"{n:06d}_{msg.stamp_ns}"
        if msg.encoding == "jpeg":
            name.with_suffix(".jpg").write_bytes(msg.data.tobytes())
        elif not cv2.imwrite(str(name.with_suffix(".png")), msg.to_bgr()):
            raise LogError(f"{name}.png: cannot write image")
        n += 1
    return n


def export_video(reader: LogReader, topic: str, out: Path) -> int:
    """An MP4 (mp4v) of the Images of ``topic``; frame rate from the median stamp interval."""
    import cv2

    from replay.video import frame_rate, open_writer

    frames = [(msg.stamp_ns, msg) for _t, msg in _decoded(reader, topic)]
    if not frames or not all(isinstance(m, Image) for _s, m in frames):
        raise LogError(f"{reader.path}: topic {topic} has no percept.Image messages to export")
    first = frames[0][1].to_bgr()
    h, w = first.shape[:2]
    vw = open_writer(out, frame_rate([s for s, _m in frames]), (w, h))
    try:
        for _s, msg in frames:
            bgr = msg.to_bgr()
            vw.write(bgr if bgr.shape[:2] == (h, w) else cv2.resize(bgr, (w, h)))
    finally:
        vw.release()
    return len(frames)


def _tracks(reader: LogReader, topic: str) -> list[Tracks]:
    msgs = [msg for _t, msg in _decoded(reader, topic)]
    bad = [m.SCHEMA for m in msgs if not isinstance(m, Tracks)]
    if bad:
        raise LogError(f"{reader.path}: topic {topic} holds {bad[0]}, expected percept.Tracks")
    if not msgs:
        raise LogError(f"{reader.path}: no messages on topic {topic}")
    return sorted(msgs, key=lambda m: m.stamp_ns)  # type: ignore[return-value]


def _frame_numbers(msgs: list[Tracks], base: int) -> list[int]:
    order = {s: i + base for i, s in enumerate(sorted({m.stamp_ns for m in msgs}))}
    return [order[m.stamp_ns] for m in msgs]


def mot_lines(msgs: list[Tracks], path: Path | str = "") -> list[str]:
    """MOTChallenge results ``frame,id,x,y,w,h,conf,-1,-1,-1``; frame = 1-based order of stamps."""
    from replay.foxglove import track_columns

    lines = []
    for frame, m in zip(_frame_numbers(msgs, 1), msgs, strict=True):
        boxes = track_columns(m, (("x1",), ("y1",), ("x2",), ("y2",)))
        if boxes is None:
            raise LogError(f"{path}: MOT export needs state fields x1, y1, x2, y2, "
                           f"got {list(m.state_fields)}")
        for tid, (x1, y1, x2, y2), conf in zip(m.track_id.tolist(), boxes.tolist(), m.confidence.tolist(),
                                               strict=True):
            lines.append(f"{frame},{tid},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{conf:.4f},-1,-1,-1")
    return lines


def kitti_lines(msgs: list[Tracks], path: Path | str = "") -> list[str]:
    """KITTI tracking results (0-based frame): ``frame id type 0 0 -10 -1 -1 -1 -1 h w l x y z ry score``.

    Needs state fields ``x, y, z``, a size (``l, w, h`` or ``length, width, height``) and a
    heading (``yaw``/``ry``/``heading``), taken as given (the message's frame, metres, radians).
    """
    from replay.foxglove import track_columns

    want = (("x",), ("y",), ("z",), ("l", "length"), ("w", "width"), ("h", "height"),
            ("yaw", "ry", "heading"))
    lines = []
    for frame, m in zip(_frame_numbers(msgs, 0), msgs, strict=True):
        cols = track_columns(m, want)
        if cols is None:
            raise LogError(f"{path}: KITTI export needs state fields x, y, z, l, w, h, yaw (or length, "
                           f"width, height, ry), got {list(m.state_fields)}")
        rows = zip(m.track_id.tolist(), m.class_id.tolist(), cols.tolist(), m.confidence.tolist(),
                   strict=True)
        for tid, cid, (x, y, z, ln, wd, ht, ry), conf in rows:
            kind = m.class_names[cid] if 0 <= cid < len(m.class_names) else f"class{cid}"
            lines.append(f"{frame} {tid} {kind.replace(' ', '_')} 0 0 -10 -1 -1 -1 -1 "
                         f"{ht:.3f} {wd:.3f} {ln:.3f} {x:.3f} {y:.3f} {z:.3f} {ry:.4f} {conf:.4f}")
    return lines


def export(path: str | Path, topic: str, fmt: str, out: str | Path, images: str | None = None,
           trail: int = 20) -> int:
    """Export ``topic`` of log ``path`` as ``fmt``; returns the number of items written.

    ``mp4`` of a Tracks topic draws the tracks on the frames of image topic ``images`` (default:
    found by :func:`replay.video.image_topic_for`) with ``trail``-frame trails; ``mp4`` of an
    Image topic is ``video``.
    """
    out = Path(out)
    if fmt == "mp4":
        from replay.video import IMAGE_SCHEMA, export_tracks_video

        with LogReader(path) as reader:
            info = reader.summary().topics.get(topic)
        if info is not None and info.schema == IMAGE_SCHEMA:
            fmt = "video"
        else:
            return export_tracks_video(path, topic, out, images, trail)
    with LogReader(path) as reader:
        if fmt == "images":
            return export_images(reader, topic, out)
        if fmt == "video":
            return export_video(reader, topic, out)
        msgs = _tracks(reader, topic)
    if fmt not in ("mot", "kitti"):
        raise LogError(f"export format: expected images, video, mp4, mot or kitti, got {fmt!r}")
    lines = mot_lines(msgs, path) if fmt == "mot" else kitti_lines(msgs, path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


# -- handlers --------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    for line in info_lines(args.log):
        _out(line)
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    for line in cat_lines(args.log, args.topic, args.count, args.values):
        _out(line)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    n = export(args.log, args.topic, args.format, args.out, args.images, args.trail)
    log.info("exported %d %s from %s to %s", n, "lines" if args.format in ("mot", "kitti") else "frames",
             args.topic, args.out)
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    rep = recover(args.log, args.out)
    views = f" (and {rep.views} Foxglove views)" if rep.views else ""
    _out(f"recovered {rep.messages} messages{views} from {rep.chunks_recovered} chunks into {args.out}; "
         f"{rep.chunks_bad} bad chunks, {rep.bytes_lost} bytes lost")
    for p in rep.problems:
        _out(f"  {p}")
    return 0


def register(registry: Any) -> None:
    """Add ``record`` and ``log`` to the ``percept`` command line."""
    r = registry.commands.add_parser("record", help="record bus topics to an MCAP log")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--graph", metavar="NAME", help="name of the running graph")
    src.add_argument("--run-dir", metavar="DIR", help="run folder of the running graph")
    src.add_argument("--endpoint", nargs="+", metavar="EP", help="publisher endpoints to record from")
    r.add_argument("--topics", nargs="+", default=None, metavar="PATTERN",
                   help="topic prefixes or glob patterns (default: all)")
    r.add_argument("--out", required=True, metavar="LOG", help="output MCAP log (LOG.mcap)")
    r.add_argument("--compression", choices=["zstd", "lz4", "none"], default="zstd", help="chunk compression")
    r.add_argument("--rotate-mb", type=float, default=None, metavar="N",
                   help="start a new file after N MiB of messages (default: one file)")
    r.add_argument("--rotate-s", type=float, default=None, metavar="S",
                   help="start a new file after S seconds (default: one file)")
    r.add_argument("--duration", type=float, default=None, metavar="SEC",
                   help="stop after SEC seconds (default: until Ctrl-C)")
    r.set_defaults(func=cmd_record)

    lg = registry.commands.add_parser("log", help="inspect, export and repair MCAP logs")
    sub = cliutil.add_commands(lg, "log_command")
    i = sub.add_parser("info", help="topics, schemas, counts, rates and time span")
    i.add_argument("log", help="MCAP log")
    i.set_defaults(func=cmd_info)
    c = sub.add_parser("cat", help="messages of a topic as JSON lines")
    c.add_argument("log", help="MCAP log")
    c.add_argument("--topic", required=True, help="topic or topic prefix")
    c.add_argument("-n", "--count", type=cliutil.positive_int, default=None, metavar="N",
                   help="stop after N messages (default: all)")
    c.add_argument("--values", action="store_true",
                   help="show array contents (as lists; big arrays truncated) instead of dtype and shape")
    c.set_defaults(func=cmd_cat)
    e = sub.add_parser("export", help="export a topic as images, video, MOT or KITTI results")
    e.add_argument("log", help="MCAP log")
    e.add_argument("--topic", required=True, help="topic to export (exact name)")
    e.add_argument("--format", required=True, choices=["images", "video", "mp4", "mot", "kitti"],
                   help="images: a folder of files; video: an MP4 of an image topic; mp4: the tracks of "
                        "TOPIC drawn on their camera frames; mot/kitti: tracking results")
    e.add_argument("--out", required=True, metavar="PATH", help="output folder (images) or file")
    e.add_argument("--images", default=None, metavar="TOPIC",
                   help="mp4: the image topic the tracks belong to (default: the log's only image topic, "
                        "or X/image for X/tracks)")
    e.add_argument("--trail", type=cliutil.positive_int, default=20, metavar="N",
                   help="mp4: frames of trail drawn behind each track")
    e.set_defaults(func=cmd_export)
    v = sub.add_parser("recover", help="rebuild an indexed log from a truncated or corrupt one")
    v.add_argument("log", help="damaged MCAP log")
    v.add_argument("--out", required=True, metavar="LOG", help="repaired MCAP log to write")
    v.set_defaults(func=cmd_recover)
