"""``percept bench`` subcommands (entry point ``bench.cli:register``, group ``percept.commands``).

    percept bench bus [--json] [--transports ipc tcp] [--repeat N] [--quick]
    percept bench detect --model M [--backend B] [--batch N] [--images DIR] [--runs N] [--threads T] [--json]
    percept bench track2d [--json] [--runs N] [--sequences DIR ...] [--trackers NAME ...]
    percept bench track3d [--json] [--seqs 0,1,...] [--config configs/trackers/kitti-fusion3d.yaml]

``percept`` creates the ``bench`` sub-parser; :func:`register` adds these four to it. The heavy
benchmark code (multiprocessing, onnxruntime, boxmot) is imported only when a subcommand runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.track2d import TRACKERS
from percept.cliutil import out as _out
from perception.config import BACKENDS


def cmd_bench_bus(args: argparse.Namespace) -> int:
    """``percept bench bus``: percept vs raw pyzmq vs pickle, ratios (or rows with ``--json``)."""
    from bench import bus_lib

    rows = bus_lib.run(tuple(args.transports), repeat=args.repeat, scale=0.1 if args.quick else 1.0,
                       progress=None if args.json else _out)
    if args.json:
        _out(json.dumps(bus_lib.rows_as_dicts(rows)))
    else:
        for r in bus_lib.ratios(rows):
            _out(f"percept vs raw_zmq  {r['transport']:4s} {r['payload_bytes']:>9d} B: "
                 f"throughput x{r['throughput_vs_raw']:.3f}  p99 x{r['p99_vs_raw']:.3f}")
    return 0


@contextlib.contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    """Send everything written to file descriptor 1 (by any library) to stderr while active."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def cmd_bench_detect(args: argparse.Namespace) -> int:
    """``percept bench detect``: percept vs raw onnxruntime vs ultralytics predict."""
    from bench import detect

    with _stdout_to_stderr(args.json):  # ultralytics prints to stdout; keep --json output clean
        report = detect.run(args.model, images=Path(args.images) if args.images else None,
                            batch=args.batch, runs=args.runs, warmup=args.warmup, threads=args.threads,
                            backend=args.backend, conf=args.conf, iou=args.iou,
                            progress=None if args.json else _out)
    if args.json:
        _out(json.dumps(report.as_rows()))
        return 0
    for row in report.rows:
        _out(f"{row.impl:16s} {Path(row.model).name:28s} batch {row.batch:2d}  p50 {row.p50_ms:8.2f} ms  "
             f"p99 {row.p99_ms:8.2f} ms  {row.fps:8.1f} fps" + detect.stage_text(row))
    for line in report.summary_lines():
        _out(line)
    return 0


def cmd_bench_track2d(args: argparse.Namespace) -> int:
    """``percept bench track2d``: tracker-only frames/s per tracker and sequence, ratios to ByteTrack."""
    from bench import track2d

    rows = track2d.run(args.sequences, trackers=args.trackers, runs=args.runs,
                       progress=None if args.json else _out)
    if args.json:
        _out(json.dumps([r.as_dict() for r in rows]))
        return 0
    _out(f"{'tracker':10s} {'sequence':16s} {'frames':>6s} {'fps':>10s}")
    for r in rows:
        _out(f"{r.tracker:10s} {r.sequence:16s} {r.frames:6d} {r.fps:10.1f}")
    tot = track2d.totals(rows)
    for name, fps in tot.items():
        ratio = f"  (x{fps / tot['bytetrack']:.2f} of bytetrack)" if "bytetrack" in tot else ""
        _out(f"{name:10s} {'ALL':16s} {'':6s} {fps:10.1f}{ratio}")
    return 0


def cmd_bench_track3d(args: argparse.Namespace) -> int:
    """``percept bench track3d``: fusion tracker frames/s on the shared KITTI sequences (ratio to
    AB3DMOT's) and the parked-car speed check."""
    from bench import track3d_fusion

    seqs = None if args.seqs is None else [int(s) for s in args.seqs.split(",") if s.strip()]
    rows = track3d_fusion.run(seqs, args.config)
    _out(json.dumps(rows) if args.json else "\n".join(track3d_fusion.format_rows(rows)))
    return 0


def _add_bus(bsub: Any) -> None:
    b = bsub.add_parser("bus", help="bus throughput and latency vs raw pyzmq and pickle")
    b.add_argument("--json", action="store_true", help="print rows as JSON")
    b.add_argument("--transports", nargs="+", default=["ipc", "tcp"], choices=["ipc", "tcp"],
                   help="transports to measure")
    b.add_argument("--repeat", type=int, default=5, metavar="N", help="interleaved repetitions (median)")
    b.add_argument("--quick", action="store_true", help="10x fewer messages")
    b.set_defaults(func=cmd_bench_bus)


def _add_detect(bsub: Any) -> None:
    b = bsub.add_parser("detect", help="detector latency vs raw onnxruntime and ultralytics")
    b.add_argument("--model", required=True, metavar="FILE",
                   help="ONNX model (or .engine/.pt with --backend)")
    b.add_argument("--backend", default="auto", choices=BACKENDS, help="percept's inference backend")
    b.add_argument("--batch", type=int, default=1, metavar="N", help="images per detector call")
    b.add_argument("--images", default=None, metavar="DIR",
                   help="image folder (default: the shared images folder)")
    b.add_argument("--runs", type=int, default=20, metavar="N", help="timed passes over the images")
    b.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed calls first")
    b.add_argument("--threads", type=int, default=1, metavar="N",
                   help="intra-op threads of every implementation")
    b.add_argument("--conf", type=float, default=0.25, help="minimum score")
    b.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.set_defaults(func=cmd_bench_detect)


def _add_track2d(bsub: Any) -> None:
    b = bsub.add_parser("track2d", help="2D tracker frames/s vs boxmot ByteTrack, OC-SORT, SORT")
    b.add_argument("--json", action="store_true", help="print rows as JSON")
    b.add_argument("--runs", type=int, default=5, metavar="N", help="passes over all sequences (median)")
    b.add_argument("--sequences", nargs="+", default=None, metavar="DIR",
                   help="MOT sequence folders (default: all shared mot15 sequences)")
    b.add_argument("--trackers", nargs="+", default=list(TRACKERS), choices=TRACKERS, help="trackers to time")
    b.set_defaults(func=cmd_bench_track2d)


def _add_track3d(bsub: Any) -> None:
    b = bsub.add_parser("track3d", help="fusion tracker frames/s on KITTI vs AB3DMOT, parked-car speed")
    b.add_argument("--json", action="store_true", help="print rows as JSON")
    b.add_argument("--seqs", default=None, help="comma-separated sequences (default: every labelled one)")
    b.add_argument("--config", default=None,
                   help="fusion tracker YAML (default configs/trackers/kitti-fusion3d.yaml)")
    b.set_defaults(func=cmd_bench_track3d)


def register(registry: Any) -> None:
    """Add ``bench bus``, ``bench detect``, ``bench track2d``, ``bench track3d`` and ``bench events``
    to a :class:`percept.cli.CommandRegistry`."""
    from bench import events as bench_events
    from bench import pipeline as bench_pipeline

    _add_bus(registry.bench)
    _add_detect(registry.bench)
    _add_track2d(registry.bench)
    _add_track3d(registry.bench)
    bench_events.register(registry)
    bench_pipeline.register(registry)
