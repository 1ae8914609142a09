"""UCSD Ped2 frame-level evaluation: the shared labels and the ROC AUC of a ``scores.txt``.

Labels (``ucsd_ped2/labels/TestNNN.txt``): ``frame,anomalous`` lines, frames from 1, ``1`` where
the frame shows an anomaly (bikes, skaters, carts, lawn walkers), ``#`` comments. Frame N is
``frames/TestNNN/{N-1:03d}.jpg``. The AUC is scikit-learn's ``roc_auc_score`` (dev extra).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from percept.errors import ConfigError

VIDEOS = tuple(f"Test{n:03d}" for n in range(1, 7))


def read_labels(path: str | Path) -> np.ndarray:
    """int8 (N,) labels of a Ped2 label file (frame n at index n - 1); errors name file and line."""
    rows = []
    for k, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            frame, label = (int(v) for v in line.split(","))
        except ValueError:
            raise ConfigError(f"{path}:{k}: expected 'frame,0|1', got {line!r}") from None
        rows.append((frame, label))
    rows.sort()
    if [f for f, _ in rows] != list(range(1, len(rows) + 1)):
        raise ConfigError(f"{path}: frames must run 1..N without gaps")
    return np.array([lab for _, lab in rows], np.int8)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Frame-level ROC AUC of ``scores`` (N,) against 0/1 ``labels`` (N,) (scikit-learn)."""
    try:
        from sklearn.metrics import roc_auc_score
    except ImportError as exc:  # the dev extra brings it
        raise ConfigError("the Ped2 AUC needs scikit-learn (pip install -e '.[dev]')") from exc
    if len(labels) != len(scores):
        raise ConfigError(f"scores: expected {len(labels)} frames (as many as labels), got {len(scores)}")
    return float(roc_auc_score(labels, scores))


@dataclass(frozen=True)
class AucTable:
    """Per-video AUCs (video name -> AUC) and the AUC of all frames pooled."""

    per_video: dict[str, float]
    pooled: float

    def lines(self) -> list[str]:
        """The table as text lines."""
        out = [f"{'video':10s} {'AUC':>7s}"]
        out += [f"{v:10s} {a:7.4f}" for v, a in self.per_video.items()]
        out.append(f"{'pooled':10s} {self.pooled:7.4f}")
        return out


def auc_table(labels: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray]) -> AucTable:
    """AUC per video and pooled over the videos of ``scores`` (each needs its labels)."""
    per = {v: roc_auc(labels[v], scores[v]) for v in scores}
    pooled = roc_auc(np.concatenate([labels[v] for v in scores]), np.concatenate([scores[v] for v in scores]))
    return AucTable(per, pooled)
