"""Baseline for the decoder benchmarks: a clean re-implementation of the original repository's decoder.

The algorithm of ``lightweight-human-pose-estimation.pytorch`` (``demo.py`` + ``modules/keypoints.py``), written
anew here so that ``benchmarks/bench_decoder.py`` can compare against it on the same maps:

1. heatmaps and PAFs are upsampled x4 with bicubic interpolation (``cv2.INTER_CUBIC``), i.e. to stride 2;
2. per keypoint type: values below 0.1 set to 0, peaks are cells strictly greater than their 4 neighbours, then,
   in order of increasing x, a peak suppresses later peaks closer than 6 (upsampled) pixels;
3. per limb, in the neck-outward order (the 17 tree limbs, then the 2 ear-shoulder limbs): every candidate pair is
   scored by sampling the PAF at 10 points (rounded to the nearest upsampled pixel); samples above
   ``min_paf_score = 0.05`` pass; the score is the mean of the passing samples; a pair is kept when that mean is
   positive and more than 80 % of the samples pass; connections are chosen greedily by score, each keypoint once;
4. people are grown from the neck outward (a connection whose ``from`` keypoint already belongs to a person extends
   it, else starts a new person); the ear-shoulder limbs only fill a missing ear or shoulder;
5. people with fewer than 3 keypoints or a mean score (``score / count``) below 0.2 are dropped.

Keypoints map back to network-input pixels as the original ``demo.py`` does: ``x * stride / upsample``. The
original evaluation (``val.py``) ranks people by ``score * (count - 1)`` (``reference_decode(val_score=True)``).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ov_inference.pose import Pose
from pose_format import DECODE_LIMB_ORDER, EAR_SHOULDER_LIMBS, LIMBS, NUM_KEYPOINTS, PAF_CHANNELS, STRIDE

__all__ = ["reference_decode"]

_LIMB_ORDER = DECODE_LIMB_ORDER + EAR_SHOULDER_LIMBS
_PEAK_THRESHOLD = 0.1
_NMS_RADIUS = 6.0
_POINTS_PER_LIMB = 10
_MIN_PAF_SCORE = 0.05
_SUCCESS_RATIO = 0.8
_MIN_KEYPOINTS = 3
_MIN_MEAN_SCORE = 0.2


def _extract_keypoints(heatmap: np.ndarray, first_id: int) -> list[tuple[float, float, float, int]]:
    """Peaks of one upsampled heatmap as ``(x, y, value, global id)``."""
    heatmap = np.where(heatmap < _PEAK_THRESHOLD, 0.0, heatmap)
    padded = np.pad(heatmap, 1, mode="constant")
    centre = padded[1:-1, 1:-1]
    is_peak = ((centre > padded[1:-1, :-2]) & (centre > padded[1:-1, 2:])
               & (centre > padded[:-2, 1:-1]) & (centre > padded[2:, 1:-1]))
    ys, xs = np.nonzero(is_peak)
    points = sorted(zip(xs.tolist(), ys.tolist()))  # by x, as the original
    suppressed = [False] * len(points)
    out = []
    for i, (x, y) in enumerate(points):
        if suppressed[i]:
            continue
        for j in range(i + 1, len(points)):
            if math.hypot(x - points[j][0], y - points[j][1]) < _NMS_RADIUS:
                suppressed[j] = True
        out.append((float(x), float(y), float(heatmap[y, x]), first_id + len(out)))
    return out


def _score_candidates(kpts_a: np.ndarray, kpts_b: np.ndarray, paf_x: np.ndarray, paf_y: np.ndarray):
    """All (a, b) pairs of one limb: accepted ``(ia, ib, score)``."""
    n, m = len(kpts_a), len(kpts_b)
    a = np.broadcast_to(kpts_a[None, :, :2], (m, n, 2))
    vec = (kpts_b[:, None, :2] - a).reshape(-1, 1, 2)
    steps = np.arange(_POINTS_PER_LIMB, dtype=np.float32).reshape(1, -1, 1) / (_POINTS_PER_LIMB - 1)
    points = np.rint(vec * steps + a.reshape(-1, 1, 2)).astype(np.int32)
    x, y = points[..., 0].ravel(), points[..., 1].ravel()
    field = np.stack([paf_x[y, x], paf_y[y, x]], axis=-1).reshape(-1, _POINTS_PER_LIMB, 2)
    unit = vec / (np.linalg.norm(vec, axis=-1, keepdims=True) + 1e-6)
    samples = (field * unit).sum(-1)
    passed = samples > _MIN_PAF_SCORE
    n_pass = passed.sum(1)
    score = (samples * passed).sum(1) / (n_pass + 1e-6)
    ok = np.flatnonzero((score > 0) & (n_pass / _POINTS_PER_LIMB > _SUCCESS_RATIO))
    ib, ia = np.divmod(ok, n)
    return ia, ib, score[ok]


def _greedy(ia, ib, score):
    order = np.argsort(score)[::-1]
    used_a, used_b, out = set(), set(), []
    for t in order:
        i, j = int(ia[t]), int(ib[t])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((i, j, float(score[t])))
    return out


def _group(peaks_by_type: list[list[tuple]], pafs_up: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Person entries ``[20]`` (18 global keypoint ids or -1, score, count) and all keypoints ``[N, 4]``."""
    all_kpts = np.array([p for peaks in peaks_by_type for p in peaks], dtype=np.float32).reshape(-1, 4)
    by_type = [np.array(p, dtype=np.float32).reshape(-1, 4) for p in peaks_by_type]
    entries: list[np.ndarray] = []
    for limb in _LIMB_ORDER:
        a_id, b_id = LIMBS[limb]
        kpts_a, kpts_b = by_type[a_id], by_type[b_id]
        if len(kpts_a) == 0 or len(kpts_b) == 0:
            continue
        cx, cy = PAF_CHANNELS[limb]
        ia, ib, score = _score_candidates(kpts_a, kpts_b, pafs_up[:, :, cx], pafs_up[:, :, cy])
        connections = [(int(kpts_a[i, 3]), int(kpts_b[j, 3]), s) for i, j, s in _greedy(ia, ib, score)]
        if limb in EAR_SHOULDER_LIMBS:
            for ga, gb, _ in connections:
                for entry in entries:
                    if entry[a_id] == ga and entry[b_id] == -1:
                        entry[b_id] = gb
                    elif entry[b_id] == gb and entry[a_id] == -1:
                        entry[a_id] = ga
            continue
        for ga, gb, s in connections:
            extended = False
            for entry in entries:
                if entry[a_id] == ga:
                    entry[b_id] = gb
                    entry[-1] += 1
                    entry[-2] += all_kpts[gb, 2] + s
                    extended = True
            if not extended:
                entry = np.full(NUM_KEYPOINTS + 2, -1.0)
                entry[a_id], entry[b_id] = ga, gb
                entry[-1] = 2
                entry[-2] = all_kpts[ga, 2] + all_kpts[gb, 2] + s
                entries.append(entry)
    kept = [e for e in entries if e[-1] >= _MIN_KEYPOINTS and e[-2] / e[-1] >= _MIN_MEAN_SCORE]
    return kept, all_kpts


def reference_decode(heatmaps: np.ndarray, pafs: np.ndarray, stride: int = STRIDE, upsample: int = 4,
                     val_score: bool = True) -> list[Pose]:
    """The original decoder on ``heatmaps [18|19, h, w]`` and ``pafs [38, h, w]``: people in network-input pixels.

    ``Pose.score`` is the original's person score (sum of keypoint values and limb scores), multiplied by
    ``max(0, count - 1)`` as the original ``val.py`` ranks detections when ``val_score`` (``count`` is the
    original's keypoint count, which does not count ear-shoulder fills).
    """
    hm = np.ascontiguousarray(np.transpose(heatmaps[:NUM_KEYPOINTS], (1, 2, 0)), dtype=np.float32)
    pf = np.ascontiguousarray(np.transpose(pafs, (1, 2, 0)), dtype=np.float32)
    hm_up = cv2.resize(hm, (0, 0), fx=upsample, fy=upsample, interpolation=cv2.INTER_CUBIC)
    pf_up = cv2.resize(pf, (0, 0), fx=upsample, fy=upsample, interpolation=cv2.INTER_CUBIC)
    if hm_up.ndim == 2:  # a single-channel resize drops the channel axis
        hm_up = hm_up[:, :, None]
    peaks_by_type, total = [], 0
    for k in range(NUM_KEYPOINTS):
        peaks = _extract_keypoints(hm_up[:, :, k], total)
        peaks_by_type.append(peaks)
        total += len(peaks)
    entries, all_kpts = _group(peaks_by_type, pf_up)
    poses = []
    for entry in entries:
        kp = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
        for k in range(NUM_KEYPOINTS):
            if entry[k] != -1:
                x, y, v, _ = all_kpts[int(entry[k])]
                kp[k] = (x * stride / upsample, y * stride / upsample, max(float(v), 1e-6))
        score = float(entry[-2]) * (max(0.0, float(entry[-1]) - 1.0) if val_score else 1.0)
        poses.append(Pose(kp, score))
    return poses
