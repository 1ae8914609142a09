"""The simulator ``plaza`` through the events node: every scripted anomaly, and nothing else.

    python bench/events_plaza.py [--scenario plaza|plaza_normal] [--duration SEC] [--seed N]
                                 [--scene configs/scenes/plaza.yaml] [--out DIR]

Runs ``SimSource`` (the scenario, images off) and the ``events`` node (``events.node.EventsNode``)
under ``LocalRunner``, feeding the node the simulator's ground-truth world tracks
(``gt/tracks/world``: x, y in metres, 10 Hz), in simulation order. Writes the simulator's
``gt/events`` to ``DIR/gt.jsonl`` and the node's events to ``DIR/events.jsonl`` (one JSON object
per line, the JSONL sink's fields) and prints ``percept eval events`` on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from events.evaluate import evaluate_files, format_table
from events.node import EventsNode, EventsNodeConfig
from percept.messages import Event
from percept.node import LocalRunner
from sensors.sim.source import SimSource, SimSourceConfig

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "configs" / "scenes" / "plaza.yaml"
TRACKS = "gt/tracks/world"


def _event_json(e: Event) -> dict[str, Any]:
    """The JSONL sink's fields of ``e`` (snapshot left out)."""
    return {"stamp_ns": e.stamp_ns, "event_type": e.event_type, "track_ids": list(e.track_ids),
            "zone": e.zone, "severity": e.severity, "phase": e.phase, "event_id": e.event_id,
            "camera": e.camera, "evidence": dict(e.evidence), "text": e.text}


def simulate(scenario: str = "plaza", duration_s: float | None = None, seed: int = 0,
             scene: Path | str = SCENE) -> tuple[list[dict[str, Any]], list[dict[str, Any]], EventsNode]:
    """``(ground-truth events, detected events, the node)`` of one simulated run."""
    sim = SimSource(SimSourceConfig(scenario=scenario, seed=seed, duration_s=duration_s, images=False))
    src = LocalRunner(sim, "sim")
    node = EventsNode(EventsNodeConfig(scene=str(scene), tracks=(TRACKS,)))
    events = LocalRunner(node, "events", start_ns=src.clock.now_ns())
    gt: list[dict[str, Any]] = []
    detected: list[dict[str, Any]] = []
    while not sim.finished:
        src.advance_to(src.clock.now_ns() + 100_000_000)
        for topic, msg in src.outputs:
            if topic == "gt/events" and isinstance(msg, Event):
                gt.append(_event_json(msg))
            elif topic == TRACKS:
                detected += [_event_json(e) for _, e in events.feed(topic, msg) if isinstance(e, Event)]
        src.outputs.clear()
    return gt, detected, node


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="plaza")
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default: scenario's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scene", default=str(SCENE))
    ap.add_argument("--out", default=".", help="folder for gt.jsonl and events.jsonl")
    args = ap.parse_args(argv)
    gt, detected, node = simulate(args.scenario, args.duration, args.seed, args.scene)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "gt.jsonl", gt)
    write_jsonl(out / "events.jsonl", detected)
    print(f"{args.scenario} seed {args.seed}: {len(gt)} ground-truth events, {len(detected)} event messages, "
          f"{node.engine.stats.updates} track updates, {node.bad_messages} bad messages")
    print(format_table(evaluate_files(out / "gt.jsonl", out / "events.jsonl")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
