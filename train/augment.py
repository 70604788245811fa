"""Training augmentation of the paper: random scale, rotation, crop/pad around a person with centre jitter, flip.

All geometric steps are composed into one 2x3 affine matrix from *image pixels* to *crop pixels* (pixel centres at
integer coordinates in both, as ``cv2.warpAffine`` uses them), so the image, the loss mask and the keypoints are
resampled once and stay exactly aligned. The horizontal flip mirrors ``x -> crop_w - 1 - x`` and swaps the left/right
keypoints of :data:`pose_format.FLIP_PAIRS_18`; PAFs rendered afterwards from the swapped keypoints therefore stay
consistent (limb (2, 3) still points from the right shoulder to the right elbow).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pose_format import FLIP_PERMUTATION_18, NUM_KEYPOINTS, PAD_VALUE, TRAIN_CROP, check_input_side

__all__ = ["AugmentConfig", "FLIP_PERMUTATION_18", "sample_transform", "apply_transform", "flip_keypoints"]

@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation parameters (the paper's defaults).

    The crop centre person is scaled so that its bbox height becomes ``target_dist * crop_size * m`` with ``m``
    uniform in ``scale_range``; rotation is uniform in ``+-max_rotation`` degrees; the crop centre is jittered by up
    to ``center_jitter`` crop pixels; flips happen with probability ``flip_prob``. ``enabled=False`` gives the
    deterministic centre crop at scale multiplier 1 (validation-style).
    """

    crop_size: int = TRAIN_CROP
    target_dist: float = 0.6
    scale_range: tuple[float, float] = (0.5, 1.1)
    max_rotation: float = 40.0
    center_jitter: float = 40.0
    flip_prob: float = 0.5
    enabled: bool = True

    def __post_init__(self) -> None:
        check_input_side(self.crop_size, "crop_size")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"scale_range must be increasing and positive, got {self.scale_range}")
        if not 0 <= self.max_rotation <= 180:
            raise ValueError(f"max_rotation must be within [0, 180] degrees, got {self.max_rotation}")
        if not self.target_dist > 0:
            raise ValueError(f"target_dist must be > 0 (the person's share of the crop), got {self.target_dist}")
        if not self.center_jitter >= 0:
            raise ValueError(f"center_jitter must be >= 0 pixels, got {self.center_jitter}")
        if not 0 <= self.flip_prob <= 1:
            raise ValueError(f"flip_prob must be a probability in [0, 1], got {self.flip_prob}")


def sample_transform(rng: np.random.Generator, center: np.ndarray, person_height: float,
                     cfg: AugmentConfig) -> tuple[np.ndarray, bool]:
    """Random image->crop affine ``[2, 3]`` around ``center`` (image pixels) and whether it flips.

    ``person_height`` (image pixels, e.g. the bbox height of the crop-centre person) sets the scale.
    """
    if cfg.enabled:
        mult = rng.uniform(*cfg.scale_range)
        angle = rng.uniform(-cfg.max_rotation, cfg.max_rotation)
        jitter = rng.uniform(-cfg.center_jitter, cfg.center_jitter, 2)
        flip = bool(rng.random() < cfg.flip_prob)
    else:
        mult, angle, jitter, flip = 1.0, 0.0, np.zeros(2), False
    scale = cfg.target_dist * cfg.crop_size * mult / max(float(person_height), 1.0)
    a = math.radians(angle)
    rot = scale * np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    half = (cfg.crop_size - 1) / 2.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = rot
    matrix[:, 2] = np.array([half, half]) + jitter - rot @ np.asarray(center, dtype=np.float64)
    if flip:
        matrix[0] = -matrix[0]
        matrix[0, 2] += cfg.crop_size - 1
    return matrix, flip


def flip_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """Swap left/right keypoints of ``[P, 18, C]`` people (coordinates untouched)."""
    return np.asarray(keypoints)[:, list(FLIP_PERMUTATION_18)]


def apply_transform(image: np.ndarray, mask: np.ndarray | None, keypoints: np.ndarray, matrix: np.ndarray,
                    flip: bool, crop_size: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Warp ``image`` (padded with PAD_VALUE), ``mask`` (loss weight, padded with 1) and ``keypoints [P, 18, 3]``.

    Keypoints keep their visibility, also when they leave the crop (their Gaussian tails and limbs may still cross
    it); ``flip`` swaps left and right after mirroring. Returns crop-pixel image, mask and keypoints.
    """
    size = (crop_size, crop_size)
    out = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(PAD_VALUE, PAD_VALUE, PAD_VALUE))
    out_mask = None
    if mask is not None:
        out_mask = cv2.warpAffine(mask.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=1.0)
    kp = np.array(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)
    kp[..., :2] = kp[..., :2] @ matrix[:, :2].T.astype(np.float32) + matrix[:, 2].astype(np.float32)
    if flip:
        kp = flip_keypoints(kp)
    return out, out_mask, kp
