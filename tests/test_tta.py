"""Test-time augmentation (ov_inference.tta): flip-back and scale resampling of maps, and their average."""
from __future__ import annotations

import numpy as np
import pytest

from ov_inference import (MapPrediction, content_width, decode_poses, flip_maps_back, merge_predictions,
                          resample_maps, scaled_height)
from ov_inference.tta import flip_heatmap_channels, flip_paf_channels
from pose_format import FLIP_PAIRS_18, LIMBS, LetterboxMeta, cell_centers, letterbox, map_to_image
from train.targets import render_heatmaps, render_pafs

#: One upright person facing the camera, input pixels (x, y, v), 18-keypoint order; its right side is on the left.
PERSON = np.array([
    [100, 40, 2], [100, 70, 2], [80, 72, 2], [72, 105, 2], [68, 136, 2], [121, 71, 2], [131, 103, 2], [138, 133, 2],
    [88, 140, 2], [86, 185, 2], [84, 228, 2], [113, 141, 2], [116, 186, 2], [119, 229, 2], [94, 35, 2], [107, 34, 2],
    [88, 39, 2], [113, 38, 2]], np.float32)


def _mirror(kp: np.ndarray, cw: int) -> np.ndarray:
    """Keypoints ``[18, 3]`` of the image mirrored inside a content width ``cw``: x -> cw - 1 - x, left <-> right."""
    out = kp.copy()
    out[:, 0] = cw - 1 - kp[:, 0]
    for r, l in FLIP_PAIRS_18:
        out[[r, l]] = out[[l, r]]
    return out


def _maps(kp: np.ndarray, cw: int, height: int = 256):
    w, h = -(-cw // 8), height // 8
    return render_heatmaps(kp[None], h, w), render_pafs(kp[None], h, w)


@pytest.mark.parametrize("cw", [160, 164, 163, 157])
def test_flip_back_of_mirrored_ground_truth_matches_the_original(cw):
    """Maps of the mirrored person, flipped back, match the original's (``cw`` 160: a multiple of 8, exact
    reversal; 164: every cell half-way between two mirrored cells; 163, 157: other fractions)."""
    kp = PERSON.copy()
    kp[:, 0] += cw / 2 - 100  # centre the person in the content
    hm, pf = _maps(kp, cw)
    hm_m, pf_m = _maps(_mirror(kp, cw), cw)
    hm_b, pf_b = flip_maps_back(hm_m, pf_m, cw)
    assert hm_b.shape == hm.shape and pf_b.shape == pf.shape and hm_b.dtype == np.float32
    if cw % 8 == 0:  # cell centres mirror onto cell centres: the same maps up to float rounding
        np.testing.assert_allclose(hm_b, hm, atol=1e-5)
        assert (np.abs(pf_b - pf) > 1e-4).mean() < 2e-3  # PAF cells exactly on the thickness edge may differ
    else:  # linear interpolation of sigma = 0.875-cell Gaussians: < 1 / (8 sigma^2) = 0.17 (at a peak), small on
        # average; the background (1 - max over keypoints) has kinks where blobs meet: < 0.35
        err = np.abs(hm_b - hm)
        assert err[:18].max() < 0.17 and err[:18].mean() < 0.002 and err[18].max() < 0.35
    # Each keypoint's channel peaks where the original does (left/right swapped back), within half a cell.
    for k in range(18):
        assert np.unravel_index(hm_b[k].argmax(), hm_b[k].shape)[0] == np.unravel_index(hm[k].argmax(), hm[k].shape)[0]
        assert abs(np.argmax(hm_b[k].max(axis=0)) - np.argmax(hm[k].max(axis=0))) <= 1
    # PAF directions: wherever both fields are clearly present, the vectors point the same way (|cos - 1| < 1e-5).
    for limb in range(len(LIMBS)):
        a, b = pf[2 * limb:2 * limb + 2], pf_b[2 * limb:2 * limb + 2]
        na, nb = np.hypot(*a), np.hypot(*b)
        both = (na > 0.5) & (nb > 0.5)
        assert both.sum() >= 1, limb  # face limbs are short: a few cells
        cos = (a * b).sum(axis=0)[both] / (na * nb)[both]
        assert np.all(cos > 1 - 1e-5), (limb, cos.min())
        assert np.abs(nb[na > 0] - 1).mean() < 0.5  # the support overlaps too
    # Decoded from the flipped-back maps, the person is the original one within 1 input pixel.
    (pose,) = decode_poses(hm, pf)
    (pose_b,) = decode_poses(hm_b, pf_b)
    np.testing.assert_allclose(pose_b.keypoints[:, :2], pose.keypoints[:, :2], atol=1.0)
    np.testing.assert_allclose(pose.keypoints[:, :2], kp[:, :2], atol=1.0)


def test_flip_channels_are_involutions_and_the_background_stays():
    rng = np.random.default_rng(0)
    hm, pf = rng.random((19, 3, 5), np.float32), rng.standard_normal((38, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(flip_heatmap_channels(flip_heatmap_channels(hm)), hm)
    np.testing.assert_array_equal(flip_paf_channels(flip_paf_channels(pf)), pf)
    np.testing.assert_array_equal(flip_heatmap_channels(hm)[[2, 5, 0, 1, 18]], hm[[5, 2, 0, 1, 18]])
    # limb (1, 2) neck -> r_shoulder takes limb (1, 5)'s field with x negated.
    i, j = LIMBS.index((1, 2)), LIMBS.index((1, 5))
    np.testing.assert_array_equal(flip_paf_channels(pf)[2 * i], -pf[2 * j])
    np.testing.assert_array_equal(flip_paf_channels(pf)[2 * i + 1], pf[2 * j + 1])
    # A multiple-of-8 content is a plain reversal; twice is the identity.
    hm_b, pf_b = flip_maps_back(hm, pf, 40)
    np.testing.assert_array_equal(hm_b, flip_heatmap_channels(hm)[:, :, ::-1])
    np.testing.assert_allclose(flip_maps_back(*flip_maps_back(hm, pf, 40), 40)[1], pf, atol=1e-6)
    # Content of 35 pixels in 40: the last cell (centre 35.5) is past the content edge (34.5): edge value.
    hm_b, pf_b = flip_maps_back(hm, pf, 35)
    assert (hm_b[18, :, 4] == 1).all() and (hm_b[:18, :, 4] == 0).all() and (pf_b[:, :, 4] == 0).all()
    # Content of 37: the last cell's centre is inside (36.5 > 35.5): it reads 1/8 cell left of mirrored cell 0, the
    # edge value.
    hm_b, _ = flip_maps_back(hm, pf, 37)
    np.testing.assert_allclose(hm_b[:, :, 4], flip_heatmap_channels(hm)[:, :, 0], atol=1e-6)
    with pytest.raises(ValueError):
        flip_maps_back(hm, pf, 41)
    with pytest.raises(ValueError):
        flip_maps_back(hm[:, :2], pf, 40)


def _linear_maps(scale: float | tuple[float, float], cells: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three channels ``1 + 0.5 x``, ``2 - 0.25 y`` and ``x - y`` of image pixels at the centres of ``cells``
    (``scale``: one for both axes or ``(x, y)``)."""
    sx, sy = np.broadcast_to(scale, 2)
    x = map_to_image(cell_centers(cells[0]), sx).astype(np.float64)
    y = map_to_image(cell_centers(cells[1]), sy).astype(np.float64)
    X, Y = np.meshgrid(x, y)
    return np.stack([1 + 0.5 * X, 2 - 0.25 * Y, X - Y]).astype(np.float32), x, y


@pytest.mark.parametrize("src_scale,dst_scale", [(0.5, 1.0), (2.0, 1.0), (1.5, 1.0), (1.0, 1.5), (0.75, 0.5)])
def test_resample_is_exact_for_linear_maps(src_scale, dst_scale):
    """A map linear in image x and y at one scale is, resampled, that function at the other scale's cell centres
    (exact wherever the source position lies inside the source grid)."""
    image_w, image_h = 203, 150
    src_cells = (-(-round(image_w * src_scale) // 8), -(-round(image_h * src_scale) // 8))
    dst_cells = (-(-round(image_w * dst_scale) // 8), -(-round(image_h * dst_scale) // 8))
    src, _, _ = _linear_maps(src_scale, src_cells)
    want, x, y = _linear_maps(dst_scale, dst_cells)
    got = resample_maps(src, src_scale, dst_scale, dst_cells)
    assert got.shape == want.shape and got.dtype == np.float32
    # inside: the destination cell centre in source cells lies within [0, n - 1].
    sx = ((x + 0.5) * src_scale - 0.5 - 3.5) / 8
    sy = ((y + 0.5) * src_scale - 0.5 - 3.5) / 8
    ix = (sx >= 0) & (sx <= src_cells[0] - 1)
    iy = (sy >= 0) & (sy <= src_cells[1] - 1)
    assert ix.sum() >= dst_cells[0] - 3 and iy.sum() >= dst_cells[1] - 3
    np.testing.assert_allclose(got[:, iy][:, :, ix], want[:, iy][:, :, ix], rtol=0, atol=2e-4)
    # Near a border: the nearest edge value (within half a cell of the grid) or the fill value further out.
    far = (sx < -0.5) | (sx > src_cells[0] - 0.5)
    np.testing.assert_array_equal(got[:, :, far], 0.0)


def test_resample_follows_the_letterbox_metas():
    image = np.zeros((150, 203, 3), np.uint8)
    _, m1 = letterbox(image, 96)
    _, m2 = letterbox(image, 192)
    src, _, _ = _linear_maps(m2.axis_scales, (m2.input_size[0] // 8, m2.input_size[1] // 8))
    want, _, _ = _linear_maps(m1.axis_scales, (m1.input_size[0] // 8, m1.input_size[1] // 8))
    got = resample_maps(src, m2, m1)
    np.testing.assert_allclose(got[:, :, :-1], want[:, :, :-1], atol=2e-4)
    np.testing.assert_array_equal(resample_maps(src, m2, m2), src)  # same geometry: unchanged
    assert resample_maps(src, m2, m2) is not src


def test_merge_predictions_of_ground_truth_over_scales_and_flips():
    """GT maps at 4 scales, each also for the mirrored input, average to maps that decode to the person."""
    image = np.zeros((256, 190, 3), np.uint8)
    kp_img = PERSON.copy()
    kp_img[:, 0] -= 5
    preds, base_meta = [], None
    for s in (0.5, 1.0, 1.5, 2.0):
        inp, meta = letterbox(image, scaled_height(256, s))
        cw = content_width(meta)
        assert cw == round(190 * meta.scale) and inp.shape[1] == -(-cw // 8) * 8
        kp = kp_img.copy()
        kp[:, :2] = meta.to_input(kp[:, :2])
        h, w = inp.shape[0] // 8, inp.shape[1] // 8
        preds.append((render_heatmaps(kp[None], h, w), render_pafs(kp[None], h, w), meta, False))
        mk = _mirror(kp, cw)
        preds.append(MapPrediction(render_heatmaps(mk[None], h, w), render_pafs(mk[None], h, w), meta, True))
        if s == 1.0:
            base_meta = meta
    hm, pf = merge_predictions(preds, base_meta)
    assert hm.shape == preds[2][0].shape and pf.shape == preds[2][1].shape
    (pose,) = decode_poses(hm, pf)
    np.testing.assert_allclose(pose.to_image(base_meta).keypoints[:, :2], kp_img[:, :2], atol=1.0)  # ~0.2 mean
    single = merge_predictions(preds[2:3], base_meta)
    np.testing.assert_array_equal(single[0], preds[2][0])
    with pytest.raises(ValueError):
        merge_predictions([], base_meta)


def test_scaled_height_and_content_width():
    assert [scaled_height(368, s) for s in (0.5, 1, 1.5, 2)] == [184, 368, 552, 736]
    assert scaled_height(184, 0.5) == 96 and scaled_height(16, 0.1) == 8  # 11.5 rounds up; at least 8
    with pytest.raises(ValueError):
        scaled_height(368, 0)
    meta = LetterboxMeta(scale=0.5, image_size=(331, 100), input_size=(168, 50))
    assert content_width(meta) == 166
