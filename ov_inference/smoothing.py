"""One Euro filtering of keypoints (Casiez, Roussel, Vogel, CHI 2012), one filter per tracked person.

The One Euro filter is an adaptive low-pass filter: at low speed a low cutoff removes jitter, at high speed the
cutoff rises (by ``beta`` per pixel/second of speed) so fast motion does not lag. Units: cutoffs in Hz, speeds in
pixels per second, timestamps in seconds; keypoints in the caller's pixel coordinates.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ov_inference.pose import Pose
from pose_format import is_whole_number

__all__ = ["OneEuroFilter", "PoseSmoother"]


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


def _known_time(t: float | None) -> float | None:
    """``t`` (seconds), or ``None`` (unknown: the caller steps by ``1/freq``) when it is NaN or infinite, e.g. a
    stream reporting a NaN position: a NaN time step would make every filtered value NaN from then on."""
    return None if t is None or not math.isfinite(t) else float(t)


class OneEuroFilter:
    """Element-wise One Euro filter over arrays of a fixed shape.

    ``min_cutoff`` (Hz): cutoff at rest (lower = smoother); ``beta``: cutoff increase per unit/second of speed
    (higher = less lag); ``d_cutoff`` (Hz): cutoff of the speed estimate. ``freq`` (Hz) sets the time step when no
    timestamps are given.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.01, d_cutoff: float = 1.0, freq: float = 30.0):
        values = (min_cutoff, beta, d_cutoff, freq)
        if not all(math.isfinite(v) for v in values) or min_cutoff <= 0 or d_cutoff <= 0 or freq <= 0 or beta < 0:
            raise ValueError(f"min_cutoff, d_cutoff and freq must be finite and > 0 and beta finite and >= 0, got "
                             f"{min_cutoff}, {d_cutoff}, {freq} and {beta}")
        self.min_cutoff, self.beta, self.d_cutoff, self.freq = min_cutoff, beta, d_cutoff, freq
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Forget the state (of the elements where ``mask`` is true, or all): they restart from their next value."""
        if mask is None or self._x is None:
            self._x = self._dx = self._t = None
        else:
            self._x = np.where(mask, np.nan, self._x)
            self._dx = np.where(mask, 0.0, self._dx)

    def __call__(self, x: np.ndarray, t: float | None = None, valid: np.ndarray | None = None) -> np.ndarray:
        """Filter one sample ``x`` taken at time ``t`` (seconds; default, or NaN / inf: one ``1/freq`` step after
        the last).

        Elements where ``valid`` is false are returned as given and their filter restarts at their next valid value.
        """
        x = np.asarray(x, dtype=np.float64)
        t = _known_time(t)
        valid = np.ones(x.shape, dtype=bool) if valid is None else np.broadcast_to(np.asarray(valid, bool), x.shape)
        valid = valid & np.isfinite(x)  # a NaN / inf sample is not valid: it must not poison the state
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = np.where(valid, x, np.nan), np.zeros_like(x), (0.0 if t is None else t)
            return x.copy()
        t = self._t + 1.0 / self.freq if t is None else t
        dt = t - self._t
        if dt <= 0:
            dt = 1.0 / self.freq
        fresh = np.isnan(self._x)
        prev = np.where(fresh, x, self._x)
        a_d = _alpha(self.d_cutoff, dt)
        dx_hat = a_d * (x - prev) / dt + (1 - a_d) * self._dx
        a = _alpha(self.min_cutoff + self.beta * np.abs(dx_hat), dt)
        x_hat = a * x + (1 - a) * prev
        self._x = np.where(valid, x_hat, np.nan)
        self._dx = np.where(valid & ~fresh, dx_hat, 0.0)
        self._t = t
        return np.where(valid, x_hat, x)


class PoseSmoother:
    """One Euro smoothing of each tracked person's keypoints (poses need a ``track_id``: run a tracker first).

    A keypoint that goes missing restarts its filter when it comes back, and so does a whole person missing from a
    call (unseen for a frame or more: they restart from where they reappear, not dragged from where they were last
    seen); a person unseen for ``max_age`` calls is forgotten. Poses without a ``track_id`` pass through unchanged.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.01, d_cutoff: float = 1.0, freq: float = 30.0,
                 max_age: int = 30):
        self.params = dict(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff, freq=freq)
        OneEuroFilter(**self.params)  # validates the parameters now
        if not is_whole_number(max_age) or max_age < 0:
            raise ValueError(f"max_age must be a whole number of frames >= 0, got {max_age!r}")
        self.max_age = max_age
        self._filters: dict[int, OneEuroFilter] = {}
        self._last_seen: dict[int, int] = {}
        self._calls = 0
        self._t: float | None = None

    def reset(self) -> None:
        """Forget every person's filter."""
        self._filters.clear()
        self._last_seen.clear()

    def __call__(self, poses: Sequence[Pose], timestamp: float | None = None) -> list[Pose]:
        """Smoothed copies of ``poses`` (same order); ``timestamp`` in seconds (default, or NaN / inf: steps of
        ``1/freq``)."""
        self._calls += 1
        timestamp = _known_time(timestamp)
        if timestamp is None:
            self._t = 0.0 if self._t is None else self._t + 1.0 / self.params["freq"]
        else:
            self._t = timestamp
        out = []
        for pose in poses:
            if pose.track_id is None:
                out.append(pose)
                continue
            filt = self._filters.get(pose.track_id)
            if filt is None or self._last_seen[pose.track_id] < self._calls - 1:  # new, or back after a gap
                filt = self._filters[pose.track_id] = OneEuroFilter(**self.params)
            self._last_seen[pose.track_id] = self._calls
            present = pose.keypoints[:, 2] > 0
            xy = pose.keypoints[:, :2].astype(np.float64)
            smoothed = filt(xy, self._t, valid=present[:, None])
            kpts = pose.keypoints.copy()
            kpts[present, :2] = smoothed[present]
            out.append(Pose(kpts, pose.score, pose.track_id))
        stale = [tid for tid, seen in self._last_seen.items() if self._calls - seen > self.max_age]
        for tid in stale:
            self._filters.pop(tid, None)
            self._last_seen.pop(tid, None)
        return out
