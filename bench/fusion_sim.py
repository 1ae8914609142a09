"""Fused lidar + radar + camera tracks on the simulator's highway, scored against its ground truth.

    python bench/fusion_sim.py [--duration 60] [--seed 0] [--max-range 100] [--json]

Everything runs in virtual time, without sockets, with the node configurations of
``configs/driving-fusion.yaml`` (the graph ``percept run`` starts):

1. the ``sim`` node (:class:`sensors.sim.source.SimSource`, scenario ``highway``) in a
   :class:`percept.node.LocalRunner`, stepped world step by world step; every message is kept with
   the simulation time it was published at (camera detections after their latency);
2. the ``lidar`` (``lidar_objects``) and ``radar`` (``radar_objects``) nodes on the clouds and
   scans as they are published; their objects are delivered at the same time;
3. per configuration -- lidar, radar, camera alone, lidar + radar, lidar + radar + camera -- a
   ``fusion`` node with that subset of the graph's inputs (a sensor alone starts tracks: its
   ``initiates`` is set) fed the same messages in publication order, its reorder buffer working
   on the virtual clock;
4. the world-frame tracks scored at every ground-truth stamp (``gt/tracks/world``, 10 Hz) with
   :func:`fusion.mot_eval.evaluate_frames` (class-agnostic, ground-plane centres, matched within
   2 m): MOTA, IDF1, FP, FN, ID switches; position and velocity RMSE (ground plane) over the CLEAR
   matches, and over the matches the lidar + radar + camera tracks share with the configuration
   (the same objects at the same stamps: a sensor that sees only the easy, near objects is not
   scored on the hard ones it misses). Evaluated: ground-truth objects within ``--max-range``
   metres of the ego, and the tracks there. The tracks at a ground-truth stamp are the latest
   published at or before it, moved to the stamp with their velocity. Also the ego-motion check:
   the speed estimate of the car parked on the shoulder while the ego drives (faster than 5 m/s).
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusion.mot_eval import FrameObjects, MatchRule, clear_accumulator_from, evaluate_frames, score_frames
from percept.config import build
from percept.graph import NodeConfig, load_graph
from percept.message import Message
from percept.messages import Tracks
from percept.node import LocalRunner, load_processor_class, make_processor

ROOT = Path(__file__).resolve().parent.parent
GRAPH = ROOT / "configs" / "driving-fusion.yaml"
#: The configurations compared: name -> sensors (fusion input names).
CONFIGS: dict[str, tuple[str, ...]] = {
    "lidar": ("lidar",), "radar": ("radar",), "camera": ("camera",),
    "lidar+radar": ("lidar", "radar"), "lidar+radar+camera": ("lidar", "radar", "camera"),
}
MATCH_M = 2.0
MAX_AGE_NS = 200_000_000  # tracks older than this at a ground-truth stamp are not used
PARKED = "shoulder"  # the highway's car stopped on the shoulder
FUSED = "lidar+radar+camera"


@dataclass
class Recording:
    """One simulated run: ``messages`` ``(publish time ns, topic, message)`` in publication order,
    ground truth per stamp (world tracks, ego state), the parked car's track id."""

    messages: list[tuple[int, str, Message]]
    gt: dict[int, Tracks]
    ego: dict[int, Tracks]
    parked_id: int


def _node(graph, name: str) -> NodeConfig:
    return next(n for n in graph.nodes if n.name == name)


def simulate(graph, duration_s: float, seed: int) -> Recording:
    """Steps 1-2: run the sim and the object extractors of ``graph``."""
    sim = _node(graph, "sim")
    src = make_processor(sim.type, {**sim.config, "duration_s": duration_s, "seed": seed}, "sim.config")
    runner = LocalRunner(src, "sim")
    extractors = [(n, LocalRunner(make_processor(n.type, n.config, f"{n.name}.config"), n.name))
                  for n in (_node(graph, "lidar"), _node(graph, "radar"))]
    messages: list[tuple[int, str, Message]] = []
    t, step = 0, src.world.step_ns
    while not src.finished:
        t += step
        done = len(runner.outputs)
        runner.advance_to(t)
        for topic, msg in runner.outputs[done:]:
            messages.append((t, topic, msg))
            for node, ex in extractors:
                if topic.startswith(tuple(node.subscribe)):
                    messages += [(t, out_topic, out) for out_topic, out in ex.feed(topic, msg, at_ns=t)]
    gt = {m.stamp_ns: m for _, topic, m in messages if topic == "gt/tracks/world"}
    ego = {m.stamp_ns: m for _, topic, m in messages if topic == "gt/ego"}
    parked = next(a.track_id for a in src.world.actors if a.name == PARKED)
    return Recording(messages, gt, ego, parked)


def run_fusion(graph, rec: Recording, sensors: tuple[str, ...]) -> list[Tracks]:
    """Step 3: the world-frame ``Tracks`` of a fusion node fed the inputs of ``sensors``."""
    node = _node(graph, "fusion")
    cls = load_processor_class(node.type)
    base = build(cls.Config, node.config, "fusion.config")
    tracker = base.tracker
    if len(sensors) == 1:  # a sensor alone starts tracks
        s = sensors[0]
        tracker = dataclasses.replace(tracker, sensors={
            **tracker.sensors, s: dataclasses.replace(tracker.for_sensor(s), initiates=True)})
    inputs = {topic: s for topic, s in base.inputs.items() if s in sensors}
    cfg = dataclasses.replace(base, tracker_file=None, tracker=tracker, inputs=inputs)
    runner = LocalRunner(cls(cfg), "fusion")
    wanted = {*inputs, cfg.pose_topic}
    for at, topic, msg in rec.messages:
        if topic in wanted:
            runner.feed(topic, msg, at_ns=at)
    runner.advance_to(rec.messages[-1][0] + 1_000_000_000)
    runner.close()
    return [m for topic, m in runner.outputs if topic == cfg.output_world]


def _frames(rec: Recording, tracks: list[Tracks], max_range: float):
    """Per ground-truth stamp: gt and hypothesis :class:`FrameObjects` (ground-plane centres) and
    their velocities, inside ``max_range`` of the ego."""
    stamps = [m.stamp_ns for m in tracks]
    gt, hyp, gt_v, hyp_v = {}, {}, {}, {}
    for t, g in sorted(rec.gt.items()):
        e = rec.ego[t].state[0, :2].astype(np.float64)
        near = np.linalg.norm(g.state[:, :2] - e, axis=1) <= max_range
        gt[t] = FrameObjects(g.track_id[near], ("object",) * int(near.sum()), g.state[near, :2])
        gt_v[t] = g.state[near, 3:5].astype(np.float64)
        k = bisect.bisect_right(stamps, t) - 1
        if k < 0 or t - stamps[k] > MAX_AGE_NS:
            hyp[t], hyp_v[t] = FrameObjects(np.zeros(0), (), np.zeros((0, 2))), np.zeros((0, 2))
            continue
        h = tracks[k]
        xy = h.state[:, :2].astype(np.float64) + h.state[:, 7:9] * (t - stamps[k]) * 1e-9
        keep = np.linalg.norm(xy - e, axis=1) <= max_range
        hyp[t] = FrameObjects(h.track_id[keep], ("object",) * int(keep.sum()), xy[keep])
        hyp_v[t] = h.state[keep, 7:9].astype(np.float64)
    return gt, hyp, gt_v, hyp_v


def score(rec: Recording, tracks: list[Tracks], max_range: float) -> tuple[dict, dict]:
    """Step 4: the metrics of one configuration (see the module docstring) and its matches:
    ``(stamp, ground-truth id) -> (position error (2,), velocity error (2,))``."""
    gt, hyp, gt_v, hyp_v = _frames(rec, tracks, max_range)
    keys = sorted(gt)
    frames = score_frames(gt, hyp, MatchRule(dist_threshold_m=MATCH_M), keys=keys)
    res = evaluate_frames([("highway", frames)])[0]
    ev = clear_accumulator_from(frames).mot_events
    errors, parked = {}, []
    for (n, _), row in ev[ev["Type"].isin(["MATCH", "SWITCH"])].iterrows():
        t = keys[n]
        i = int(np.flatnonzero(gt[t].ids == row["OId"])[0])
        j = int(np.flatnonzero(hyp[t].ids == row["HId"])[0])
        errors[(t, int(row["OId"]))] = (gt[t].geom[i] - hyp[t].geom[j], gt_v[t][i] - hyp_v[t][j])
        if row["OId"] == rec.parked_id and np.linalg.norm(rec.ego[t].state[0, 3:5]) > 5.0:
            parked.append(float(np.linalg.norm(hyp_v[t][j])))
    pos, vel = rmse(errors)
    return {"MOTA": res.MOTA, "IDF1": res.IDF1, "FP": res.FP, "FN": res.FN, "IDSW": res.IDSW,
            "GT": res.GT, "matches": len(errors), "pos_rmse_m": pos, "vel_rmse_mps": vel,
            "parked_speed_mps": float(np.mean(parked)) if parked else float("nan"),
            "parked_speed_max_mps": float(np.max(parked)) if parked else float("nan"),
            "parked_frames": len(parked)}, errors


def rmse(errors: dict, keys=None) -> tuple[float, float]:
    """Position and velocity RMSE (m, m/s) over the matches ``keys`` (default all) of ``errors``."""
    keys = list(errors) if keys is None else list(keys)
    if not keys:
        return float("nan"), float("nan")
    pos = np.array([errors[k][0] for k in keys])
    vel = np.array([errors[k][1] for k in keys])
    return float(np.sqrt(np.mean(np.sum(pos**2, axis=1)))), float(np.sqrt(np.mean(np.sum(vel**2, axis=1))))


def compare(rec: Recording, graph, max_range: float) -> dict[str, dict]:
    """Steps 3-4 for every configuration of :data:`CONFIGS`, with the shared-match RMSEs."""
    scored = {name: score(rec, run_fusion(graph, rec, sensors), max_range)
              for name, sensors in CONFIGS.items()}
    fused = scored[FUSED][1]
    rows = {}
    for name, (row, errors) in scored.items():
        common = sorted(set(errors) & set(fused))
        row["shared_matches"] = len(common)
        row["pos_rmse_shared_m"], row["vel_rmse_shared_mps"] = rmse(errors, common)
        row["fused_pos_rmse_shared_m"], row["fused_vel_rmse_shared_mps"] = rmse(fused, common)
        rows[name] = row
    return rows


def table(rows: dict[str, dict]) -> str:
    """Markdown table of :func:`compare` rows by configuration."""
    out = ["| sensors | MOTA % | IDF1 % | position RMSE m | velocity RMSE m/s | FP | FN | ID sw. "
           f"| shared matches | position / velocity RMSE there | {FUSED} there "
           "| parked car speed m/s (mean / max) |", "|---|" + "---:|" * 11]
    for name, r in rows.items():
        out.append(f"| {name} | {100 * r['MOTA']:.1f} | {100 * r['IDF1']:.1f} | {r['pos_rmse_m']:.2f} "
                   f"| {r['vel_rmse_mps']:.2f} | {r['FP']} | {r['FN']} | {r['IDSW']} | {r['shared_matches']} "
                   f"| {r['pos_rmse_shared_m']:.2f} / {r['vel_rmse_shared_mps']:.2f} "
                   f"| {r['fused_pos_rmse_shared_m']:.2f} / {r['fused_vel_rmse_shared_mps']:.2f} "
                   f"| {r['parked_speed_mps']:.2f} / {r['parked_speed_max_mps']:.2f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=None, help="simulated seconds (default: the scenario's)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed")
    p.add_argument("--max-range", type=float, default=100.0, help="evaluated distance from the ego (m)")
    p.add_argument("--graph", type=Path, default=GRAPH, help="graph file with the node configurations")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    graph = load_graph(args.graph)
    t0 = time.perf_counter()
    duration = args.duration if args.duration is not None else _scenario_duration(graph)
    rec = simulate(graph, duration, args.seed)
    t_sim = time.perf_counter() - t0
    rows = compare(rec, graph, args.max_range)
    seconds = {"simulation_and_extraction": round(t_sim, 1), "total": round(time.perf_counter() - t0, 1)}
    if args.json:
        print(json.dumps({"duration_s": duration, "seed": args.seed, "max_range_m": args.max_range,
                          "match_m": MATCH_M, "results": rows, "seconds": seconds}, indent=1))
    else:
        print(f"highway, seed {args.seed}, {duration:g} s simulated; ground truth within "
              f"{args.max_range:g} m of the ego, matched within {MATCH_M:g} m (world frame); "
              f"{seconds['total']:.0f} s")
        print(table(rows))
    return 0


def _scenario_duration(graph) -> float:
    from sensors.sim.scenario import load_scenario

    return load_scenario(_node(graph, "sim").config.get("scenario", "highway")).duration_s


if __name__ == "__main__":
    raise SystemExit(main())
