"""Columnar 2D detections, the currency between detectors, trackers and event rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np

from percept.errors import MessageError
from percept.message import ArraySpec, arrays_equal, as_array

#: Field specifications shared with the ``Detections2D`` wire message.
DETECTION_ARRAYS: dict[str, ArraySpec] = {
    "xyxy": ArraySpec(("f4",), ((None, 4),)),
    "confidence": ArraySpec(("f4",), ((None,),)),
    "class_id": ArraySpec(("i4",), ((None,),)),
    "track_id": ArraySpec(("i8",), ((None,),), optional=True),
}


@dataclass(frozen=True, eq=False)
class Detections:
    """N axis-aligned image boxes with scores and classes, one row per object.

    Attributes:
        xyxy: float32 (N, 4), ``x1, y1, x2, y2`` in source-image pixels.
        confidence: float32 (N,), detector score in [0, 1] (not enforced: some detectors emit
            unbounded scores).
        class_id: int32 (N,), index into the producer's class names.
        track_id: int64 (N,) or ``None``; set by trackers.

    Inputs of another numeric dtype are cast when the cast is safe; shapes are checked and a
    mismatch raises ``MessageError`` naming the expected and the actual shape.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    track_id: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name, spec in DETECTION_ARRAYS.items():
            value = getattr(self, name)
            if value is None and spec.optional:
                continue
            arr = as_array("Detections", name, value, spec.dtypes[0])
            if arr.ndim == 1 and arr.size == 0 and name == "xyxy":
                arr = arr.reshape(0, 4)
            spec.check("Detections", name, arr.dtype, arr.shape)
            object.__setattr__(self, name, arr)
        n = len(self.xyxy)
        for name in ("confidence", "class_id", "track_id"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise MessageError(f"Detections.{name}: expected length {n} (rows of xyxy), got {len(value)}")

    @classmethod
    def empty(cls, with_track_id: bool = False) -> Self:
        """Zero detections."""
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int32),
            track_id=np.zeros(0, np.int64) if with_track_id else None,
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Self:
        """Rows selected by an index, slice, integer array or boolean mask (always 2-D)."""
        if isinstance(index, int | np.integer):
            index = np.array([index])  # keeps rows 2-D; out of range raises IndexError
        return type(self)(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            track_id=None if self.track_id is None else self.track_id[index],
        )

    def scaled(self, sx: float, sy: float) -> Self:
        """The same detections with boxes scaled by ``sx`` along x and ``sy`` along y (e.g. from
        the pixels of a downscaled image to the full frame's)."""
        if sx == 1.0 and sy == 1.0:
            return self
        xyxy = self.xyxy * np.array([sx, sy, sx, sy], np.float32)
        return dataclasses.replace(self, xyxy=xyxy.astype(np.float32))

    def with_track_ids(self, track_id: np.ndarray) -> Self:
        """A copy carrying ``track_id`` (int64 (N,))."""
        return type(self)(self.xyxy, self.confidence, self.class_id, track_id)

    @property
    def area(self) -> np.ndarray:
        """float32 (N,) box areas in square pixels (0 for inverted boxes)."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    @classmethod
    def concatenate(cls, parts: Sequence[Detections]) -> Self:
        """All rows of ``parts`` in order; track ids kept only if every part has them."""
        if not parts:
            return cls.empty()
        keep_ids = all(p.track_id is not None for p in parts)
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            track_id=np.concatenate([p.track_id for p in parts]) if keep_ids else None,  # type: ignore[misc]
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return all(
            arrays_equal(getattr(self, n), getattr(other, n)) for n in DETECTION_ARRAYS
        )

    __hash__ = None  # type: ignore[assignment]
