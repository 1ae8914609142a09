"""Labelled moving objects of the shared View-of-Delft frames that the radar clusterer finds.

    .venv/bin/python bench/radar_objects.py [--config FILE.yaml] [--max-dist 2] [--json OUT]

Every radar frame of ``vod/radar/training`` is clustered by one ``RadarObjectClusterer`` (the
default configuration, or the ``RadarObjectsConfig`` mapping of ``--config``; nothing tuned per
frame). Labels are View-of-Delft's KITTI-format ones (camera frame), moved into the radar frame
with the radar's calibration. *Moving*: the annotation's activity is ``moving`` or ``pushed``.
Found: a ``moving`` cluster's centre within ``--max-dist`` of the label centre on the ground
plane. ``visible``: moving labels with a radar target inside the box (grown by 0.3 m);
``doppler``: labels whose targets there have a median compensated radial speed >= 0.3 m/s.
``false``: moving clusters in the camera's view more than ``--max-dist`` from every label. See
:mod:`perception.radar.evaluate`. Needs the shared data (``PERCEPT_DATA``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from bench.lidar_objects import report
from bench.tables import markdown_table
from percept.config import build, load_yaml
from percept.data import data_path
from perception.radar import RadarObjectClusterer, RadarObjectsConfig
from perception.radar.evaluate import MATCH_DIST_M, RadarFrameEval, evaluate_vod, total


def row(r: RadarFrameEval) -> dict:
    """One frame's figures as plain numbers."""
    return {"frame": r.sample, "moving": r.moving.labels, "moving_found": r.moving.found,
            "visible": r.visible.labels, "visible_found": r.visible.found, "doppler": r.doppler.labels,
            "doppler_found": r.doppler.found, "clusters_in_view": r.moving.detections,
            "false": r.moving.false, "ms": round(r.seconds * 1e3, 2)}


def table(rows: list[dict]) -> str:
    """Markdown table of :func:`row` rows."""
    header = ["frame", "moving found / labels", "radar-visible found / labels",
              "Doppler-moving found / labels", "false / moving clusters in view", "ms"]
    cells = ([r["frame"], f"{r['moving_found']} / {r['moving']}", f"{r['visible_found']} / {r['visible']}",
              f"{r['doppler_found']} / {r['doppler']}", f"{r['false']} / {r['clusters_in_view']}",
              f"{r['ms']:.1f}"] for r in rows)
    return markdown_table(header, cells)


def summary(t: dict) -> str:
    """One line on the ``total`` row ``t``: moving objects found, false clusters."""
    return (f"moving objects found {t['moving_found']} / {t['moving']} "
            f"({t['visible_found']} / {t['visible']} with radar targets); "
            f"false clusters {t['false']} of {t['clusters_in_view']} in view")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="YAML mapping of RadarObjectsConfig")
    p.add_argument("--max-dist", type=float, default=MATCH_DIST_M, help="match distance, metres")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the rows to OUT")
    args = p.parse_args(argv)
    data = load_yaml(args.config) if args.config else {}
    cfg = build(RadarObjectsConfig, data, str(args.config or "config"))
    results = evaluate_vod(RadarObjectClusterer(cfg), data_path("vod"), max_dist=args.max_dist)
    rows = [row(r) for r in [*results, total(results)]]
    report(f"radar objects on View-of-Delft, found: moving cluster within {args.max_dist:g} m (ground plane)",
           rows, table, summary, args.json, {"max_dist_m": args.max_dist, "config": dataclasses.asdict(cfg)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
