"""Training targets (keypoint heatmaps and part affinity fields), vectorized in NumPy.

Geometry follows ``pose_format`` (format.md): keypoints are given in *input pixels*; map cell ``(i, j)`` is centred
on input pixel ``(8 i + 3.5, 8 j + 3.5)``. No torch here: the decoder benchmarks render ground-truth maps with
these functions too.
"""
from __future__ import annotations

import numpy as np

from pose_format import (
    HEATMAP_SIGMA,
    LIMBS,
    NUM_HEATMAPS,
    NUM_KEYPOINTS,
    NUM_PAFS,
    PAF_THICKNESS,
    STRIDE,
    cell_centers,
)

#: keypoint indices of each limb's two ends (PAF channels 2i, 2i + 1 point from the first to the second)
_LIMB_ENDS = tuple(np.array(ends) for ends in zip(*LIMBS))

#: Gaussian values below exp(-ln 100) ~ 0.01 are left at 0.
_MAX_EXPONENT = float(np.log(100.0))


def render_heatmaps(keypoints: np.ndarray, map_h: int, map_w: int, sigma: float = HEATMAP_SIGMA,
                    stride: int = STRIDE) -> np.ndarray:
    """Keypoint heatmaps ``[19, map_h, map_w]`` float32 for people ``keypoints[P, 18, 3]`` (x, y, v) in input pixels.

    A keypoint is present when ``v > 0``. Per channel: sum over people of ``exp(-d^2 / 2 sigma^2)`` (cut to 0
    where the exponent exceeds ln 100), clipped to 1. Channel 18 is the background, ``1 - max`` over the others.
    """
    kpts = np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)
    out = np.zeros((NUM_HEATMAPS, map_h, map_w), dtype=np.float32)
    xs, ys = cell_centers(map_w, stride), cell_centers(map_h, stride)
    inv = 1.0 / (2.0 * sigma * sigma)
    # Separable, all people and keypoints at once: exponent[p, k, y, x] = ey[p, k, y] + ex[p, k, x]
    ex = (xs - kpts[..., :1]) ** 2 * inv  # [P, 18, W]
    ey = (ys - kpts[..., 1:2]) ** 2 * inv  # [P, 18, H]
    e = ey[..., :, None] + ex[..., None, :]
    # cut where the exponent exceeds ln 100, and where the keypoint is absent
    keep = (e <= _MAX_EXPONENT) & (kpts[..., 2] > 0)[..., None, None]
    g = np.where(keep, np.exp(-e), 0.0).sum(axis=0)
    np.minimum(g, 1.0, out=out[:NUM_KEYPOINTS])
    out[NUM_KEYPOINTS] = 1.0 - out[:NUM_KEYPOINTS].max(axis=0)
    return out


def render_pafs(keypoints: np.ndarray, map_h: int, map_w: int, thickness: float = PAF_THICKNESS,
                stride: int = STRIDE) -> np.ndarray:
    """Part affinity fields ``[38, map_h, map_w]`` float32 for ``keypoints[P, 18, 3]`` in input pixels.

    For limb ``i`` = (a, b) present in a person (both ``v > 0``, distinct points), every cell whose centre lies
    within ``thickness`` cells of the line through a and b, and inside the segment's bounding box widened by
    ``thickness``, gets the unit vector a -> b in channels ``2i`` (x) and ``2i+1`` (y). Where people overlap,
    the later person overwrites, as the reference does.
    """
    kpts = np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)
    out = np.zeros((NUM_PAFS, map_h, map_w), dtype=np.float32)
    if len(kpts) == 0:
        return out
    # Work in cell units (cell (i, j) sits at (i, j)), all people and limbs at once: [P, L] per limb end.
    cells = (kpts[..., :2] - np.float32(cell_centers(1, stride)[0])) / np.float32(stride)
    a, b = _LIMB_ENDS
    start, d = cells[:, a], cells[:, b] - cells[:, a]  # [P, L, 2]
    norm = np.hypot(d[..., 0], d[..., 1])
    present = (kpts[:, a, 2] > 0) & (kpts[:, b, 2] > 0) & (norm >= 1e-7)
    u = d / np.where(present, norm, np.float32(1))[..., None]  # unit vectors a -> b, [P, L, 2]
    t = np.float32(thickness)
    lo = np.minimum(cells[:, a], cells[:, b]) - t
    hi = np.maximum(cells[:, a], cells[:, b]) + t
    cx = np.arange(map_w, dtype=np.float32)
    cy = np.arange(map_h, dtype=np.float32)
    in_x = (cx >= lo[..., 0, None]) & (cx <= hi[..., 0, None])  # [P, L, W]: inside the widened bounding box
    in_y = (cy >= lo[..., 1, None]) & (cy <= hi[..., 1, None])  # [P, L, H]
    rel_x = cx - start[..., 0, None]  # [P, L, W]
    rel_y = cy - start[..., 1, None]  # [P, L, H]
    dist = np.abs(rel_x[:, :, None, :] * u[..., 1, None, None] - rel_y[:, :, :, None] * u[..., 0, None, None])
    on = (dist <= t) & in_y[:, :, :, None] & in_x[:, :, None, :] & present[..., None, None]  # [P, L, H, W]
    # where people overlap the later one wins: the last person covering each cell
    last = len(kpts) - 1 - np.argmax(on[::-1], axis=0)  # [L, H, W]
    covered = on.any(axis=0)
    limb = np.arange(len(LIMBS))[:, None, None]
    out[0::2] = np.where(covered, u[last, limb, 0], 0.0)
    out[1::2] = np.where(covered, u[last, limb, 1], 0.0)
    return out


def render_mask(mask: np.ndarray, stride: int = STRIDE) -> np.ndarray:
    """Loss weight at map resolution ``[1, H / stride, W / stride]`` float32 from an input-pixel mask ``[H, W]``.

    Each cell gets the mean weight of its ``stride x stride`` block of input pixels (the block centred on the cell
    centre ``8 i + 3.5``), so a cell half inside a crowd region weighs 0.5. ``H`` and ``W`` must be multiples of
    ``stride``.
    """
    m = np.asarray(mask, dtype=np.float32)
    h, w = m.shape
    if h % stride or w % stride:
        raise ValueError(f"mask size {w}x{h} is not a multiple of the stride {stride}")
    return m.reshape(h // stride, stride, w // stride, stride).mean(axis=(1, 3))[None]


def render_targets(keypoints: np.ndarray, input_h: int, input_w: int, mask: np.ndarray | None = None,
                   stride: int = STRIDE) -> dict[str, np.ndarray]:
    """All training targets of one input ``input_h x input_w`` (multiples of ``stride``).

    Returns ``heatmaps [19, h, w]``, ``pafs [38, h, w]`` and ``mask [1, h, w]`` (all ones when ``mask`` is None),
    float32, with ``h = input_h / stride``; ``keypoints [P, 18, 3]`` are in input pixels.
    """
    map_h, map_w = input_h // stride, input_w // stride
    if mask is None:
        map_mask = np.ones((1, map_h, map_w), np.float32)
    else:
        map_mask = render_mask(mask, stride)
    return {
        "heatmaps": render_heatmaps(keypoints, map_h, map_w, stride=stride),
        "pafs": render_pafs(keypoints, map_h, map_w, stride=stride),
        "mask": map_mask,
    }
