"""Targets vs a straightforward per-pixel reference of format.md; flip consistency; map-resolution masks.

``reference_heatmaps`` / ``reference_pafs`` are deliberately naive (one Python loop iteration per cell, person and
keypoint); benchmarks/bench_train.py times the vectorized code against them.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from pose_format import HEATMAP_SIGMA, LIMBS, NUM_KEYPOINTS, PAF_THICKNESS, STRIDE
from train.augment import FLIP_PERMUTATION_18, apply_transform
from train.targets import render_heatmaps, render_mask, render_pafs, render_targets


def reference_heatmaps(keypoints, map_h, map_w, sigma=HEATMAP_SIGMA, stride=STRIDE):
    """Per-cell loops: Gaussian per labeled keypoint, summed over people, cut below exp(-ln 100), clipped to 1."""
    out = np.zeros((NUM_KEYPOINTS + 1, map_h, map_w), np.float32)
    for k in range(NUM_KEYPOINTS):
        for j in range(map_h):
            for i in range(map_w):
                x, y = stride * i + stride / 2 - 0.5, stride * j + stride / 2 - 0.5
                total = 0.0
                for person in keypoints:
                    px, py, v = person[k]
                    if v <= 0:
                        continue
                    e = ((x - px) ** 2 + (y - py) ** 2) / (2 * sigma * sigma)
                    if e > math.log(100):
                        continue
                    total += math.exp(-e)
                out[k, j, i] = min(total, 1.0)
    for j in range(map_h):
        for i in range(map_w):
            out[NUM_KEYPOINTS, j, i] = 1.0 - max(out[k, j, i] for k in range(NUM_KEYPOINTS))
    return out


def reference_pafs(keypoints, map_h, map_w, thickness=PAF_THICKNESS, stride=STRIDE):
    """Per-cell loops: unit vector on cells within ``thickness`` of the limb line and its widened bounding box."""
    out = np.zeros((2 * len(LIMBS), map_h, map_w), np.float32)
    offset = stride / 2 - 0.5
    for limb, (a, b) in enumerate(LIMBS):
        for person in keypoints:
            if person[a][2] <= 0 or person[b][2] <= 0:
                continue
            xa, ya = (person[a][0] - offset) / stride, (person[a][1] - offset) / stride
            xb, yb = (person[b][0] - offset) / stride, (person[b][1] - offset) / stride
            length = math.hypot(xb - xa, yb - ya)
            if length < 1e-7:
                continue
            ux, uy = (xb - xa) / length, (yb - ya) / length
            for j in range(map_h):
                for i in range(map_w):
                    if not (min(xa, xb) - thickness <= i <= max(xa, xb) + thickness):
                        continue
                    if not (min(ya, yb) - thickness <= j <= max(ya, yb) + thickness):
                        continue
                    if abs((i - xa) * uy - (j - ya) * ux) <= thickness:
                        out[2 * limb, j, i] = ux
                        out[2 * limb + 1, j, i] = uy
    return out


def random_people(rng, n, size, outside=True):
    kp = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
    lo, hi = (-0.2 * size, 1.2 * size) if outside else (0, size - 1)
    kp[..., :2] = rng.uniform(lo, hi, (n, NUM_KEYPOINTS, 2))
    kp[..., 2] = rng.choice([0, 1, 2], (n, NUM_KEYPOINTS), p=[0.2, 0.3, 0.5])
    return kp


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_targets_match_per_pixel_reference(seed):
    rng = np.random.default_rng(seed)
    map_h, map_w = 20, 26
    kp = random_people(rng, 3, map_w * STRIDE)
    kp[0, 5] = kp[0, 2]  # degenerate limb (coincident keypoints) must give no field
    heat = render_heatmaps(kp, map_h, map_w)
    pafs = render_pafs(kp, map_h, map_w)
    np.testing.assert_allclose(heat, reference_heatmaps(kp, map_h, map_w), atol=1e-5)
    np.testing.assert_allclose(pafs, reference_pafs(kp, map_h, map_w), atol=1e-5)
    assert heat[:NUM_KEYPOINTS].max() <= 1.0 and heat.min() >= 0.0


def test_overlapping_people_heatmaps_sum_and_clip():
    kp = np.zeros((2, NUM_KEYPOINTS, 3), np.float32)
    kp[:, 0] = (35.5, 35.5, 2)  # two noses on the same cell centre (cell 4, 4)
    heat = render_heatmaps(kp, 10, 10)
    assert heat[0, 4, 4] == pytest.approx(1.0)
    assert heat[0, 4, 5] == pytest.approx(min(1.0, 2 * math.exp(-64 / (2 * 49))))
    assert heat[NUM_KEYPOINTS, 4, 4] == pytest.approx(0.0)


def test_flip_keeps_pafs_consistent():
    """Flipping the crop and swapping left/right == mirroring the maps, permuting channels, negating x of PAFs."""
    rng = np.random.default_rng(5)
    size = 96
    kp = random_people(rng, 2, size, outside=False)
    image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    mirror = np.array([[-1.0, 0, size - 1], [0, 1.0, 0]])
    _, _, kp_id = apply_transform(image, None, kp, identity, False, size)
    img_f, _, kp_f = apply_transform(image, None, kp, mirror, True, size)
    np.testing.assert_array_equal(img_f, image[:, ::-1])
    plain = render_targets(kp_id, size, size)
    flipped = render_targets(kp_f, size, size)
    perm = list(FLIP_PERMUTATION_18) + [NUM_KEYPOINTS]
    np.testing.assert_allclose(flipped["heatmaps"], plain["heatmaps"][perm][:, :, ::-1], atol=1e-5)
    # limb (a, b) of the flipped person is the mirror of limb (perm a, perm b) of the original one
    for limb, (a, b) in enumerate(LIMBS):
        src = LIMBS.index((FLIP_PERMUTATION_18[a], FLIP_PERMUTATION_18[b]))
        np.testing.assert_allclose(flipped["pafs"][2 * limb], -plain["pafs"][2 * src][:, ::-1], atol=1e-5)
        np.testing.assert_allclose(flipped["pafs"][2 * limb + 1], plain["pafs"][2 * src + 1][:, ::-1], atol=1e-5)


def test_mask_at_map_resolution():
    mask = np.ones((32, 48), np.float32)
    mask[:8, :8] = 0  # cell (0, 0) fully ignored
    mask[8:12, 8:16] = 0  # cell (1, 1) half ignored
    m = render_mask(mask)
    assert m.shape == (1, 4, 6)
    assert m[0, 0, 0] == 0 and m[0, 1, 1] == pytest.approx(0.5) and m[0, 3, 5] == 1
    with pytest.raises(ValueError, match="multiple of the stride"):
        render_mask(np.ones((30, 48)))
    t = render_targets(np.zeros((0, NUM_KEYPOINTS, 3)), 32, 48)
    assert t["heatmaps"].shape == (19, 4, 6) and t["pafs"].shape == (38, 4, 6) and t["mask"].min() == 1
    assert np.all(t["heatmaps"][-1] == 1) and not t["pafs"].any()
