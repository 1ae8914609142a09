"""KITTI 3D multi-object-tracking evaluation: the KITTI tracking devkit as AB3DMOT applies it.

Inputs are KITTI tracking rows (:class:`~sensors.datasets.kitti_tracking.KittiBoxes`, float64; see
:mod:`fusion.kitti_results` for the files): per sequence the label rows (with ``DontCare``) and
the tracker rows of the evaluated class. Per class ``c`` (:data:`CLASSES`), pooled over sequences:

* Ground truth and tracker rows of ``c`` and of its neighbour (``Van`` for ``Car``,
  ``Person_sitting`` for ``Pedestrian``) with a track id other than -1 take part; other types
  (Truck, Tram, Misc, Person, ...) do not. :mod:`fusion.kitti_match` holds these rules' constants.
* Per frame, one-to-one matching on 3D IoU (KITTI boxes: bottom centre, ``h w l``, ``ry``;
  :func:`fusion.geometry3d.box_overlaps`): pairs with ``1 - IoU > 1 - iou_threshold`` are
  forbidden (0.25, AB3DMOT's 3D setting); the most pairs, then the least summed ``1 - IoU``.
* Ground truth occluded above 2, truncated above 0
  (devkit: int(truncation) > 0) or of the neighbour class is ignored: matched, it is no TP and its
  tracker box no FP; missed, no FN.
* An unmatched tracker box is ignored (no FP) when it is of the neighbour class, its 2D box is at
  most 25 px tall, or more than half of its 2D box lies in one DontCare box.
* Score threshold: each tracker box carries the mean score of its track over the sequence; a
  threshold keeps the tracks whose mean is at least it. Thresholds are read off the sorted scores
  of the boxes matched with all tracks kept, at recall steps 1/40, 2/40, ... (AB3DMOT):
  sMOTA = clip(1 - (FN + FP + IDSW - (1 - r) GT) / (r GT), 0, 1) at step r; sAMOTA, AMOTA and
  AMOTP are the sums over the steps divided by 40. MOTA, MOTP, IDSW, Frag, MT/PT/ML, FP, FN,
  IDF1 and HOTA are reported at the threshold of the best MOTA (all tracks if none is > 0).
* MOTA = 1 - (FN + FP + IDSW) / GT (GT: non-ignored boxes); MOTP the mean 3D IoU of all matched
  pairs; IDSW, Frag, MT/PT/ML follow the devkit's per-trajectory rules (a switch needs the
  trajectory's previous occurrence tracked and not ignored, unless it is the first).
* IDF1 and HOTA (:func:`fusion.mot_eval.hota_from_similarity`, 3D IoU similarity) are computed
  on the non-ignored ground truth and the counted tracker boxes (neither ignored nor matched to
  ignored ground truth); IDF1 matches identities (per sequence) one-to-one over the frames where
  a pair has IoU at least ``iou_threshold``, as motmetrics does. The devkit has neither.

``compat=True`` (default) keeps two numerical habits of AB3DMOT's ``evaluate.py`` so that numbers
reproduce it: each evaluation of the sweep replaces every box's score by its track mean and
averages again (float64, summed in frame order), so a track whose mean *is* the threshold can drift
just below it; and a tracker box matched at an earlier threshold is never ignored later.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from fusion.errors import TrackingError
from fusion.kitti_match import ClassData, Run, Sweep
from fusion.kitti_results import find_result_file, read_ground_truth, read_results
from fusion.mot_eval import HotaState, hota_from_similarity
from sensors.datasets.kitti_tracking import KittiBoxes

if TYPE_CHECKING:
    from percept.cliutil import ProgressCallback

#: 3D IoU threshold of a match (AB3DMOT's KITTI 3D MOT evaluation).
IOU_THRESHOLD = 0.25
#: Classes evaluated by default.
CLASSES: tuple[str, ...] = ("Car", "Pedestrian", "Cyclist")
#: Recall steps of sAMOTA / AMOTA / AMOTP (AB3DMOT: 41 points including recall 0).
RECALL_STEPS = 40
#: The devkit's "no threshold": every track kept.
ALL_TRACKS = -10000.0
#: Name of the row pooling all sequences of a class.
TOTAL = "all"
log = logging.getLogger(__name__)
_ID_SHIFT = np.int64(2**40)


@dataclass(frozen=True)
class ClassResult:
    """Metrics of one class on one sequence or :data:`TOTAL`; ratios in [0, 1] (MOTP a mean IoU).

    ``TP`` counts matches of non-ignored ground truth, ``IGN`` the matches of ignored ground truth
    (neither TP nor FP), ``GT`` the non-ignored ground-truth boxes, ``GT_IDs`` the trajectories with
    one (``MT + PT + ML``). A class without non-ignored ground truth gets MOTA ``-inf`` (as the
    devkit) and NaN ratios; MOTP is 0 without matches (devkit). ``threshold`` is the best-MOTA
    score threshold, ``recall_steps`` the number of recall steps the sweep reached (at most 40).
    """

    cls: str
    sequence: str
    sAMOTA: float
    AMOTA: float
    AMOTP: float
    MOTA: float
    MOTP: float
    IDF1: float
    HOTA: float
    DetA: float
    AssA: float
    IDSW: int
    Frag: int
    FP: int
    FN: int
    TP: int
    GT: int
    GT_IDs: int
    IGN: int
    MT: int
    PT: int
    ML: int
    threshold: float
    recall_steps: int

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def recall_thresholds(scores: np.ndarray, num_gt: int) -> tuple[list[float], list[float]]:
    """Score thresholds and their recall steps (AB3DMOT ``getThresholds``).

    Walking the scores of the matched boxes from high to low, box ``i`` has recall ``(i+1)/num_gt``;
    the score is taken for the current step (0, 1/40, 2/40, ... accumulated in float) unless box
    ``i+1`` lies nearer to it; the last score is always taken. The step-0 entry is dropped.
    """
    s = np.sort(np.asarray(scores, np.float64))[::-1]
    thresholds, recalls, target = [], [], 0.0
    for i, score in enumerate(s.tolist()):
        last = i == len(s) - 1
        here, after = (i + 1) / num_gt, (i + 2) / num_gt
        if not last and after - target < target - here:
            continue
        thresholds.append(score)
        recalls.append(target)
        target += 1.0 / RECALL_STEPS
    return thresholds[1:], recalls[1:]


def id_true_positives(g_key: np.ndarray, d_key: np.ndarray) -> int:
    """IDTP of IDF1 (Ristani et al. 2016): ``g_key``/``d_key`` (P,) the identities of the P pairs
    (one per frame) that may match; identities are matched one-to-one to maximise the pairs kept."""
    if not len(g_key):
        return 0
    gi, gk = np.unique(g_key, return_inverse=True)
    di, dk = np.unique(d_key, return_inverse=True)
    weight = np.zeros((len(gi), len(di)))
    np.add.at(weight, (gk.reshape(-1), dk.reshape(-1)), 1.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return int(weight[rows, cols].sum())


def _identity(data: ClassData, run: Run, iou_threshold: float) -> tuple[float, HotaState]:
    """IDF1 (identities per sequence) and HOTA sums on the counted rows of ``run``."""
    gt_use, det_use = ~data.gt_ign, run.counted
    max_cost = 1.0 - iou_threshold
    pair_g, pair_d, hota = [], [], hota_from_similarity([])
    for seq in range(data.n_seqs):
        g_rows = np.flatnonzero(gt_use & (data.gt_seq == seq))
        d_rows = np.flatnonzero(det_use & (data.det_seq == seq))
        keys = np.union1d(data.gt_key[g_rows], data.det_key[d_rows])
        g_split = np.split(g_rows, np.searchsorted(data.gt_key[g_rows], keys[1:]))
        d_split = np.split(d_rows, np.searchsorted(data.det_key[d_rows], keys[1:]))
        frames = []
        for g, d in zip(g_split, d_split, strict=True):
            cost = data.pair_cost(g, d)
            frames.append((data.gt_tid[g], data.det_tid[d], 1.0 - cost))
            r, c = np.nonzero(cost <= max_cost)
            pair_g.append(g[r])
            pair_d.append(d[c])
        hota = hota + hota_from_similarity(frames)
    g_all = np.concatenate(pair_g or [np.zeros(0, np.int64)])
    d_all = np.concatenate(pair_d or [np.zeros(0, np.int64)])
    idtp = id_true_positives(data.gt_seq[g_all] * _ID_SHIFT + data.gt_tid[g_all],
                             data.det_seq[d_all] * _ID_SHIFT + data.det_tid[d_all])
    n = int(gt_use.sum() + det_use.sum())
    return (2.0 * idtp / n if n else math.nan), hota


def _evaluate_class(cls: str, name: str, seqs: Sequence[tuple[KittiBoxes, KittiBoxes]], iou_threshold: float,
                    compat: bool) -> ClassResult:
    data = ClassData(cls, seqs, iou_threshold)
    sweep = Sweep(data, compat)
    base = sweep.run(ALL_TRACKS)
    num_gt = base.tp_all + base.fn  # the devkit's: matched (ignored ones too) + missed non-ignored
    thresholds, recalls = recall_thresholds(base.matched_scores, num_gt) if num_gt > 0 else ([], [])
    s_smota = s_mota = s_motp = 0.0
    best_mota, best_thr = 0.0, ALL_TRACKS
    for thr, recall in zip(thresholds, recalls, strict=True):
        r = sweep.run(thr)
        s_smota += r.smota(recall)
        s_mota += r.mota
        s_motp += r.motp
        if r.mota > best_mota:
            best_mota, best_thr = r.mota, thr
    best = sweep.run(best_thr)
    traj = data.trajectory_stats(best.gt_match)
    idf1, hota = _identity(data, best, iou_threshold)
    h = hota.scores()

    def ratio(v: float) -> float:  # undefined without ground truth
        return v if data.n_gt else math.nan

    return ClassResult(
        cls=cls, sequence=name, sAMOTA=ratio(s_smota / RECALL_STEPS), AMOTA=ratio(s_mota / RECALL_STEPS),
        AMOTP=ratio(s_motp / RECALL_STEPS), MOTA=best.mota, MOTP=best.motp, IDF1=ratio(idf1),
        HOTA=ratio(h["HOTA"]), DetA=ratio(h["DetA"]), AssA=ratio(h["AssA"]), IDSW=best.ids, Frag=traj["Frag"],
        FP=best.fp, FN=best.fn, TP=best.tp, GT=data.n_gt, GT_IDs=traj["MT"] + traj["PT"] + traj["ML"],
        IGN=best.tp_all - best.tp, MT=traj["MT"], PT=traj["PT"], ML=traj["ML"], threshold=best_thr,
        recall_steps=len(thresholds))


def evaluate(sequences: Mapping[str, tuple[KittiBoxes, Mapping[str, KittiBoxes]]],
             classes: Sequence[str] = CLASSES, iou_threshold: float = IOU_THRESHOLD, compat: bool = True,
             per_sequence: bool = False, progress: ProgressCallback | None = None) -> list[ClassResult]:
    """Evaluate ``{sequence name: (labels, {class: tracker rows})}`` (a class missing from a
    sequence's mapping: no output there).

    Returns per class in ``classes`` order (with ``per_sequence``, first one row per sequence, each
    with its own sweep) the :data:`TOTAL` row pooling all sequences. ``progress(done, total)`` is
    called after each row.
    """
    if not sequences:
        raise TrackingError("evaluate: no sequences given")
    if not 0.0 < iou_threshold <= 1.0:
        raise TrackingError(f"iou_threshold: expected in (0, 1], got {iou_threshold}")
    names = [str(n) for n in sequences]
    if TOTAL in names:
        raise TrackingError(f"sequence names must not be {TOTAL!r}, got {names}")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise TrackingError(f"unknown classes {unknown}; expected some of {CLASSES}")
    out: list[ClassResult] = []
    total = len(classes) * (1 + (len(names) if per_sequence else 0))
    for cls in classes:
        pairs = [(gt, res.get(cls, KittiBoxes.from_rows([], np.float64))) for gt, res in sequences.values()]
        jobs = [*zip(names, ([p] for p in pairs), strict=True)] if per_sequence else []
        for name, seq_pairs in [*jobs, (TOTAL, pairs)]:
            out.append(_evaluate_class(cls, name, seq_pairs, iou_threshold, compat))
            if progress is not None:
                progress(len(out), total)
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.2f}" if math.isfinite(v) else ("-inf" if v == -math.inf else "n/a")


def json_rows(results: Sequence[ClassResult]) -> list[dict[str, float | int | str | None]]:
    """``results`` as JSON-ready dicts (non-finite ratios, e.g. MOTA without ground truth, as None)."""
    def clean(v: float | int | str) -> float | int | str | None:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return [{k: clean(v) for k, v in r.as_dict().items()} for r in results]


TABLE_COLUMNS = ("sAMOTA", "AMOTA", "AMOTP", "MOTA", "MOTP", "IDF1", "HOTA", "IDSW", "FP", "FN", "GT")


def format_table(results: Sequence[ClassResult]) -> str:
    """Markdown table, one row per result (ratios in percent, the pooled rows in bold)."""
    lines = ["| class | sequence | " + " | ".join(TABLE_COLUMNS) + " |",
             "|---|---|" + "---:|" * len(TABLE_COLUMNS)]
    for r in results:
        values = [getattr(r, c) for c in TABLE_COLUMNS]
        cells = [str(v) if isinstance(v, int) else _pct(v) for v in values]
        seq = f"**{r.sequence}**" if r.sequence == TOTAL else r.sequence
        lines.append(f"| {r.cls} | {seq} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate_folders(gt: str | Path, res: str | Path, seqs: Sequence[str],
                     classes: Sequence[str] | None = None, iou_threshold: float = IOU_THRESHOLD,
                     compat: bool = True, per_sequence: bool = False,
                     progress: ProgressCallback | None = None) -> list[ClassResult]:
    """Evaluate the result folder ``res`` (:func:`fusion.kitti_results.find_result_file` layout) against
    the labels in ``gt`` (a KITTI tracking root or its ``label_02``) on sequences ``seqs`` (``"0001"``).

    ``classes`` None: those of :data:`CLASSES` with a result file. A class with result files for
    some sequences only is scored as empty output on the others (logged). ``progress(done,
    total)``: see :func:`evaluate` (the rows evaluated).
    """
    res_dir = Path(res)
    if not res_dir.is_dir():
        raise TrackingError(f"results {res_dir}: not a folder")
    if not seqs:
        raise TrackingError("evaluate_folders: no sequences given")
    files = {(c, s): find_result_file(res_dir, c, s) for c in (classes or CLASSES) for s in seqs}
    chosen = list(classes) if classes else [c for c in CLASSES if any(files[c, s] for s in seqs)]
    if not chosen:
        raise TrackingError(f"results {res_dir}: no result files for {CLASSES} and sequences {list(seqs)}")
    cache: dict[Path, KittiBoxes] = {}
    sequences = {}
    for s in seqs:
        labels, rows = read_ground_truth(gt, s), {}
        for c in chosen:
            path = files[c, s]
            if path is not None:
                rows[c] = cache[path] if path in cache else cache.setdefault(path, read_results(path))
        sequences[s] = (labels, rows)
    for c in chosen:
        missing = [s for s in seqs if files[c, s] is None]
        if len(missing) == len(seqs):
            raise TrackingError(f"results {res_dir}: no result file for class {c} "
                                f"(looked for {c}/<seq>.txt and <seq>.txt)")
        if missing:
            log.warning("%s: no result file for sequences %s; scored as empty output", c, ",".join(missing))
    return evaluate(sequences, chosen, iou_threshold, compat, per_sequence, progress)
