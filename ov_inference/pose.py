"""One decoded person: 18 keypoints (OpenPose-COCO order, see ``pose_format``) with confidences and a score.

Coordinates are whatever system the producer used: :func:`ov_inference.decode_poses` returns *network-input
pixels*; :meth:`Pose.to_image` / :meth:`Pose.transformed` map them to the caller's frame pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pose_format import NUM_KEYPOINTS, LetterboxMeta, to_coco17

__all__ = ["Pose"]

_F32_MAX = float(np.finfo(np.float32).max)


@dataclass(eq=False)
class Pose:
    """A person.

    ``keypoints``: float32 ``[18, 3]`` rows of ``(x, y, confidence)``; confidence 0 means the keypoint is missing
    (its x, y are then 0 and meaningless). ``score``: the person's detection score (higher = more certain; used
    as the COCO detection score). ``track_id``: a stable id across frames when a tracker assigned one. Values are
    always finite: a keypoint with a NaN / inf value is made missing, a NaN score 0 and an infinite one the float32
    limit, so a broken model's output cannot poison tracking, smoothing, AP or the JSON records.
    """

    keypoints: np.ndarray
    score: float
    track_id: int | None = None

    def __post_init__(self) -> None:
        kpts = np.asarray(self.keypoints, dtype=np.float32)
        if kpts.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"Pose.keypoints must have shape ({NUM_KEYPOINTS}, 3), got {kpts.shape}")
        broken = ~np.isfinite(kpts).all(axis=1)
        if broken.any():  # NaN / inf from a broken model or caller: missing, so tracking, smoothing and JSON stay sane
            kpts = kpts.copy()
            kpts[broken] = 0.0
        self.keypoints = kpts
        score = float(self.score)
        self.score = 0.0 if math.isnan(score) else max(-_F32_MAX, min(_F32_MAX, score))

    @property
    def present(self) -> np.ndarray:
        """Boolean ``[18]`` mask of the keypoints that were found (confidence > 0)."""
        return self.keypoints[:, 2] > 0

    @property
    def num_keypoints(self) -> int:
        """Number of keypoints found (of 18)."""
        return int(np.count_nonzero(self.present))

    @property
    def coco17(self) -> np.ndarray:
        """``[17, 3]`` (x, y, confidence) in COCO-17 keypoint order (the neck is dropped)."""
        return to_coco17(self.keypoints)

    def bbox(self) -> tuple[float, float, float, float]:
        """``(x, y, w, h)`` of the box around the present keypoints, in the keypoints' coordinates; zeros if none."""
        pts = self.keypoints[self.present, :2]
        if len(pts) == 0:
            return (0.0, 0.0, 0.0, 0.0)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))

    def transformed(self, fn: Callable[[np.ndarray], np.ndarray]) -> "Pose":
        """A new Pose whose present keypoints' ``(x, y)`` are mapped by ``fn`` (``[N, 2] -> [N, 2]``).

        Missing keypoints stay ``(0, 0, 0)``; confidences, score and track id are kept.
        """
        out = self.keypoints.copy()
        mask = self.present
        if mask.any():
            mapped = np.asarray(fn(out[mask, :2]), dtype=np.float32)
            if mapped.shape != (int(mask.sum()), 2):
                raise ValueError(f"transform returned shape {mapped.shape}, expected ({int(mask.sum())}, 2)")
            out[mask, :2] = mapped
        return Pose(out, self.score, self.track_id)

    def scaled(self, sx: float, sy: float | None = None, dx: float = 0.0, dy: float = 0.0) -> "Pose":
        """A new Pose with ``x' = x * sx + dx`` and ``y' = y * sy + dy`` (``sy`` defaults to ``sx``)."""
        sy = sx if sy is None else sy
        factor = np.array([sx, sy], dtype=np.float32)
        shift = np.array([dx, dy], dtype=np.float32)
        return self.transformed(lambda xy: xy * factor + shift)

    def to_image(self, meta: LetterboxMeta) -> "Pose":
        """Map a Pose in network-input pixels back to the pixels of the image that ``meta`` describes."""
        return self.transformed(meta.to_image)
