"""Stable person ids across frames: greedy matching of poses to tracks by an OKS-like keypoint similarity.

Similarity of a track and a pose (both in the same pixel coordinates, e.g. frame pixels) is COCO's object keypoint
similarity: the mean over keypoints present in both of ``exp(-d^2 / (2 s^2 k^2))``, with ``d`` the keypoint distance,
``s^2`` the larger of the two boxes' areas and ``k = 2 * sigma`` from :data:`pose_format.COCO_SIGMAS_18`. A track is
compared at its predicted position (its last keypoints moved on by its velocity for the time since it was seen:
pixels per second over the frames' timestamps when they are given, so frames dropped in live mode are accounted for,
else pixels per frame over the frames). Matching is a cascade by age, as in DeepSORT: the tracks seen in the last
frame pick their poses first, then those unseen for one frame, and so on, so a person hidden for a few frames cannot
take the pose (and the id) of someone who stayed in view. Within a tier, pairs are taken greedily from the most
similar down (no Hungarian step: with a few people per frame greedy is as good and far simpler), and only at or above
``min_similarity`` and above 0: a similarity of 0 (no keypoint in common, or too far apart to score) is no evidence
that two poses are one person, so even ``min_similarity=0`` never matches such a pair. A track seen only once has
no velocity yet: the tracks and poses the cascade left unmatched get a second chance, compared after the mean shift
of their keypoints when it is within half the person's scale, so a person fast from their first frame keeps an id.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ov_inference.pose import Pose
from pose_format import COCO_SIGMAS_18, NUM_KEYPOINTS, is_whole_number

__all__ = ["PoseTracker", "keypoint_similarity", "greedy_match"]

log = logging.getLogger(__name__)

#: Smallest object area (pixels^2) used in the similarity, so a pose with 1-2 keypoints has a sensible scale.
MIN_AREA = 32.0 * 32.0
#: How far (a fraction of the person's scale, the square root of the box area) a track seen once may have moved to
#: its next frame's pose and still continue there (:meth:`PoseTracker._match_new_tracks`).
NEW_TRACK_REACH = 0.5


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
    """Pairs ``(row, col)`` taken from the highest similarity down, each row and column at most once, with a
    similarity of at least ``min_similarity`` and above 0 (0: no keypoint in common, never a match)."""
    if similarity.size == 0:
        return []
    flat = np.argsort(-similarity, axis=None, kind="stable")
    rows, cols = np.unravel_index(flat, similarity.shape)
    scores = similarity[rows, cols]
    keep = (scores >= min_similarity) & (scores > 0)
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
    time: float             # tracker clock (seconds, or frames without timestamps) of the last match
    age: int = 0            # frames since last matched
    hits: int = 1
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # pixels per clock unit, smoothed
    seen: np.ndarray | None = None  # [18] bool, keypoints present in the last matched pose (the others are older)

    def __post_init__(self) -> None:
        if self.seen is None:
            self.seen = self.keypoints[:, 2] > 0

    def predicted(self, now: float) -> np.ndarray:
        """``[18, 3]``: the last keypoints moved on by the velocity for the time since the last match (``now``:
        tracker clock)."""
        moved = self.keypoints.copy()
        moved[:, :2] += self.velocity * (now - self.time)
        return moved

    def follow(self, keypoints: np.ndarray, now: float) -> None:
        """Take a matched pose's keypoints at ``now`` (tracker clock): update the velocity (mean shift of the
        keypoints present in both this pose and the last matched one, per clock unit since that match, averaged with
        the previous velocity) and the last known positions. A keypoint kept from an older match is left out of the
        velocity: its shift spans more time than since the last match. A keypoint missing from the pose keeps its
        last position moved with the body (by that mean shift, or the velocity's when no keypoint is in common,
        pixels), so a keypoint hidden while the person walks on is compared where the body is now, not where it was
        last seen."""
        present = keypoints[:, 2] > 0
        both = present & self.seen
        shift = self.velocity * (now - self.time)
        if both.any():
            shift = (keypoints[both, :2] - self.keypoints[both, :2]).mean(axis=0)
            step = shift / (now - self.time)
            self.velocity = (step if self.hits == 1 else 0.5 * (self.velocity + step)).astype(np.float32)
        kept = self.keypoints.copy()
        kept[:, :2] += shift
        self.keypoints = np.where(present[:, None], keypoints, kept)
        self.seen = present
        self.time, self.age, self.hits = now, 0, self.hits + 1


class PoseTracker:
    """Gives each pose a stable ``track_id`` across frames.

    ``max_age``: frames a track survives unmatched (an occluded person keeps their id that long).
    ``min_similarity``: OKS-like similarity (0..1) needed to continue a track; 0 accepts any similarity above 0, so
    a pose that shares no keypoint with the track never continues it (:func:`greedy_match`). Poses and tracks are in
    whatever pixel coordinates the caller uses consistently (frame pixels from :class:`ov_inference.PoseEstimator`).
    """

    def __init__(self, max_age: int = 10, min_similarity: float = 0.3, sigmas: Sequence[float] = COCO_SIGMAS_18):
        if not is_whole_number(max_age) or max_age < 0:
            raise ValueError(f"max_age must be a whole number of frames >= 0, got {max_age!r}")
        if not 0.0 <= min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be in [0, 1], got {min_similarity}")
        self.max_age = max_age
        self.min_similarity = min_similarity
        self.sigmas = np.asarray(sigmas, dtype=np.float32)
        if self.sigmas.shape != (NUM_KEYPOINTS,) or not (np.isfinite(self.sigmas).all() and (self.sigmas > 0).all()):
            raise ValueError(f"sigmas must be {NUM_KEYPOINTS} positive numbers, one per keypoint in the 18-keypoint "
                             f"order (COCO's 17 are not enough: the neck has one too), got shape {self.sigmas.shape}")
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._now = 0.0               # tracker clock: seconds with timestamps, frames without
        self._frame_time = 1.0        # clock step of an update without a usable timestamp
        self._stamp: float | None = None  # last timestamp given (seconds)

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks alive now (matched within the last ``max_age`` frames)."""
        return [t.track_id for t in self._tracks]

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so old ids are never reused) and the last timestamp."""
        self._tracks = []
        self._stamp = None

    def _tick(self, timestamp: float | None) -> float:
        """Advance the clock for a frame taken at ``timestamp`` (seconds): by the time since the last timestamp, or,
        without one that is finite and later (``None``, NaN, a repeated or earlier one), by the last such interval
        (1 before any: the clock then counts frames); an earlier timestamp (a restarted video) is the base of the
        next interval. Returns the new clock time."""
        stamp = None if timestamp is None or not math.isfinite(timestamp) else float(timestamp)
        if stamp is not None and self._stamp is not None and stamp > self._stamp:
            self._frame_time = stamp - self._stamp
        self._stamp = stamp if stamp is not None else self._stamp
        self._now += self._frame_time
        return self._now

    def _match_new_tracks(self, poses: list[Pose], now: float, matched_tracks: set, matched_poses: set) -> None:
        """Second chance for tracks seen once (no velocity yet, so predicted where they were) and the poses left
        after the cascade: compared after moving the track by the mean shift of their common keypoints, when that
        shift is at most :data:`NEW_TRACK_REACH` of the person's scale (the square root of the larger box area,
        pixels). A person fast from the start (40 px per frame for a 250 px tall person) otherwise never matched
        their first frame's track, and got a new id every frame. Only leftovers take part, so no pose matched by
        the cascade changes hands. Updates ``matched_tracks`` / ``matched_poses`` in place."""
        tier = [ti for ti, t in enumerate(self._tracks) if ti not in matched_tracks and t.hits == 1]
        free = [pi for pi in range(len(poses)) if pi not in matched_poses]
        if not tier or not free:
            return
        similarity = np.zeros((len(tier), len(free)), np.float32)
        for r, ti in enumerate(tier):
            known = self._tracks[ti].keypoints
            for c, pi in enumerate(free):
                current = poses[pi].keypoints
                common = (known[:, 2] > 0) & (current[:, 2] > 0)
                if not common.any():
                    continue
                shift = (current[common, :2] - known[common, :2]).mean(axis=0)
                scale = math.sqrt(max(float(_areas(np.stack([known, current])).max()), MIN_AREA))
                if float(np.hypot(*shift)) <= NEW_TRACK_REACH * scale:
                    moved = known.copy()
                    moved[:, :2] += shift
                    similarity[r, c] = keypoint_similarity(moved[None], current[None], self.sigmas)[0, 0]
        for r, c in greedy_match(similarity, self.min_similarity):
            ti, pi = tier[r], free[c]
            self._tracks[ti].follow(poses[pi].keypoints, now)
            poses[pi].track_id = self._tracks[ti].track_id
            matched_tracks.add(ti)
            matched_poses.add(pi)

    def update(self, poses: Sequence[Pose], timestamp: float | None = None) -> list[Pose]:
        """Match this frame's poses to the tracks; sets each pose's ``track_id`` in place and returns the poses.

        ``timestamp``: when the frame was taken, seconds (e.g. :attr:`ov_inference.Frame.timestamp`); give it for
        every frame of a live source, where frames are dropped, so motion is predicted over the real time between
        the frames inferred. Without it each update is one frame later than the last."""
        poses = list(poses)
        now = self._tick(timestamp)
        matched_tracks, matched_poses = set(), set()
        for age in sorted({t.age for t in self._tracks}):  # the most recently seen tracks choose first
            tier = [ti for ti, t in enumerate(self._tracks) if t.age == age]
            free = [pi for pi in range(len(poses)) if pi not in matched_poses]
            if not free:
                break
            known = np.stack([self._tracks[ti].predicted(now) for ti in tier])
            current = np.stack([poses[pi].keypoints for pi in free])
            for r, c in greedy_match(keypoint_similarity(known, current, self.sigmas), self.min_similarity):
                ti, pi = tier[r], free[c]
                self._tracks[ti].follow(poses[pi].keypoints, now)
                poses[pi].track_id = self._tracks[ti].track_id
                matched_tracks.add(ti)
                matched_poses.add(pi)
        self._match_new_tracks(poses, now, matched_tracks, matched_poses)
        survivors = []
        for ti, track in enumerate(self._tracks):
            if ti not in matched_tracks:
                track.age += 1
            if track.age <= self.max_age:
                survivors.append(track)
        for pi, pose in enumerate(poses):
            if pi not in matched_poses:
                pose.track_id = self._next_id
                survivors.append(_Track(self._next_id, pose.keypoints.copy(), now))
                self._next_id += 1
        self._tracks = survivors
        return poses
