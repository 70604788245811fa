"""ov_inference.draw: skeleton and stats drawing."""
from dataclasses import dataclass

import numpy as np
import pytest

from ov_inference.draw import (LIMB_SIDES, STATS_CORNERS, draw_poses, draw_stats, id_color, limb_colors,
                               stats_corner)
from pose_format import LEFT_KEYPOINTS, LIMBS, RIGHT_KEYPOINTS


@dataclass
class _Pose:
    keypoints: np.ndarray
    score: float = 1.0
    track_id: int | None = None


def _person(cx: float, cy: float, s: float = 60.0) -> np.ndarray:
    """An upright 18-keypoint figure centred near (cx, cy); all keypoints present."""
    xy = np.array([
        (0, -1.6), (0, -1.1), (-0.5, -1.1), (-0.7, -0.5), (-0.8, 0.0), (0.5, -1.1), (0.7, -0.5), (0.8, 0.0),
        (-0.3, 0.1), (-0.3, 0.8), (-0.3, 1.5), (0.3, 0.1), (0.3, 0.8), (0.3, 1.5),
        (-0.1, -1.7), (0.1, -1.7), (-0.2, -1.6), (0.2, -1.6),
    ])
    return np.column_stack([cx + s * xy[:, 0], cy + s * xy[:, 1], np.ones(18)]).astype(np.float32)


def test_limb_sides_follow_pose_format():
    for (a, b), side in zip(LIMBS, LIMB_SIDES):
        if side == "left":
            assert a in LEFT_KEYPOINTS or b in LEFT_KEYPOINTS
        elif side == "right":
            assert a in RIGHT_KEYPOINTS or b in RIGHT_KEYPOINTS
        else:
            assert {a, b} <= {0, 1}
    colors = limb_colors()
    assert colors[LIMBS.index((5, 6))] != colors[LIMBS.index((2, 3))]


def test_left_and_right_limbs_get_distinct_colours():
    frame = np.zeros((300, 300, 3), np.uint8)
    kp = _person(150, 150)
    draw_poses(frame, [_Pose(kp)], show_ids=False, left_color=(0, 0, 255), right_color=(255, 0, 0),
               center_color=(0, 255, 0))
    # mid-point of the right upper leg (8 -> 9) is blue, left upper leg (11 -> 12) is red
    r = ((kp[8, :2] + kp[9, :2]) / 2).round().astype(int)
    l = ((kp[11, :2] + kp[12, :2]) / 2).round().astype(int)
    assert tuple(frame[r[1], r[0]]) == (255, 0, 0)
    assert tuple(frame[l[1], l[0]]) == (0, 0, 255)


def test_missing_keypoints_and_limbs_are_not_drawn():
    frame = np.zeros((300, 300, 3), np.uint8)
    kp = _person(150, 150)
    kp[:, 2] = 0
    draw_poses(frame, [_Pose(kp)])
    assert frame.max() == 0
    kp[9, 2] = 1  # a lone keypoint: a dot, no limb
    draw_poses(frame, [_Pose(kp)])
    ys, xs = np.nonzero(frame.any(axis=2))
    assert np.hypot(xs - kp[9, 0], ys - kp[9, 1]).max() < 8


def test_track_id_label_drawn_only_with_id():
    kp = _person(150, 170)
    a = draw_poses(np.zeros((300, 300, 3), np.uint8), [_Pose(kp)], show_ids=True)
    b = draw_poses(np.zeros((300, 300, 3), np.uint8), [_Pose(kp, track_id=7)], show_ids=True)
    c = draw_poses(np.zeros((300, 300, 3), np.uint8), [_Pose(kp, track_id=7)], show_ids=False)
    above = slice(0, int(kp[:, 1].min()) - 6)  # clear of the top keypoint dot
    assert a[above].max() == 0 and c[above].max() == 0
    assert b[above].max() > 0
    assert id_color(1) != id_color(2) and id_color(3) == id_color(3)


def test_ear_shoulder_modes_and_plain_arrays():
    kp = _person(150, 150)
    full = draw_poses(np.zeros((300, 300, 3), np.uint8), [kp], ear_shoulder="full")
    skip = draw_poses(np.zeros((300, 300, 3), np.uint8), [kp], ear_shoulder="skip")
    thin = draw_poses(np.zeros((300, 300, 3), np.uint8), [kp], ear_shoulder="thin")
    n = [int(x.any(axis=2).sum()) for x in (skip, thin, full)]
    assert n[0] < n[1] < n[2]


def test_bad_inputs_get_specific_errors():
    with pytest.raises(ValueError, match="uint8 BGR frame"):
        draw_poses(np.zeros((10, 10), np.float32), [])
    with pytest.raises(ValueError, match=r"\(18, 3\)"):
        draw_poses(np.zeros((10, 10, 3), np.uint8), [np.zeros((17, 3))])
    with pytest.raises(ValueError, match="ear_shoulder"):
        draw_poses(np.zeros((10, 10, 3), np.uint8), [], ear_shoulder="bold")


def test_draw_stats_writes_panel_and_handles_none():
    frame = np.full((240, 320, 3), 200, np.uint8)
    out = draw_stats(frame, 31.4, 22.5, 3)
    assert out is frame
    assert (frame[:40, :60] != 200).any() and (frame[200:, 200:] == 200).all()
    tiny = draw_stats(np.zeros((8, 8, 3), np.uint8), None, None, None, extra=["precision: bf16"])
    assert tiny.shape == (8, 8, 3)
    a = draw_stats(np.zeros((240, 320, 3), np.uint8), 10.0, 5.0, 1)
    b = draw_stats(np.zeros((240, 320, 3), np.uint8), 99.0, 5.0, 1)
    assert (a != b).any()


def _person_at(x: float, y: float) -> _Pose:
    """Every keypoint within 10 px of (x, y), frame pixels."""
    kpts = np.zeros((18, 3), np.float32)
    kpts[:, 0] = x + np.linspace(-10, 10, 18)
    kpts[:, 1] = y + np.linspace(-10, 10, 18)
    kpts[:, 2] = 1.0
    kpts[5, 2] = 0.0  # a missing keypoint is not a point to avoid
    return _Pose(kpts)


def test_draw_stats_in_each_corner():
    regions = {"top-left": (slice(0, 40), slice(0, 60)), "top-right": (slice(0, 40), slice(260, 320)),
               "bottom-left": (slice(200, 240), slice(0, 60)), "bottom-right": (slice(200, 240), slice(260, 320))}
    assert set(regions) == set(STATS_CORNERS)
    for corner in STATS_CORNERS:
        frame = np.full((240, 320, 3), 200, np.uint8)
        draw_stats(frame, 1.0, 2.0, 3, corner=corner)
        for where, region in regions.items():
            assert (frame[region] != 200).any() == (where == corner), (corner, where)
    with pytest.raises(ValueError, match="corner must be one of top-left"):
        draw_stats(np.zeros((50, 50, 3), np.uint8), 1.0, 2.0, 3, corner="middle")


def test_stats_corner_moves_only_for_someone_under_the_panel():
    shape = (360, 640, 3)
    assert stats_corner(shape, []) == "top-left"
    assert stats_corner(shape, [_person_at(320, 180)]) == "top-left"  # nobody under it: stays
    assert stats_corner(shape, [_person_at(30, 30)]) == "top-right"  # someone under it: the first free corner
    both_top = [_person_at(30, 30), _person_at(610, 30)]
    assert stats_corner(shape, both_top) == "bottom-left"
    # hysteresis: once moved, it stays while it hides no one, even with the top-left free again
    assert stats_corner(shape, [_person_at(610, 330)], current="top-right") == "top-right"
    # every corner busy: stays where it is unless another hides fewer keypoints
    crowd = [_person_at(x, y) for x in (30, 610) for y in (30, 330)]
    assert stats_corner(shape, crowd, current="bottom-right") == "bottom-right"
    assert stats_corner(shape, crowd[:1] + crowd, current="top-left") == "top-right"
    # the panel's width follows its lines: a long extra line reaches a person further right
    wide = ["x" * 40]  # about 250 px at this frame's font scale; the three standard lines about 100 px
    assert stats_corner(shape, [_person_at(200, 20)], extra=wide) == "top-right"
    assert stats_corner(shape, [_person_at(200, 20)]) == "top-left"
