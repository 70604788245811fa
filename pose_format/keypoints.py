"""Keypoints, limbs and PAF channels of Lightweight OpenPose (18 keypoints, OpenPose-COCO order)."""
from __future__ import annotations

import numpy as np

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "r_shoulder", "r_elbow", "r_wrist",
    "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle",
    "l_hip", "l_knee", "l_ankle",
    "r_eye", "l_eye", "r_ear", "l_ear",
)
NUM_KEYPOINTS = 18
NECK = 1
#: Heatmap channels: the 18 keypoints, then background (= 1 - max over the 18).
NUM_HEATMAPS = 19

#: Limb i as (from, to) keypoint ids; it owns PAF channels 2i (x) and 2i+1 (y).
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13), (1, 2), (2, 3), (3, 4), (2, 16),
    (1, 5), (5, 6), (6, 7), (5, 17), (1, 0), (0, 14), (0, 15), (14, 16), (15, 17),
)
NUM_LIMBS = 19
NUM_PAFS = 38
#: PAF channel pair (x, y) of each limb, in limb order.
PAF_CHANNELS: tuple[tuple[int, int], ...] = tuple((2 * i, 2 * i + 1) for i in range(NUM_LIMBS))

#: Order in which the reference decoder grows people from the neck outward (indices into LIMBS).
DECODE_LIMB_ORDER: tuple[int, ...] = tuple(
    LIMBS.index(limb) for limb in (
        (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
        (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
    )
)
#: Ear-shoulder limbs, used by the reference decoder only to fill missing ears/shoulders.
EAR_SHOULDER_LIMBS: tuple[int, ...] = (LIMBS.index((2, 16)), LIMBS.index((5, 17)))

#: COCO-17 keypoint names in COCO order.
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
#: For each of our 18 keypoints, its COCO-17 index (-1 for the neck, which COCO lacks).
TO_COCO17: tuple[int, ...] = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
#: For each COCO-17 keypoint, our 18-keypoint index.
COCO17_TO_18: tuple[int, ...] = tuple(TO_COCO17.index(c) for c in range(17))

#: Left/right keypoint ids (for drawing and for horizontal flips).
RIGHT_KEYPOINTS: tuple[int, ...] = (2, 3, 4, 8, 9, 10, 14, 16)
LEFT_KEYPOINTS: tuple[int, ...] = (5, 6, 7, 11, 12, 13, 15, 17)
FLIP_PAIRS_18: tuple[tuple[int, int], ...] = tuple(zip(RIGHT_KEYPOINTS, LEFT_KEYPOINTS))
#: Keypoint permutation of a horizontal flip: keypoint ``i`` of a mirrored person is keypoint
#: ``FLIP_PERMUTATION_18[i]`` of the original (left <-> right swapped, the others unchanged; an involution).
FLIP_PERMUTATION_18: tuple[int, ...] = tuple(
    dict([(a, b) for a, b in FLIP_PAIRS_18] + [(b, a) for a, b in FLIP_PAIRS_18]).get(i, i)
    for i in range(NUM_KEYPOINTS)
)

#: COCO OKS sigmas, re-ordered to our 18 keypoints (neck: mean of the shoulders' sigma).
_COCO_SIGMAS_17 = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]
                           ) / 10.0
COCO_SIGMAS_18: np.ndarray = np.array([_COCO_SIGMAS_17[c] if c >= 0 else _COCO_SIGMAS_17[5] for c in TO_COCO17])


def to_coco17(keypoints18: np.ndarray) -> np.ndarray:
    """Re-order ``[..., 18, C]`` keypoints to COCO-17 order ``[..., 17, C]`` (the neck is dropped)."""
    return np.asarray(keypoints18)[..., list(COCO17_TO_18), :]


def coco17_to_18(keypoints17: np.ndarray) -> np.ndarray:
    """COCO ``[17, 3]`` (x, y, v) keypoints to our ``[18, 3]`` order.

    The neck is the mean of both shoulders, present (v = min of the two) only when both shoulders are labeled.
    """
    k17 = np.asarray(keypoints17, dtype=np.float64).reshape(17, 3)
    out = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
    for ours, coco in enumerate(TO_COCO17):
        if coco >= 0:
            out[ours] = k17[coco]
    r_sh, l_sh = k17[6], k17[5]
    if r_sh[2] > 0 and l_sh[2] > 0:
        out[NECK, :2] = (r_sh[:2] + l_sh[:2]) / 2
        out[NECK, 2] = min(r_sh[2], l_sh[2])
    return out
