"""decode_poses on maps rendered from known people (train.targets), and on degenerate / bad input."""
from __future__ import annotations

import time

import numpy as np
import pytest

from ov_inference import decode_poses
from ov_inference.decoder import DecoderOptions, find_peaks
from pose_format import NUM_KEYPOINTS, STRIDE
from train.targets import render_heatmaps, render_pafs

#: A standing person seen from the front, input pixels relative to the neck (x right, y down), ~170 px tall.
_TEMPLATE = np.array([
    [0, -22], [0, 0], [-22, 1], [-30, 32], [-33, 60], [22, 1], [30, 32], [33, 60],
    [-13, 62], [-15, 105], [-16, 145], [13, 62], [15, 105], [16, 145],
    [-6, -28], [6, -28], [-12, -24], [12, -24],
], dtype=np.float32)


def person(neck_x: float, neck_y: float, scale: float = 1.0, **overrides) -> np.ndarray:
    """``[18, 3]`` (x, y, v=2) keypoints; ``overrides`` maps a keypoint id ``k<id>`` to an absolute (x, y)."""
    kp = np.full((NUM_KEYPOINTS, 3), 2.0, dtype=np.float32)
    kp[:, :2] = _TEMPLATE * scale + (neck_x, neck_y)
    for key, xy in overrides.items():
        kp[int(key[1:]), :2] = xy
    return kp


def maps(people, map_h: int, map_w: int) -> tuple[np.ndarray, np.ndarray]:
    people = np.asarray(people, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)
    return render_heatmaps(people, map_h, map_w), render_pafs(people, map_h, map_w)


def match(poses, people, tol: float) -> list[int]:
    """For each known person, the index of the decoded pose holding all its keypoints within ``tol`` px.

    Fails if a person has no such pose or two people share one (wrong grouping).
    """
    found = []
    for truth in people:
        present = truth[:, 2] > 0
        hits = [i for i, p in enumerate(poses)
                if np.all(p.keypoints[present, 2] > 0)
                and np.abs(p.keypoints[present, :2] - truth[present, :2]).max() <= tol]
        assert len(hits) == 1, f"person {truth[1, :2]}: {len(hits)} matching poses among {len(poses)}"
        found.append(hits[0])
    assert len(set(found)) == len(found)
    return found


def test_single_person_sub_cell_accuracy():
    truth = person(203.3, 57.7, scale=1.1)  # off the cell grid on purpose
    poses = decode_poses(*maps([truth], 46, 57))
    assert len(poses) == 1
    p = poses[0]
    assert p.num_keypoints == NUM_KEYPOINTS
    # Clean Gaussian blobs: the log-parabola refinement recovers positions far below one cell (8 px).
    assert np.abs(p.keypoints[:, :2] - truth[:, :2]).max() < 0.05
    assert np.all(p.keypoints[:, 2] > 0.5) and p.score > NUM_KEYPOINTS * 0.5


def test_five_people_grouped_correctly():
    people = [person(45 + 85.3 * i, 60 + 7 * (i % 2), scale=0.9 + 0.05 * i) for i in range(5)]
    poses = decode_poses(*maps(people, 32, 57))
    assert len(poses) == 5
    match(poses, people, tol=0.1)
    assert [p.score for p in poses] == sorted((p.score for p in poses), reverse=True)


def test_crossing_forearms():
    # A's right forearm (175,140)->(225,150) crosses B's left forearm (230,130)->(185,165) at about (208, 147).
    a = person(150, 100, k2=(130, 100), k3=(175, 140), k4=(225, 150), k6=(168, 130), k7=(160, 158))
    b = person(262, 100, k3=(238, 135), k4=(250, 168), k5=(284, 100), k6=(232, 128), k7=(185, 165))
    poses = decode_poses(*maps([a, b], 46, 57))
    assert len(poses) == 2
    ia, ib = match(poses, [a, b], tol=0.5)  # nearby blobs of the same type bias each other a little
    assert np.allclose(poses[ia].keypoints[4, :2], (225, 150), atol=0.5)
    assert np.allclose(poses[ib].keypoints[7, :2], (185, 165), atol=0.5)


def test_crossing_forearms_of_the_same_limb_type_are_never_swapped():
    # Same crossing, both right forearms: their PAFs share channels and B's overwrites A's where they cross, so A's
    # forearm may be lost (as with the original decoder), but no keypoint may go to the wrong person.
    a = person(150, 100, k2=(130, 100), k3=(175, 140), k4=(225, 150))
    b = person(262, 100, k2=(240, 100), k3=(232, 128), k4=(185, 165))
    poses = decode_poses(*maps([a, b], 46, 57))
    assert len(poses) == 2
    for p in poses:
        truth = a if np.abs(p.keypoints[1, :2] - a[1, :2]).max() < 1 else b
        present = p.keypoints[:, 2] > 0
        assert present.sum() >= NUM_KEYPOINTS - 1
        assert np.abs(p.keypoints[present, :2] - truth[present, :2]).max() < 0.1


def test_overlapping_people():
    front, back = person(180, 80), person(203, 88)  # same pose, ~3 cells apart: limbs and blobs overlap
    poses = decode_poses(*maps([front, back], 46, 57))
    assert len(poses) == 2
    match(poses, [front, back], tol=1.5)


def test_people_at_the_borders():
    h, w = 32, 57
    corner = person(14, 24)  # reaches x ~ -19 (left arm out of the image) and the top edge
    corner[corner[:, 0] < 0, 2] = 0  # keypoints outside the image are not labeled
    corner[corner[:, 1] < 0, 2] = 0
    corner[16, 2] = 0  # its right ear would be left without a labeled neighbour (eye and shoulder are outside)
    right = person(w * STRIDE - 20, 110)  # legs below the bottom edge
    right[right[:, 1] > h * STRIDE - 1, 2] = 0
    right[right[:, 0] > w * STRIDE - 1, 2] = 0
    assert (corner[:, 2] == 0).any() and (right[:, 2] == 0).any()
    poses = decode_poses(*maps([corner, right], h, w))
    assert len(poses) == 2
    match(poses, [corner, right], tol=1.0)


def test_missing_neck_is_rejoined_through_ear_shoulder_limbs():
    truth = person(200, 120)
    truth[1, 2] = 0  # no neck: the tree limbs from the neck cannot grow this person
    poses = decode_poses(*maps([truth], 46, 57), min_keypoints=1)
    biggest = max(poses, key=lambda p: p.num_keypoints)
    # Head (nose, eyes, ears) and both arms come back together through (2, 16) and (5, 17).
    for k in (0, 2, 3, 4, 5, 6, 7, 14, 15, 16, 17):
        assert biggest.keypoints[k, 2] > 0
        assert np.abs(biggest.keypoints[k, :2] - truth[k, :2]).max() < 0.1


def test_18_and_19_channels_and_batch_axis_agree():
    people = [person(100, 60), person(300, 70, scale=0.8)]
    hm, pafs = maps(people, 32, 57)
    ref = decode_poses(hm, pafs)
    for h2, p2 in ((hm[:18], pafs), (hm[None], pafs[None]), (hm.astype(np.float64), pafs.astype(np.float64))):
        got = decode_poses(h2, p2)
        assert len(got) == len(ref)
        for a, b in zip(got, ref):
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4)
            assert a.score == pytest.approx(b.score, rel=1e-5)


def test_stride_scales_coordinates():
    hm, pafs = maps([person(150, 60)], 32, 57)
    p8, p4 = decode_poses(hm, pafs)[0], decode_poses(hm, pafs, stride=4)[0]
    # cell i is centred on stride * i + stride / 2 - 0.5
    np.testing.assert_allclose((p8.keypoints[:, :2] - 3.5) / 8, (p4.keypoints[:, :2] - 1.5) / 4, atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (2, 2), (32, 57)])
def test_all_zero_maps_give_no_people(shape):
    assert decode_poses(np.zeros((19, *shape), np.float32), np.zeros((38, *shape), np.float32)) == []


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (3, 1), (2, 3)])
def test_tiny_maps_do_not_crash(shape):
    rng = np.random.default_rng(0)
    poses = decode_poses(rng.random((19, *shape), dtype=np.float32),
                         rng.uniform(-1, 1, (38, *shape)).astype(np.float32), min_keypoints=1)
    for p in poses:
        present = p.keypoints[:, 2] > 0
        assert np.all(p.keypoints[present, 0] >= -0.5) and np.all(p.keypoints[present, 0] <= shape[1] * STRIDE)


def test_nan_and_inf_are_contained():
    truth = person(200, 90)
    hm, pafs = maps([truth], 46, 57)
    hm[:, 40:, :] = np.nan  # far from the person
    hm[3, 0, 0] = np.inf
    pafs[:, 40:, :] = np.nan
    poses = decode_poses(hm, pafs)
    assert len(poses) == 1
    assert np.abs(poses[0].keypoints[:, :2] - truth[:, :2]).max() < 0.1
    assert np.isfinite(poses[0].score)
    assert decode_poses(np.full((19, 8, 8), np.nan, np.float32), np.full((38, 8, 8), np.nan, np.float32)) == []


def test_noise_is_bounded():
    rng = np.random.default_rng(1)
    hm = rng.random((19, 46, 82), dtype=np.float32)
    pafs = rng.uniform(-1, 1, (38, 46, 82)).astype(np.float32)
    peaks = find_peaks(hm[:18], threshold=0.1, max_per_type=20)
    assert np.diff(peaks.starts).max() == 20  # noise has far more local maxima than that
    # The strongest are kept.
    k0 = hm[0][hm[0] > 0.1]
    assert peaks.conf[peaks.of_type(0)].min() >= np.sort(k0)[-200:].min()
    t0 = time.perf_counter()
    poses = decode_poses(hm, pafs, max_peaks_per_type=20)
    elapsed = time.perf_counter() - t0
    assert len(poses) <= 20 * NUM_KEYPOINTS
    assert elapsed < 5.0  # a loose guard against blow-ups, not a speed target (see benchmarks/bench_decoder.py)
    decode_poses(hm, pafs)  # the default bound also finishes


def test_options_are_applied_and_checked():
    people = [person(100, 60), person(300, 70)]
    hm, pafs = maps(people, 32, 57)
    assert decode_poses(hm, pafs, min_keypoints=19) == []
    assert decode_poses(hm, pafs, peak_threshold=1.5) == []
    few = decode_poses(hm, pafs, max_peaks_per_type=1)
    assert len(few) == 1
    with pytest.raises(TypeError, match="valid options"):
        decode_poses(hm, pafs, threshold=0.2)
    one = DecoderOptions(max_peaks_per_type=1)
    assert len(decode_poses(hm, pafs, decoder_options=one)) == 1
    assert len(decode_poses(hm, pafs, decoder_options=one, max_peaks_per_type=64)) == 2  # keywords override
    with pytest.raises(TypeError, match="valid options"):
        decode_poses(hm, pafs, decoder_options=one, threshold=0.2)
    with pytest.raises(ValueError, match="max_peaks_per_type"):
        DecoderOptions(max_peaks_per_type=0)
    with pytest.raises(TypeError, match="decoder_options must be a DecoderOptions or None, got dict"):
        decode_poses(hm, pafs, decoder_options={"peak_threshold": 0.5})  # was AttributeError: no 'peak_threshold'
    with pytest.raises(ValueError, match="stride"):
        decode_poses(hm, pafs, stride=0)
    for stride in (float("nan"), float("inf"), 8.5, "8", True):  # NaN / inf gave NaN keypoints, "8" a bare '<='
        with pytest.raises(TypeError, match="stride must be a whole number"):
            decode_poses(hm, pafs, stride=stride)
    assert decode_poses(hm, pafs, stride=np.int64(8))[0].score == decode_poses(hm, pafs)[0].score


@pytest.mark.parametrize("valid_size, error", [
    (64, TypeError), ("64", TypeError), ((64,), TypeError), ((64, 32, 1), TypeError),  # a bare int: "cannot unpack"
    (("64", 32), TypeError), ((True, 32), TypeError),
    ((float("nan"), 32), ValueError), ((64, float("inf")), ValueError),  # NaN, inf and negatives were accepted
    ((-1, 32), ValueError), ((64, 0), ValueError),
])
def test_valid_size_must_be_a_pair_of_positive_pixel_sizes(valid_size, error):
    hm, pafs = maps([person(100, 60)], 32, 57)
    with pytest.raises(error, match=r"valid_size must be a \(width, height\) pair of finite positive numbers of input "
                                    r"pixels, got "):
        decode_poses(hm, pafs, valid_size=valid_size)
    assert len(decode_poses(hm, pafs, valid_size=np.array([400, 300], np.float32))) == 1


@pytest.mark.parametrize("hm_shape, paf_shape", [
    ((17, 32, 57), (38, 32, 57)),
    ((19, 32, 57), (36, 32, 57)),
    ((19, 32, 57), (38, 32, 56)),
    ((19, 32), (38, 32)),
    ((19, 0, 57), (38, 0, 57)),
    ((2, 19, 32, 57), (2, 38, 32, 57)),
    ((38, 32, 57), (19, 32, 57)),  # swapped outputs
])
def test_bad_shapes_name_the_expected_ones(hm_shape, paf_shape):
    with pytest.raises(ValueError, match=r"heatmaps \[18 or 19, h, w\] and pafs \[38, h, w\]"):
        decode_poses(np.zeros(hm_shape, np.float32), np.zeros(paf_shape, np.float32))


@pytest.mark.parametrize("dtype", [object, bool, np.complex64])  # complex: imaginary part dropped with a warning
def test_non_real_maps_are_rejected(dtype):
    with pytest.raises(ValueError, match="arrays of real numbers"):
        decode_poses(np.zeros((19, 4, 4), dtype=dtype), np.zeros((38, 4, 4), np.float32))
    with pytest.raises(ValueError, match="arrays of real numbers"):
        decode_poses(np.zeros((19, 4, 4), np.float32), np.zeros((38, 4, 4), dtype=dtype))


def test_ears_without_eyes_are_filled_through_the_shoulders():
    truth = person(200, 120)
    truth[[14, 15], 2] = 0  # no eyes: the ears are reachable only by the ear-shoulder limbs
    poses = decode_poses(*maps([truth], 46, 57))
    assert len(poses) == 1
    assert poses[0].num_keypoints == NUM_KEYPOINTS - 2
    assert np.abs(poses[0].keypoints[[16, 17], :2] - truth[[16, 17], :2]).max() < 0.1


def test_infinite_pafs_give_finite_scores_without_warnings():
    import warnings

    hm, pf = maps([person(100, 60)], 32, 32)
    pf[0] = -np.inf
    pf[2, 5, 5] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning reaches the user
        poses = decode_poses(hm, pf)
    assert poses and all(np.isfinite(p.score) for p in poses)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_heatmap_values_give_no_warnings(dtype):
    """A broken model's heatmaps near or beyond the float32 limit (a garbage .bin): the decoder's finiteness check
    and the float64 -> float32 cast overflow, which must not reach the user as RuntimeWarnings."""
    import warnings

    hm, pf = maps([person(100, 60)], 32, 32)
    hm = hm.astype(dtype)
    hm[:, 20:, :] = 3e38 if dtype == np.float32 else 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        poses = decode_poses(hm, pf.astype(dtype))
    assert all(np.isfinite(p.keypoints).all() and np.isfinite(p.score) for p in poses)


@pytest.mark.parametrize("name, value", [("paf_samples", 5.5), ("max_peaks_per_type", 2.5), ("min_keypoints", 2.5),
                                         ("paf_samples", True)])
def test_count_options_must_be_whole_numbers(name, value):
    """A fractional count was accepted and then failed inside the decoder ('float' object cannot be interpreted as
    an integer) or was silently compared as a fraction: the options name the field instead."""
    with pytest.raises(TypeError, match=name):
        DecoderOptions(**{name: value})
    assert DecoderOptions(**{name: np.int64(5)}).paf_samples >= 2
