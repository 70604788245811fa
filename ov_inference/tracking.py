"""Stable person ids across frames: greedy matching of poses to tracks by an OKS-like keypoint similarity.

Similarity of a track and a pose (both in the same pixel coordinates, e.g. frame pixels) is COCO's object keypoint
similarity: the mean over keypoints present in both of ``exp(-d^2 / (2 s^2 k^2))``, with ``d`` the keypoint distance,
``s^2`` the larger of the two boxes' areas and ``k = 2 * sigma`` from :data:`pose_format.COCO_SIGMAS_18`. Pairs are
taken greedily from the most similar down (no Hungarian step: with a few people per frame greedy is as good and
far simpler), and only above ``min_similarity``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ov_inference.pose import Pose
from pose_format import COCO_SIGMAS_18, NUM_KEYPOINTS

__all__ = ["PoseTracker", "keypoint_similarity", "greedy_match"]

log = logging.getLogger(__name__)

#: Smallest object area (pixels^2) used in the similarity, so a pose with 1-2 keypoints has a sensible scale.
MIN_AREA = 32.0 * 32.0


def _areas(keypoints: np.ndarray) -> np.ndarray:
    """``[N, 18, 3]`` -> ``[N]`` area of the box around each pose's present keypoints (pixels^2)."""
    present = keypoints[..., 2] > 0
    big = np.float32(1e9)
    xy = keypoints[..., :2]
    lo = np.where(present[..., None], xy, big).min(axis=1)
    hi = np.where(present[..., None], xy, -big).max(axis=1)
    wh = np.clip(hi - lo, 0, None)
    area = wh[:, 0] * wh[:, 1]
    return np.where(present.any(axis=1), area, 0.0)


def keypoint_similarity(a: np.ndarray, b: np.ndarray, sigmas: np.ndarray = COCO_SIGMAS_18,
                        min_area: float = MIN_AREA) -> np.ndarray:
    """OKS-like similarity ``[A, B]`` in 0..1 between ``[A, 18, 3]`` and ``[B, 18, 3]`` keypoints (x, y, conf).

    0 where two poses share no present keypoint.
    """
    a = np.asarray(a, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)
    b = np.asarray(b, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    common = (a[:, None, :, 2] > 0) & (b[None, :, :, 2] > 0)                      # [A, B, 18]
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)                   # [A, B, 18]
    area = np.maximum(np.maximum(_areas(a)[:, None], _areas(b)[None, :]), min_area)  # [A, B]
    k2 = (2.0 * np.asarray(sigmas, dtype=np.float32)) ** 2                        # [18]
    e = np.exp(-d2 / (2.0 * area[..., None] * k2))
    count = common.sum(-1)
    return np.where(count > 0, (e * common).sum(-1) / np.maximum(count, 1), 0.0).astype(np.float32)


def greedy_match(similarity: np.ndarray, min_similarity: float) -> list[tuple[int, int]]:
    """Pairs ``(row, col)`` taken from the highest similarity down, each row and column at most once."""
    if similarity.size == 0:
        return []
    flat = np.argsort(-similarity, axis=None, kind="stable")
    rows, cols = np.unravel_index(flat, similarity.shape)
    keep = similarity[rows, cols] >= min_similarity
    used_r, used_c, pairs = set(), set(), []
    for r, c in zip(rows[keep].tolist(), cols[keep].tolist()):
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


@dataclass
class _Track:
    track_id: int
    keypoints: np.ndarray   # [18, 3], last known position of each keypoint
    age: int = 0            # frames since last matched
    hits: int = 1


class PoseTracker:
    """Gives each pose a stable ``track_id`` across frames.

    ``max_age``: frames a track survives unmatched (an occluded person keeps their id that long).
    ``min_similarity``: OKS-like similarity (0..1) needed to continue a track. Poses and tracks are in whatever
    pixel coordinates the caller uses consistently (frame pixels from :class:`ov_inference.PoseEstimator`).
    """

    def __init__(self, max_age: int = 10, min_similarity: float = 0.3, sigmas: Sequence[float] = COCO_SIGMAS_18):
        if max_age < 0:
            raise ValueError(f"max_age must be >= 0, got {max_age}")
        if not 0.0 <= min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be in [0, 1], got {min_similarity}")
        self.max_age = max_age
        self.min_similarity = min_similarity
        self.sigmas = np.asarray(sigmas, dtype=np.float32)
        self._tracks: list[_Track] = []
        self._next_id = 0

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks alive now (matched within the last ``max_age`` frames)."""
        return [t.track_id for t in self._tracks]

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so old ids are never reused)."""
        self._tracks = []

    def update(self, poses: Sequence[Pose]) -> list[Pose]:
        """Match this frame's poses to the tracks; sets each pose's ``track_id`` in place and returns the poses."""
        poses = list(poses)
        current = np.stack([p.keypoints for p in poses]) if poses else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
        known = (np.stack([t.keypoints for t in self._tracks]) if self._tracks
                 else np.zeros((0, NUM_KEYPOINTS, 3), np.float32))
        similarity = keypoint_similarity(known, current, self.sigmas)
        matched_tracks, matched_poses = set(), set()
        for ti, pi in greedy_match(similarity, self.min_similarity):
            track, pose = self._tracks[ti], poses[pi]
            present = pose.keypoints[:, 2] > 0
            track.keypoints = np.where(present[:, None], pose.keypoints, track.keypoints)
            track.age, track.hits = 0, track.hits + 1
            pose.track_id = track.track_id
            matched_tracks.add(ti)
            matched_poses.add(pi)
        survivors = []
        for ti, track in enumerate(self._tracks):
            if ti not in matched_tracks:
                track.age += 1
            if track.age <= self.max_age:
                survivors.append(track)
        for pi, pose in enumerate(poses):
            if pi not in matched_poses:
                pose.track_id = self._next_id
                survivors.append(_Track(self._next_id, pose.keypoints.copy()))
                self._next_id += 1
        self._tracks = survivors
        return poses
