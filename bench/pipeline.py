"""``percept bench pipeline``: per-stage latency of the ``percept watch`` graph at the source's real rate.

    percept bench pipeline --model M --source VIDEO [--frames N] [--scene scene.yaml]
                           [--with-outputs] [--json]

Runs :func:`replay.watch.run_watch` (camera -> detector -> tracker -> events -> sink, each its own
process over ZeroMQ) with the file played at its own frame rate -- looped until ``--frames`` frames
(default 100) have been played, so that a p99 means something on a short clip -- and reports, per
frame, the time from capture (the frame's ``stamp_ns``) to each stage, measured on the wall clock
at the sink:

* ``detector in``: the detector started on the frame (detections' arrival minus the detector's
  own ``latency_ns``: bus transit and queueing before inference);
* ``detections``: the detections arrived at the sink;
* ``tracks``: the tracks arrived at the sink (end to end);
* ``events``: an event raised on the frame arrived (only with ``--scene``, when any is raised);

with the detector's inference time (preprocess + inference + postprocess) and the overhead beyond
it, ``tracks - inference`` per frame, each as p50/p99 in ms (over every frame, the first
included; the first frame's end-to-end time is also reported on its own, ``first_frame_ms``).
The target: end-to-end p99 <= inference p99 + 10 ms. By default the sink writes no MCAP and no
video (their encoding competes for the CPU with the detector); ``--with-outputs`` measures with them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.tables import markdown_table
from percept.cliutil import out as _out
from percept.cliutil import positive_int

#: The overhead the pipeline may add to detector inference at p99, ms.
TARGET_OVERHEAD_MS = 10.0


def _pcts(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "n": 0}
    p50, p99 = (round(float(np.percentile(values, q)), 2) for q in (50, 99))
    return {"p50": p50, "p99": p99, "n": len(values)}


def stage_latencies(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Stage -> p50/p99 (ms since capture) of a watch run's ``watch.json`` (module docstring)."""
    stages = [s for s in report.get("stages", []) if "detections" in s]
    ms = 1e6
    det_in = [(s["detections"] - s["inference_ns"] - s["capture"]) / ms for s in stages]
    rows = {
        "detector in": det_in,
        "inference": [s["inference_ns"] / ms for s in stages],
        "detections": [(s["detections"] - s["capture"]) / ms for s in stages],
        "tracks": [(s["tracks"] - s["capture"]) / ms for s in stages if "tracks" in s],
        "events": [(arr - st) / ms for st, arr in report.get("events_timing", [])],
        "overhead": [(s["tracks"] - s["capture"] - s["inference_ns"]) / ms for s in stages if "tracks" in s],
    }
    return {k: _pcts(v) for k, v in rows.items()}


def run(model: str, source: str, scene: str = "", outputs: bool = False, frames: int = 100) -> dict[str, Any]:
    """Run the watch graph on ``source`` (looped up to ``frames`` frames) and return the stage table
    and the target check."""
    from replay.watch import WatchOptions, run_watch

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        result = run_watch(WatchOptions(source, Path(tmp), model=model, scene=scene, video=outputs,
                                        record=outputs, loop=True, max_frames=frames))
    stages = stage_latencies(result.report)
    first = next((s for s in result.report.get("stages", []) if "tracks" in s), None)
    e2e, inf = stages["tracks"]["p99"], stages["inference"]["p99"]
    return {"source": source, "model": Path(model).name, "outputs": outputs, "exit": result.code,
            "frames": result.report.get("frames", 0), "tracked": result.report.get("tracked", 0),
            "skipped": result.skipped(), "stages": stages,
            "first_frame_ms": None if first is None else round((first["tracks"] - first["capture"]) / 1e6,
                                                               2),
            "target_ms": TARGET_OVERHEAD_MS,
            "target_met": e2e is not None and inf is not None and e2e <= inf + TARGET_OVERHEAD_MS}


def format_result(r: dict[str, Any]) -> str:
    """The stage table of :func:`run` as markdown, with the target line."""
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    rows = [(name, ms(v["p50"]), ms(v["p99"]), v["n"]) for name, v in r["stages"].items()]
    head = f"{Path(r['source']).name}, {r['model']}: {r['tracked']}/{r['frames']} frames tracked, " \
           f"{r['skipped']} skipped, outputs {'on' if r['outputs'] else 'off'}; first frame end to end " \
           f"{ms(r['first_frame_ms'])} ms"
    verdict = "met" if r["target_met"] else "NOT met"
    return "\n".join([head, markdown_table(["stage (ms since capture)", "p50", "p99", "frames"], rows),
                      f"target end-to-end p99 <= inference p99 + {r['target_ms']:.0f} ms: {verdict}"])


def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    """``percept bench pipeline``: the table (or one JSON object with ``--json``)."""
    r = run(args.model, args.source, args.scene or "", args.with_outputs, args.frames)
    _out(json.dumps(r) if args.json else format_result(r))
    return 0 if r["exit"] == 0 else 1


def register(registry: Any) -> None:
    """Add ``bench pipeline`` to a :class:`percept.cli.CommandRegistry`."""
    b = registry.bench.add_parser("pipeline",
                                  help="per-stage latency of the watch graph at the source's rate")
    b.add_argument("--model", required=True, help="detector model file")
    b.add_argument("--source", required=True, help="video file (or image folder) played at its real rate")
    b.add_argument("--frames", type=positive_int, default=100, metavar="N",
                   help="frames to play, looping the clip as needed (default: 100)")
    b.add_argument("--scene", default=None, help="scene YAML: adds the events node (default: none)")
    b.add_argument("--with-outputs", action="store_true",
                   help="let the sink write the MCAP log and the video too (default: off)")
    b.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    b.set_defaults(func=cmd_bench_pipeline)
