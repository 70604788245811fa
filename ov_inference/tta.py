"""Test-time augmentation: average the network's maps over input scales and a horizontal flip (numpy only).

The original repository's ``val.py --multiscale`` runs the network at 0.5, 1, 1.5 and 2 times the base input
height, averages the maps and decodes the average. Here every prediction is resampled onto the map grid of the
*base* input (the letterbox at the base height), so the average decodes with :func:`ov_inference.decode_poses`
and maps back to the image with the base :class:`pose_format.LetterboxMeta`, exactly like a single-scale result.

Geometry (``pose_format.geometry``, format.md):

- *image pixels*: pixel centres at integers. An input letterboxed with ``meta`` has input pixel
  ``x_in = (x_img + 0.5) * s - 0.5`` (:func:`pose_format.map_to_input`; its inverse
  :func:`pose_format.map_to_image`), ``s`` the axis' factor in ``meta.axis_scales`` (``meta.scale`` up to the
  rounding of the content to whole input pixels), as :meth:`Pose.to_image` maps;
- *map cells*: cell ``i`` is centred on input pixel ``STRIDE * i + CELL_OFFSET`` (``8 i + 3.5``);
- the letterbox pads on the right (and never vertically): the image content is the first
  :func:`content_width` input columns.

So destination cell ``i`` of an input at scale ``s_dst`` is centred on image pixel ``(8 i + 4) / s_dst - 0.5``,
which is source cell ``((8 i + 4) * s_src / s_dst - 4) / 8 = (i + 0.5) * s_src / s_dst - 0.5`` of the input at
scale ``s_src`` (the same pixel-centre-aligned rule in cell units), on each axis with its own factors.

A horizontally mirrored input mirrors the *content*, not the padded input: input pixel ``x`` of the original is
input pixel ``content_width - 1 - x`` of the mirrored input. Cell ``i`` of the original therefore reads the
mirrored maps at cell ``content_width / 8 - 1 - i``: a plain reversal only when ``content_width`` is a multiple of
8, a fractional sample otherwise (half-way between two cells when ``content_width % 8 == 4``); keypoint channels
swap left/right and PAF limbs move to their mirrored limb with the x component negated.

Sampling is separable linear interpolation. Border rule: a position inside the source input (source cell
coordinate in ``[-0.5, n - 0.5]``, the footprint of the source cells) is interpolated, taking the nearest edge
value in the outer half cells (like ``cv2.BORDER_REPLICATE``); a position outside the source input has no data:
:func:`flip_maps_back` and :func:`resample_maps` give it the fill value (0 for keypoint and PAF channels, 1 for the
background heatmap: what a network predicts far from people), and :func:`merge_predictions` averages each cell
over the predictions that have data there only. With this project's letterbox (padding < 8 pixels) the only
no-data cells are the last column of a flipped-back map when its centre lies past the content's right edge
(``content_width % 8`` in 1..3) and padding cells of one scale's grid that lie beyond another scale's input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from pose_format import (FLIP_PERMUTATION_18, LIMBS, NUM_HEATMAPS, NUM_KEYPOINTS, NUM_PAFS, STRIDE,
                         LetterboxMeta, cell_centers)

__all__ = ["MULTISCALE_SCALES", "MapPrediction", "content_width", "mirror_content", "scaled_height",
           "flip_heatmap_channels", "flip_paf_channels", "flip_maps_back", "resample_maps", "merge_predictions"]

#: The scales of the original repository's ``val.py --multiscale`` (times the base input height).
MULTISCALE_SCALES: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)


_KP_PERM = np.array(FLIP_PERMUTATION_18)  # an involution: mirrored keypoint k is original keypoint _KP_PERM[k]


def _limb_permutation() -> tuple[np.ndarray, np.ndarray]:
    """For each limb, the limb it becomes in a mirrored image and the sign of its vector (-1: stored reversed)."""
    perm, sign = np.empty(len(LIMBS), np.intp), np.empty(len(LIMBS), np.float32)
    for i, (a, b) in enumerate(LIMBS):
        a2, b2 = int(_KP_PERM[a]), int(_KP_PERM[b])
        if (a2, b2) in LIMBS:
            perm[i], sign[i] = LIMBS.index((a2, b2)), 1.0
        elif (b2, a2) in LIMBS:
            perm[i], sign[i] = LIMBS.index((b2, a2)), -1.0
        else:  # pragma: no cover - LIMBS of pose_format are closed under mirroring
            raise ValueError(f"limb {(a, b)} has no mirrored limb {(a2, b2)} in LIMBS")
    return perm, sign


_LIMB_PERM, _LIMB_SIGN = _limb_permutation()


def content_width(meta: LetterboxMeta) -> int:
    """Input pixels of image content in a letterboxed input (the rest, on the right, is padding): the width of
    :attr:`pose_format.LetterboxMeta.content_size`, ``round(image_width * scale)`` as :func:`pose_format.letterbox`
    resizes."""
    return meta.content_size[0]


def mirror_content(image: np.ndarray, meta: LetterboxMeta) -> np.ndarray:
    """A letterboxed input ``[H, W, C]`` with its image content (the first :func:`content_width` columns) mirrored
    horizontally and the padding left on the right: the input of the mirrored frame, the second half of a flip
    test-time augmentation. Returns a new array."""
    width = content_width(meta)
    mirrored = np.array(image, copy=True)
    mirrored[:, :width] = image[:, width - 1::-1]
    return mirrored


def scaled_height(base_height: int, scale: float, stride: int = STRIDE) -> int:
    """Input height, pixels, for ``scale`` times ``base_height``: rounded (half up) to a multiple of ``stride``,
    at least ``stride``."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return max(stride, int(np.floor(base_height * scale / stride + 0.5)) * stride)


def _check(heatmaps: np.ndarray | None, pafs: np.ndarray | None) -> None:
    shapes = []
    if heatmaps is not None:
        if heatmaps.ndim != 3 or heatmaps.shape[0] not in (NUM_KEYPOINTS, NUM_HEATMAPS):
            raise ValueError(f"heatmaps must be [18 or 19, h, w], got shape {heatmaps.shape}")
        shapes.append(heatmaps.shape[1:])
    if pafs is not None:
        if pafs.ndim != 3 or pafs.shape[0] != NUM_PAFS:
            raise ValueError(f"pafs must be [{NUM_PAFS}, h, w], got shape {pafs.shape}")
        shapes.append(pafs.shape[1:])
    if len(set(shapes)) > 1:
        raise ValueError(f"heatmaps {heatmaps.shape} and pafs {pafs.shape} have different map sizes")


def flip_heatmap_channels(heatmaps: np.ndarray) -> np.ndarray:
    """Swap left/right keypoint channels of ``[18 or 19, ...]`` heatmaps (no spatial change; background stays)."""
    heatmaps = np.asarray(heatmaps)
    perm = np.concatenate([_KP_PERM, np.arange(NUM_KEYPOINTS, heatmaps.shape[0])])
    return heatmaps[perm]


def flip_paf_channels(pafs: np.ndarray) -> np.ndarray:
    """PAFs ``[38, ...]`` of a mirrored image -> the original's limb channels (no spatial change).

    Limb ``(a, b)`` takes the channels of its mirrored limb ``(a', b')`` (negated when LIMBS stores it as
    ``(b', a')``), and its x component is negated (mirroring flips the x of every vector).
    """
    pafs = np.asarray(pafs)
    src = pafs.reshape(len(LIMBS), 2, *pafs.shape[1:])[_LIMB_PERM]
    factor = (_LIMB_SIGN[:, None] * np.array([-1.0, 1.0], np.float32)).reshape(len(LIMBS), 2, *([1] * (pafs.ndim - 1)))
    return (src * factor).astype(pafs.dtype, copy=False).reshape(pafs.shape)


def _axis_sampler(coords: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Linear-interpolation indices/weights along one axis for source positions ``coords`` (cells), or ``None``
    when ``coords`` is exactly ``0..n-1`` (identity). Returns ``(i0, i1, f, outside)``."""
    coords = np.asarray(coords, dtype=np.float64)
    if len(coords) == n and np.array_equal(coords, np.arange(n)):
        return None
    c = np.clip(coords, 0.0, n - 1)
    i0 = np.clip(np.floor(c), 0, max(n - 2, 0)).astype(np.intp)
    i1 = np.minimum(i0 + 1, n - 1)
    f = (c - i0).astype(np.float32)
    outside = (coords < -0.5) | (coords > n - 0.5)
    return i0, i1, f, outside


def _sample(maps: np.ndarray, ys: np.ndarray, xs: np.ndarray, fill: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Separable linear sampling of ``maps [C, h, w]`` at rows ``ys`` and columns ``xs`` (source cells).

    Returns a new float32 ``[C, len(ys), len(xs)]`` array, with ``fill [C]`` where the position has no data (the
    border rule of the module doc), and the ``[len(ys), len(xs)]`` bool mask of positions with data (``None``: all).
    """
    out = np.asarray(maps, dtype=np.float32)
    _, h, w = out.shape
    sy, sx = _axis_sampler(ys, h), _axis_sampler(xs, w)
    if sy is None and sx is None:
        return out.copy(), None
    inside_y = np.ones(len(ys), bool)
    inside_x = np.ones(len(xs), bool)
    if sy is not None:
        i0, i1, f, outside = sy
        out = out[:, i0] * (1.0 - f)[:, None] + out[:, i1] * f[:, None]
        inside_y = ~outside
    if sx is not None:
        i0, i1, f, outside = sx
        out = out[:, :, i0] * (1.0 - f) + out[:, :, i1] * f
        inside_x = ~outside
    if inside_y.all() and inside_x.all():
        return out, None
    valid = inside_y[:, None] & inside_x[None, :]
    np.copyto(out, fill.astype(np.float32)[:, None, None], where=~valid[None])
    return out, valid


def _fill(channels: int, background: bool) -> np.ndarray:
    fill = np.zeros(channels, np.float32)
    if background and channels == NUM_HEATMAPS:
        fill[NUM_KEYPOINTS] = 1.0
    return fill


def _fill_for(maps: np.ndarray, fill: float | Sequence[float]) -> np.ndarray:
    fill = np.asarray(fill, dtype=np.float32)
    if fill.ndim == 0:
        return np.full(maps.shape[0], float(fill), np.float32)
    if fill.shape != (maps.shape[0],):
        raise ValueError(f"fill must be a scalar or one value per channel ({maps.shape[0]}), got shape {fill.shape}")
    return fill


def _mirror_columns(width: int, content: float, stride: int) -> np.ndarray:
    """Mirrored-map cell (x, cells) that original cell ``0..width-1`` reads: input pixel ``x -> content - 1 - x``."""
    x_in = content - 1.0 - cell_centers(width, stride).astype(np.float64)
    return (x_in - (stride / 2 - 0.5)) / stride


def flip_maps_back(heatmaps: np.ndarray, pafs: np.ndarray, content_width: int, stride: int = STRIDE
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Maps predicted for a horizontally mirrored input -> maps of the original input, on the same grid.

    ``heatmaps [18 or 19, h, w]``, ``pafs [38, h, w]`` (map cells) come from an input whose first
    ``content_width`` input pixels are the mirrored image content (padding on the right, as
    :func:`pose_format.letterbox` makes it: mirror the content, not the padded input). Original cell ``i`` (centred on
    input pixel ``x = 8 i + 3.5``) reads the mirrored maps at input pixel ``content_width - 1 - x``, i.e. cell
    ``content_width / 8 - 1 - i``, by linear interpolation along x (a plain reversal when ``content_width`` is a
    multiple of 8). Keypoint channels swap left/right (:func:`flip_heatmap_channels`; background stays), PAFs move
    to the mirrored limb with x negated (:func:`flip_paf_channels`). Border rule (module doc): cells whose centre
    lies past the content's right edge (``x > content_width - 0.5``, in the padding) have no data in the mirrored
    input and get 0 (background 1); cells within the content are interpolated. Returns float32
    ``(heatmaps, pafs)`` of the input shapes.
    """
    heatmaps, pafs = np.asarray(heatmaps), np.asarray(pafs)
    _check(heatmaps, pafs)
    if not 1 <= content_width <= heatmaps.shape[2] * stride:
        raise ValueError(f"content_width must be in 1..{heatmaps.shape[2] * stride} input pixels, got {content_width}")
    h, w = heatmaps.shape[1:]
    ys = np.arange(h, dtype=np.float64)
    xs = _mirror_columns(w, content_width, stride)
    hm, _ = _sample(flip_heatmap_channels(heatmaps), ys, xs, _fill(heatmaps.shape[0], True))
    pf, _ = _sample(flip_paf_channels(pafs), ys, xs, _fill(NUM_PAFS, False))
    return hm, pf


def _scales_of(geometry: LetterboxMeta | float) -> tuple[float, float]:
    """``(x, y)`` input pixels per image pixel: a meta's :attr:`~pose_format.LetterboxMeta.axis_scales`, or one
    scale for both axes."""
    if isinstance(geometry, LetterboxMeta):
        return geometry.axis_scales
    return float(geometry), float(geometry)


def _source_cells(n_dst: int, src_scale: float, dst_scale: float, stride: int) -> np.ndarray:
    """Source input pixels of the centres of destination cells ``0..n_dst-1`` (same image, another scale):
    ``map_to_input(map_to_image(c, dst_scale), src_scale)`` in float64, exactly ``c`` when the scales are equal."""
    return (cell_centers(n_dst, stride).astype(np.float64) + 0.5) * (src_scale / dst_scale) - 0.5


def resample_maps(maps: np.ndarray, src: LetterboxMeta | float, dst: LetterboxMeta | float,
                  dst_cells: tuple[int, int] | None = None, fill: float | Sequence[float] = 0.0,
                  stride: int = STRIDE) -> np.ndarray:
    """Maps ``[C, h, w]`` computed on the input at scale ``src`` -> the map grid of the input at scale ``dst``.

    ``src`` / ``dst``: :class:`pose_format.LetterboxMeta` of the two letterboxes of the same image, or their
    ``scale`` (input pixels per image pixel; a meta's :attr:`~pose_format.LetterboxMeta.axis_scales` per axis).
    ``dst_cells``: destination grid ``(width, height)`` in cells; default
    ``dst.input_size // stride`` (``dst`` must then be a meta). Destination cell ``i`` is centred on image pixel
    ``map_to_image(8 i + 3.5, s_dst) = (8 i + 4) / s_dst - 0.5``, read at source cell
    ``(map_to_input(that, s_src) - 3.5) / 8`` on both axes, by separable linear interpolation. Border rule: see the
    module doc; ``fill`` (scalar or one per channel) is used more than half a cell outside the source grid (outside
    the source input).
    Returns float32 ``[C, height, width]``.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must be [C, h, w], got shape {maps.shape}")
    if dst_cells is None:
        if not isinstance(dst, LetterboxMeta):
            raise ValueError("dst_cells is required when dst is a scale, not a LetterboxMeta")
        dst_cells = (dst.input_size[0] // stride, dst.input_size[1] // stride)
    (sx_src, sy_src), (sx_dst, sy_dst) = _scales_of(src), _scales_of(dst)
    offset = stride / 2 - 0.5
    xs = (_source_cells(dst_cells[0], sx_src, sx_dst, stride) - offset) / stride
    ys = (_source_cells(dst_cells[1], sy_src, sy_dst, stride) - offset) / stride
    return _sample(maps, ys, xs, _fill_for(maps, fill))[0]


@dataclass(frozen=True)
class MapPrediction:
    """One forward pass of the TTA set: last-stage ``heatmaps [18 or 19, h, w]`` and ``pafs [38, h, w]`` (map
    cells) of the input that ``meta`` describes; ``flipped``: the input's content was mirrored horizontally
    (the maps are those of the mirrored input, not yet flipped back)."""

    heatmaps: np.ndarray
    pafs: np.ndarray
    meta: LetterboxMeta
    flipped: bool = False


def merge_predictions(predictions: Iterable[MapPrediction | tuple], base_meta: LetterboxMeta,
                      stride: int = STRIDE) -> tuple[np.ndarray, np.ndarray]:
    """Average maps over scales and flips on the grid of ``base_meta`` (``input_size // stride`` cells).

    ``predictions``: :class:`MapPrediction` or ``(heatmaps, pafs, meta, flipped)`` tuples of the same image. Each
    is flipped back (when ``flipped``) and resampled onto the base grid in one linear interpolation (the composed
    coordinate maps of :func:`flip_maps_back` and :func:`resample_maps`), then all are averaged with equal weight,
    each cell over the predictions that have data there (module doc; a cell none covers gets the fill values).
    Returns float32 ``(heatmaps, pafs)`` ready for :func:`ov_inference.decode_poses`; decoded poses are in base-input
    pixels, so map them back with ``poses_to_coco(..., meta=base_meta)`` / :meth:`Pose.to_image`. A single unflipped
    prediction at the base geometry is returned unchanged (as float32).
    """
    preds = [p if isinstance(p, MapPrediction) else MapPrediction(*p) for p in predictions]
    if not preds:
        raise ValueError("merge_predictions needs at least one prediction")
    width, height = base_meta.input_size[0] // stride, base_meta.input_size[1] // stride
    offset = stride / 2 - 0.5
    hm_sum = pf_sum = count = None
    for p in preds:
        hm, pf = np.asarray(p.heatmaps), np.asarray(p.pafs)
        _check(hm, pf)
        if hm_sum is not None and hm.shape[0] != hm_sum.shape[0]:
            raise ValueError(f"predictions have {hm_sum.shape[0]} and {hm.shape[0]} heatmap channels")
        (sx_src, sy_src), (sx_dst, sy_dst) = p.meta.axis_scales, base_meta.axis_scales
        xs_in = _source_cells(width, sx_src, sx_dst, stride)
        if p.flipped:
            xs_in = content_width(p.meta) - 1.0 - xs_in
            hm, pf = flip_heatmap_channels(hm), flip_paf_channels(pf)
        xs = (xs_in - offset) / stride
        ys = (_source_cells(height, sy_src, sy_dst, stride) - offset) / stride
        hm, valid = _sample(hm, ys, xs, _fill(hm.shape[0], True))
        pf, _ = _sample(pf, ys, xs, _fill(NUM_PAFS, False))
        if valid is not None:  # no data there: leave those cells out of the average
            hm *= valid
            pf *= valid
        valid = np.ones((height, width), np.float32) if valid is None else valid.astype(np.float32)
        if hm_sum is None:
            hm_sum, pf_sum, count = hm, pf, valid  # fresh float32 arrays from _sample
        else:
            hm_sum += hm
            pf_sum += pf
            count += valid
    if len(preds) == 1 and count.all():
        return hm_sum, pf_sum
    have = count > 0
    inv = np.where(have, 1.0 / np.maximum(count, 1.0), 0.0).astype(np.float32)
    hm_sum *= inv
    pf_sum *= inv
    if not have.all():  # no prediction has data there: the fill values
        np.copyto(hm_sum, _fill(hm_sum.shape[0], True)[:, None, None], where=~have[None])
    return hm_sum, pf_sum
