"""The simulator ``plaza`` through the events node: every scripted anomaly, and nothing else.

    python -m bench.events_plaza [--scenario plaza|plaza_normal] [--duration SEC] [--seed N]
                                 [--tracks world|camera] [--scene configs/scenes/plaza.yaml] [--out DIR]

Runs ``SimSource`` (the scenario, images off) under ``LocalRunner`` and the scene's
:class:`~events.engine.EventEngine` (what the ``events`` node runs), in simulation order, on either

* ``--tracks world`` (default): the simulator's ground-truth world tracks (``gt/tracks/world``:
  x, y in metres, 10 Hz), or
* ``--tracks camera``: the cctv camera's simulated detections (noisy boxes, misses, false
  positives) tracked by ``fusion``'s 2D tracker (CONFIRMED tracks matched in each frame, as its
  node publishes them: pixel boxes, mapped to the ground by the scene's calibration). Tracker
  ids are then renamed to the ground-truth ids they cover most (IoU >= 0.5 with
  ``gt/camera/cctv/boxes``) before evaluation.

Writes the simulator's ``gt/events`` to ``DIR/gt.jsonl`` and the engine's events to
``DIR/events.jsonl`` (one JSON object per line, the JSONL sink's fields) and prints
``percept eval events`` on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from events.engine import EventEngine
from events.evaluate import evaluate_files, format_table
from events.geometry import BOX_FIELDS
from events.jsonl import event_to_json
from events.scene import load_scene
from fusion.lifecycle import reported, tracks_message
from fusion.tracker2d import Tracker2D, Tracker2DConfig
from percept.boxes import box_iou
from percept.messages import Detections2D, Event, Tracks
from percept.node import LocalRunner
from sensors.sim.source import SimSource, SimSourceConfig

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "configs" / "scenes" / "plaza.yaml"
TRACKS = {"world": "gt/tracks/world", "camera": "camera/cctv/detections"}
#: The simulated detector scores fully visible people about 0.9 and false positives 0.3-0.6.
TRACKER = Tracker2DConfig(track_high=0.5, new_track_thresh=0.6, track_low=0.1)


class _IdVotes:
    """Which ground-truth id each tracker id covers most (IoU >= 0.5 with the GT boxes)."""

    def __init__(self) -> None:
        self.gt: dict[int, Detections2D] = {}
        self.votes: dict[int, Counter[int]] = defaultdict(Counter)

    def add(self, tracks: Tracks) -> None:
        gt = self.gt.pop(tracks.stamp_ns, None)
        if gt is None or len(tracks) == 0 or len(gt.detections) == 0:
            return
        iou = box_iou(tracks.state[:, :4], gt.detections.xyxy)
        for i, j in enumerate(np.argmax(iou, axis=1)):
            if iou[i, j] >= 0.5:
                self.votes[int(tracks.track_id[i])][int(gt.detections.track_id[j])] += 1

    def rename(self, event: dict[str, Any]) -> dict[str, Any]:
        ids = [self.votes[t].most_common(1)[0][0] if self.votes.get(t) else -t for t in event["track_ids"]]
        return {**event, "track_ids": ids}


def _track(tracker: Tracker2D, dets: Detections2D) -> Tracks:
    """One frame of the 2D tracker, as its node would publish it (boxes only)."""
    tracker.update(dets.detections, dets.stamp_ns)
    tracks = reported(tracker.tracks)
    state = np.array([t.box for t in tracks], np.float32).reshape(-1, len(BOX_FIELDS))
    return tracks_message(tracks, state, BOX_FIELDS, stamp_ns=dets.stamp_ns, frame_id=dets.frame_id, seq=0,
                          class_names=dets.class_names)


def simulate(scenario: str = "plaza", duration_s: float | None = None, seed: int = 0,
             scene: Path | str = SCENE, tracks: str = "world",
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], EventEngine]:
    """``(ground-truth events, detected events, the engine)`` of one simulated run."""
    sim = SimSource(SimSourceConfig(scenario=scenario, seed=seed, duration_s=duration_s, images=False))
    src = LocalRunner(sim, "sim")
    engine = EventEngine(load_scene(scene))
    tracker, votes, camera = Tracker2D(TRACKER), _IdVotes(), tracks == "camera"
    gt: list[dict[str, Any]] = []
    detected: list[dict[str, Any]] = []
    while not sim.finished:
        src.advance_to(src.clock.now_ns() + 100_000_000)
        for topic, msg in src.outputs:
            if topic == "gt/events" and isinstance(msg, Event):
                gt.append(event_to_json(msg))
            elif camera and topic == "gt/camera/cctv/boxes" and isinstance(msg, Detections2D):
                votes.gt[msg.stamp_ns] = msg
            elif topic == TRACKS[tracks]:
                update = _track(tracker, msg) if isinstance(msg, Detections2D) else msg
                if isinstance(update, Tracks):
                    if camera:
                        votes.add(update)
                    detected += [event_to_json(e) for e in engine.update(update)]
        src.outputs.clear()
    return gt, [votes.rename(d) for d in detected] if camera else detected, engine


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="plaza")
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default: scenario's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tracks", choices=sorted(TRACKS), default="world",
                    help="ground-truth world tracks, or the camera's detections through the 2D tracker")
    ap.add_argument("--scene", default=str(SCENE))
    ap.add_argument("--out", default=".", help="folder for gt.jsonl and events.jsonl")
    args = ap.parse_args(argv)
    gt, detected, engine = simulate(args.scenario, args.duration, args.seed, args.scene, args.tracks)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "gt.jsonl", gt)
    write_jsonl(out / "events.jsonl", detected)
    print(f"{args.scenario} seed {args.seed}, {args.tracks} tracks: {len(gt)} ground-truth events, "
          f"{len(detected)} event messages, {engine.stats.updates} track updates")
    print(format_table(evaluate_files(out / "gt.jsonl", out / "events.jsonl")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
