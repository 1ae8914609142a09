"""Recall of the lidar object extractor on the shared KITTI object and View-of-Delft lidar samples.

    .venv/bin/python bench/lidar_objects.py [--max-range 30] [--config FILE.yaml]
        [--ground grid|ransac] [--cluster euclidean|dbscan] [--box lshape|min_area] [--json OUT]

Every sample (``kitti_object/training`` and ``vod/lidar/training``) is run through one
``LidarObjectExtractor`` -- the default configuration, or the ``LidarObjectsConfig`` mapping of
``--config`` with the ``--ground/--cluster/--box`` methods on top; nothing is tuned per sample.
A label is found when a detection's centre is within 1 m of its centre (3D, lidar frame; labels
moved from the camera frame with the sample's calibration), counting labels within
``--max-range`` (ground-plane distance). ``false``: detections in the camera's view and range
that are more than 1 m from every label (unlabelled objects count as false: bushes, parked
bicycles, poles). See :mod:`perception.lidar.evaluate`. Needs the shared data (``PERCEPT_DATA``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

from bench.tables import markdown_table
from percept.config import build, load_yaml
from percept.data import data_path
from perception.lidar import LidarObjectExtractor, LidarObjectsConfig
from perception.lidar.evaluate import LidarSampleEval, evaluate_roots, total


def config_from(args: argparse.Namespace) -> LidarObjectsConfig:
    """The configuration of a run: ``--config`` (or the defaults) with the method flags applied."""
    data = load_yaml(args.config) if args.config else {}
    cfg = build(LidarObjectsConfig, data, str(args.config or "config"))
    if args.ground:
        cfg = dataclasses.replace(cfg, ground=dataclasses.replace(cfg.ground, method=args.ground))
    if args.cluster:
        cfg = dataclasses.replace(cfg, cluster=dataclasses.replace(cfg.cluster, method=args.cluster))
    if args.box:
        cfg = dataclasses.replace(cfg, box=dataclasses.replace(cfg.box, method=args.box))
    return cfg


def row(r: LidarSampleEval) -> dict:
    """One sample's figures as plain numbers."""
    return {"sample": r.sample, "cars": r.target.labels, "cars_found": r.target.found,
            "cars_found_as_car": r.target_as_class.found, "objects": r.objects.labels,
            "objects_found": r.objects.found, "detections_in_view": r.objects.detections,
            "false": r.objects.false, "car_detections_in_view": r.target_as_class.detections,
            "false_cars": r.target_as_class.false, "ms": round(r.seconds * 1e3, 1)}


def table(rows: list[dict]) -> str:
    """Markdown table of :func:`row` rows."""
    header = ["sample", "Cars found (as Car) / Cars", "all labels found / labels",
              "false / detections in view", "false Cars / Car detections", "ms"]
    cells = ([r["sample"], f"{r['cars_found']} ({r['cars_found_as_car']}) / {r['cars']}",
              f"{r['objects_found']} / {r['objects']}", f"{r['false']} / {r['detections_in_view']}",
              f"{r['false_cars']} / {r['car_detections_in_view']}", f"{r['ms']:.0f}"] for r in rows)
    return markdown_table(header, cells)


def summary(t: dict) -> str:
    """One line on the ``total`` row ``t``: Car recall, all labels found, false detections."""
    recall = t["cars_found"] / t["cars"] if t["cars"] else float("nan")
    return (f"Car recall {recall:.2f} ({t['cars_found']} / {t['cars']}); all labels "
            f"{t['objects_found']} / {t['objects']}; false {t['false']} of {t['detections_in_view']} in view")


def report(title: str, rows: list[dict], table: Callable[[list[dict]], str], summary: Callable[[dict], str],
           json_out: Path | None, meta: dict[str, object]) -> None:
    """Print ``title``, ``table(rows)`` and ``summary(rows[-1])`` (the total row) of a bench run (this
    one and :mod:`bench.radar_objects`); with ``json_out`` also write ``{**meta, "rows": rows}`` there."""
    print(title)
    print(table(rows))
    print(summary(rows[-1]))
    if json_out:
        json_out.write_text(json.dumps({**meta, "rows": rows}, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-range", type=float, default=30.0, help="labels up to this distance count (m)")
    p.add_argument("--config", type=Path, help="YAML mapping of LidarObjectsConfig")
    p.add_argument("--ground", choices=["grid", "ransac"], help="ground removal method")
    p.add_argument("--cluster", choices=["euclidean", "dbscan"], help="clustering method")
    p.add_argument("--box", choices=["lshape", "min_area"], help="box fitting method")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the rows to OUT")
    args = p.parse_args(argv)
    cfg = config_from(args)
    roots = {"kitti": data_path("kitti_object", "training"), "vod": data_path("vod", "lidar", "training")}
    results = evaluate_roots(LidarObjectExtractor(cfg), roots, max_range=args.max_range)
    rows = [row(r) for r in [*results, total(results)]]
    title = (f"lidar objects, labels within {args.max_range:g} m, match: centre within 1 m; ground "
             f"{cfg.ground.method}, clustering {cfg.cluster.method}, boxes {cfg.box.method}")
    meta = {"max_range_m": args.max_range, "config": dataclasses.asdict(cfg)}
    report(title, rows, table, summary, args.json, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
