"""KITTI-style 3D multi-object-tracking evaluation: CLEAR MOT, IDF1 and HOTA on 3D IoU, per class.

One frame's objects (ground truth or tracker output) are a :class:`FrameObjects`: ids, KITTI class
names and oriented 3D boxes (geometric centre, ``length, width, height``, yaw) in one frame, by
default the KITTI rectified camera frame (x right, y down, z forward; ``vertical="y"``). A
sequence is a mapping ``frame key (int frame index or stamp) -> FrameObjects``; keys present in
only one of ground truth / hypotheses still count (misses or false positives).

Per evaluated class ``c`` (:data:`CLASSES`) and frame:

1. Ground truth of class ``c`` plus its neighbouring classes (:data:`NEIGHBOURS`, as the KITTI
   tracking devkit: ``Van`` for ``Car``, ``Person_sitting`` for ``Pedestrian``) and hypotheses of
   class ``c`` are compared by 3D IoU (:func:`fusion.geometry3d.box_overlaps`).
2. As in the devkit, one Hungarian assignment over all those ground-truth objects (cost ``1 - IoU``,
   pairs with IoU < ``iou_threshold`` not allowed, as many matches as possible) decides which
   hypotheses cover an *ignored* object: a neighbouring-class object, or one flagged ``ignore``
   (e.g. truncated/occluded beyond a limit, see :func:`objects_from_tracks`). Those hypotheses and
   all ignored objects are dropped: neither TP, FP nor FN.
3. The remaining ground truth and hypotheses are scored: CLEAR MOT and identity metrics with
   ``motmetrics`` (distance ``1 - IoU``, matchable only when IoU >= ``iou_threshold``, default
   0.25 as AB3DMOT's KITTI 3D MOT evaluation), HOTA/DetA/AssA with
   :func:`fusion.mot_eval.hota_from_similarity` on 3D IoU (alpha 0.05 .. 0.95, as TrackEval).

Differences to the KITTI devkit: no ``DontCare`` regions (the KITTI loader drops them, so a
hypothesis inside a DontCare region is a false positive here) and no minimum 2D box height.
MOTP is the mean 3D IoU of matched pairs (higher is better).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fusion.errors import TrackingError
from fusion.geometry3d import box_overlaps
from fusion.mot_eval import _MM_METRICS, HotaState, _import_motmetrics, hota_from_similarity
from percept.messages import Tracks

#: IoU threshold of the CLEAR/identity matching (AB3DMOT's KITTI 3D MOT evaluation).
IOU_THRESHOLD = 0.25
#: Classes evaluated by default.
CLASSES: tuple[str, ...] = ("Car", "Pedestrian", "Cyclist")
#: Ground-truth classes ignored when evaluating a class (KITTI devkit neighbouring-class rule).
NEIGHBOURS: Mapping[str, tuple[str, ...]] = {"Car": ("Van",), "Pedestrian": ("Person_sitting",)}
#: Name of the row combining all sequences of a class.
TOTAL = "TOTAL"
_NO_MATCH = 1e9
_SIZE_FIELDS = (("length", "l"), ("width", "w"), ("height", "h"))


@dataclass(frozen=True, eq=False)
class FrameObjects:
    """N objects of one frame.

    Attributes:
        ids: int64 (N,) track / object ids (unique within a sequence's ground truth or hypotheses).
        classes: N class names (KITTI names: ``Car``, ``Van``, ``Pedestrian``, ...).
        centre: float64 (N, 3) geometric box centre, metres.
        size: float64 (N, 3) length (along the heading), width, height, metres.
        yaw: float64 (N,) heading, radians (KITTI ``rotation_y`` in the camera frame).
        ignore: bool (N,) ground truth that is neither required nor counted (see module docstring);
            all False when not given. Ignored for hypotheses.
    """

    ids: np.ndarray
    classes: tuple[str, ...]
    centre: np.ndarray
    size: np.ndarray
    yaw: np.ndarray
    ignore: np.ndarray | None = None

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids).reshape(-1).astype(np.int64)
        n = len(ids)
        arrays = {"ids": ids, "centre": np.asarray(self.centre, np.float64),
                  "size": np.asarray(self.size, np.float64), "yaw": np.asarray(self.yaw, np.float64),
                  "ignore": np.zeros(n, bool) if self.ignore is None else np.asarray(self.ignore, bool)}
        for name, shape in (("centre", (n, 3)), ("size", (n, 3)), ("yaw", (n,)), ("ignore", (n,))):
            if arrays[name].shape != shape:
                raise TrackingError(f"FrameObjects.{name}: expected shape {shape} for {n} ids, "
                                    f"got {arrays[name].shape}")
        if len(self.classes) != n:
            raise TrackingError(f"FrameObjects.classes: expected {n} names, got {len(self.classes)}")
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> FrameObjects:
        """No objects."""
        return cls(np.zeros(0, np.int64), (), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))

    def select(self, mask: np.ndarray) -> FrameObjects:
        """The rows where boolean ``mask`` (N,) is True."""
        idx = np.flatnonzero(mask)
        return FrameObjects(self.ids[idx], tuple(self.classes[i] for i in idx), self.centre[idx],
                            self.size[idx], self.yaw[idx], self.ignore[idx])

    def class_mask(self, names: Iterable[str]) -> np.ndarray:
        """bool (N,): rows whose class is one of ``names``."""
        wanted = set(names)
        return np.fromiter((c in wanted for c in self.classes), bool, len(self))


def _column(fields: tuple[str, ...], names: Sequence[str]) -> int | None:
    for name in names:
        if name in fields:
            return fields.index(name)
    return None


def objects_from_tracks(tracks: Tracks, max_truncation: float | None = None,
                        max_occlusion: float | None = None) -> FrameObjects:
    """A :class:`FrameObjects` from a :class:`~percept.messages.Tracks` message.

    State columns are found by name: ``x, y, z`` (geometric centre), ``length``/``l``,
    ``width``/``w``, ``height``/``h`` and ``yaw``; class names come from ``tracks.class_names``.
    Objects whose ``truncated`` column exceeds ``max_truncation`` or ``occluded`` column exceeds
    ``max_occlusion`` are flagged ``ignore`` (ground truth only; None: no limit).
    """
    fields = tuple(tracks.state_fields)
    cols = [_column(fields, (n,)) for n in ("x", "y", "z")]
    cols += [_column(fields, names) for names in _SIZE_FIELDS] + [_column(fields, ("yaw",))]
    wanted = ["x", "y", "z", *("/".join(n) for n in _SIZE_FIELDS), "yaw"]
    missing = [w for w, c in zip(wanted, cols, strict=True) if c is None]
    if missing:
        raise TrackingError(f"Tracks ({tracks.frame_id}, seq {tracks.seq}): state_fields {fields} "
                            f"lack {missing}")
    state = np.asarray(tracks.state, np.float64)
    cls_id = np.asarray(tracks.class_id, np.int64)
    names = tracks.class_names
    bad = (cls_id < 0) | (cls_id >= len(names))
    if bad.any():
        raise TrackingError(f"Tracks ({tracks.frame_id}, seq {tracks.seq}): class_id {int(cls_id[bad][0])} "
                            f"outside class_names {names}")
    ignore = np.zeros(len(cls_id), bool)
    for limit, column in ((max_truncation, "truncated"), (max_occlusion, "occluded")):
        if limit is None:
            continue
        if column not in fields:
            raise TrackingError(f"Tracks ({tracks.frame_id}, seq {tracks.seq}): a limit on {column!r} "
                                f"needs that state column, state_fields are {fields}")
        ignore |= state[:, fields.index(column)] > limit
    return FrameObjects(ids=np.asarray(tracks.track_id, np.int64), classes=tuple(names[i] for i in cls_id),
                        centre=state[:, cols[0:3]], size=state[:, cols[3:6]], yaw=state[:, cols[6]],
                        ignore=ignore)


@dataclass(frozen=True)
class ClassResult:
    """Metrics of one class on one sequence (or :data:`TOTAL`); ratios in [0, 1], MOTP a mean IoU.

    ``IGN`` counts hypotheses dropped for covering ignored ground truth.
    """

    cls: str
    sequence: str
    HOTA: float
    DetA: float
    AssA: float
    MOTA: float
    MOTP: float
    IDF1: float
    IDSW: int
    FP: int
    FN: int
    TP: int
    GT: int
    GT_IDs: int
    MT: int
    ML: int
    Frag: int
    IGN: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iou(gt: FrameObjects, hyp: FrameObjects, vertical: str) -> np.ndarray:
    if not len(gt) or not len(hyp):
        return np.zeros((len(gt), len(hyp)))
    # ground-plane centres farther apart than the two largest half-diagonals cannot overlap
    reach = sum(float(np.hypot(b.size[:, 0], b.size[:, 1]).max()) / 2 for b in (gt, hyp))
    return box_overlaps((gt.centre, gt.size, gt.yaw), (hyp.centre, hyp.size, hyp.yaw), vertical,
                        max_dist=reach + 1e-6)


def class_frames(gt: Mapping[int, FrameObjects], hyp: Mapping[int, FrameObjects], cls: str,
                 iou_threshold: float = IOU_THRESHOLD, vertical: str = "y"
                 ) -> tuple[list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], int]:
    """Per frame (sorted keys) ``(key, gt_ids (K,), hyp_ids (M,), iou (K, M))`` of class ``cls``
    after removing ignored ground truth and the hypotheses matched to it; and how many
    hypotheses were removed."""
    from scipy.optimize import linear_sum_assignment

    gt_classes = (cls, *NEIGHBOURS.get(cls, ()))
    out, n_ignored = [], 0
    empty = FrameObjects.empty()
    for key in sorted(set(gt) | set(hyp)):
        g = gt.get(key, empty)
        g = g.select(g.class_mask(gt_classes))
        h = hyp.get(key, empty)
        h = h.select(h.class_mask((cls,)))
        iou = _iou(g, h, vertical)
        care = g.class_mask((cls,)) & ~g.ignore
        keep = np.ones(len(h), bool)
        if len(h) and not care.all():
            cost = np.where(iou >= iou_threshold, 1.0 - iou, _NO_MATCH)
            rows, cols = linear_sum_assignment(cost)
            on_ignored = (cost[rows, cols] < _NO_MATCH) & ~care[rows]
            keep[cols[on_ignored]] = False
            n_ignored += int(on_ignored.sum())
        out.append((key, g.ids[care], h.ids[keep], iou[np.ix_(care, keep)]))
    return out, n_ignored


def _accumulator(frames: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], iou_threshold: float) -> Any:
    mm = _import_motmetrics()
    acc = mm.MOTAccumulator(auto_id=False)
    for n, (_, g_ids, h_ids, iou) in enumerate(frames):
        dist = 1.0 - iou
        dist[iou < iou_threshold] = np.nan  # motmetrics: NaN = not matchable
        acc.update(g_ids.tolist(), h_ids.tolist(), dist, frameid=n)
    return acc


def _result(cls: str, name: str, row: Any, hota: HotaState, n_ignored: int) -> ClassResult:
    s = hota.scores()
    motp = float(row["motp"])
    gt, fn = int(row["num_objects"]), int(row["num_misses"])
    if gt == 0 and int(row["num_predictions"]) == 0:  # nothing to score: NaN, as motmetrics' ratios
        s = dict.fromkeys(s, math.nan)
    return ClassResult(
        cls=cls, sequence=name, HOTA=s["HOTA"], DetA=s["DetA"], AssA=s["AssA"], MOTA=float(row["mota"]),
        MOTP=1.0 - motp if math.isfinite(motp) else math.nan, IDF1=float(row["idf1"]),
        IDSW=int(row["num_switches"]), FP=int(row["num_false_positives"]), FN=fn, TP=gt - fn, GT=gt,
        GT_IDs=int(row["num_unique_objects"]), MT=int(row["mostly_tracked"]), ML=int(row["mostly_lost"]),
        Frag=int(row["num_fragmentations"]), IGN=n_ignored)


def evaluate_sequences(sequences: Mapping[str, tuple[Mapping[int, FrameObjects], Mapping[int, FrameObjects]]],
                       classes: Sequence[str] = CLASSES, iou_threshold: float = IOU_THRESHOLD,
                       vertical: str = "y") -> list[ClassResult]:
    """Evaluate ``{sequence name: (ground truth, hypotheses)}``, each a ``frame key -> FrameObjects``.

    Returns, per class in ``classes`` order, one :class:`ClassResult` per sequence (in mapping
    order) then the :data:`TOTAL` row: CLEAR/identity counts summed over sequences (motmetrics'
    overall), HOTA from per-alpha sums over sequences (as TrackEval combines sequences).
    A class without ground truth in a sequence gets NaN ratios, or MOTA ``-inf`` and HOTA 0 if it
    has false positives.
    """
    if not sequences:
        raise TrackingError("evaluate_sequences: no sequences given")
    if not 0.0 < iou_threshold <= 1.0:
        raise TrackingError(f"iou_threshold: expected in (0, 1], got {iou_threshold}")
    names = [str(n) for n in sequences]
    if TOTAL in names or "OVERALL" in names or len(set(names)) != len(names):
        raise TrackingError(f"sequence names must be unique and not {TOTAL!r}/'OVERALL', got {names}")
    mm = _import_motmetrics()
    mh = mm.metrics.create()
    results: list[ClassResult] = []
    for cls in classes:
        accs, hotas, ignored = [], [], []
        for gt, hyp in sequences.values():
            frames, n_ign = class_frames(gt, hyp, cls, iou_threshold, vertical)
            accs.append(_accumulator(frames, iou_threshold))
            hotas.append(hota_from_similarity([(g, h, s) for _, g, h, s in frames]))
            ignored.append(n_ign)
        summary = mh.compute_many(accs, metrics=_MM_METRICS, names=names, generate_overall=True)
        results += [_result(cls, n, summary.loc[n], h, i)
                    for n, h, i in zip(names, hotas, ignored, strict=True)]
        total = hotas[0]
        for h in hotas[1:]:
            total = total + h
        per_seq = results[-len(names):]
        tp = sum(r.TP for r in per_seq)
        # motmetrics' overall MOTP is NaN once one sequence has no match; weight by matches instead
        motp = sum(r.MOTP * r.TP for r in per_seq if r.TP) / tp if tp else math.nan
        row = _result(cls, TOTAL, summary.loc["OVERALL"], total, sum(ignored))
        results.append(dataclasses.replace(row, MOTP=motp))
    return results


def _pct(v: float) -> str:
    return f"{100 * v:.1f}" if math.isfinite(v) else ("-inf" if v == -math.inf else "n/a")


def format_table(results: Sequence[ClassResult]) -> str:
    """Markdown table, one row per result (percentages for ratios; the total row in bold)."""
    head = ["class", "sequence", "HOTA", "DetA", "AssA", "MOTA", "MOTP", "IDF1", "IDSW", "FP", "FN", "GT"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in results:
        seq = f"**{r.sequence}**" if r.sequence == TOTAL else r.sequence
        cells = [r.cls, seq, *(_pct(v) for v in (r.HOTA, r.DetA, r.AssA, r.MOTA, r.MOTP, r.IDF1)),
                 *(str(v) for v in (r.IDSW, r.FP, r.FN, r.GT))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
