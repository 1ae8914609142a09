"""Frame-level ROC AUC of ``percept anomaly`` on UCSD Ped2 Test001-Test006, per video and pooled.

    .venv/bin/python bench/ped2_auc.py [--config configs/scenes/ucsd-ped2.yaml] [--videos Test001 ...]
                                       [--out DIR] [--json]

Every video runs through the same pipeline as ``percept anomaly`` (replay.pipeline: YOLOX-nano ->
2D trackers -> normal-motion score, ONE scene configuration for all videos), its ``scores.txt``
is written to ``--out`` (a temporary folder by default) and read back, and scored against the
shared labels with scikit-learn's ``roc_auc_score``. Prints the table (or JSON with --json) and
the wall time per frame.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from events.engine import EventEngine
from percept.data import data_path
from replay.ped2 import VIDEOS, auc_table, read_labels
from replay.pipeline import AnomalyPipeline, load_anomaly_scene, read_scores, write_scores

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "scenes" / "ucsd-ped2.yaml"


def run(config: Path, videos: tuple[str, ...], out: Path) -> dict[str, object]:
    """Score ``videos`` into ``out/<video>.txt``; the AUC table and timings as a dict."""
    scene = load_anomaly_scene(config)
    root = data_path("ucsd_ped2")
    labels, scores, frames, t0 = {}, {}, 0, time.perf_counter()
    for video in videos:
        engine = EventEngine(scene) if scene.rules else None  # as percept anomaly runs it
        pipeline = AnomalyPipeline(scene.anomaly, event_engine=engine)
        try:
            result = pipeline.run(root / "frames" / video)
        finally:
            pipeline.close()
        path = out / f"{video}.txt"
        write_scores(path, result.scores)
        scores[video] = read_scores(path)
        labels[video] = read_labels(root / "labels" / f"{video}.txt")
        frames += len(result.scores)
    wall = time.perf_counter() - t0
    table = auc_table(labels, scores)
    return {"config": str(config), "per_video": table.per_video, "pooled": table.pooled, "frames": frames,
            "wall_s": round(wall, 2), "ms_per_frame": round(1e3 * wall / max(frames, 1), 2),
            "table": table.lines()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="scene file")
    p.add_argument("--videos", nargs="+", default=list(VIDEOS), help="Ped2 test videos")
    p.add_argument("--out", type=Path, default=None, help="folder for the scores files")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        report = run(args.config, tuple(args.videos), out)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "table"}))
        return
    for line in report["table"]:  # type: ignore[attr-defined]
        print(line)
    print(f"{report['frames']} frames in {report['wall_s']} s ({report['ms_per_frame']} ms/frame)")


if __name__ == "__main__":
    sys.exit(main())
