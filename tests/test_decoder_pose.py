"""The Pose dataclass: views, box and coordinate mapping."""
import numpy as np
import pytest

from ov_inference import Pose
from pose_format import COCO17_TO_18, NECK, LetterboxMeta


def make_pose() -> Pose:
    kp = np.zeros((18, 3), dtype=np.float32)
    kp[:, 0] = np.arange(18) * 10.0
    kp[:, 1] = 100.0 + np.arange(18)
    kp[:, 2] = 0.5
    kp[[4, 10], :] = 0  # r_wrist and r_ankle missing
    return Pose(kp, score=7.0)


def test_views():
    p = make_pose()
    assert p.keypoints.dtype == np.float32 and p.keypoints.shape == (18, 3)
    assert p.num_keypoints == 16
    assert p.present.tolist() == [k not in (4, 10) for k in range(18)]
    c17 = p.coco17
    assert c17.shape == (17, 3)
    np.testing.assert_array_equal(c17, p.keypoints[list(COCO17_TO_18)])
    assert NECK not in COCO17_TO_18
    assert c17[10, 2] == 0  # COCO right_wrist = our r_wrist (4)


def test_bbox_of_present_keypoints():
    p = make_pose()
    x, y, w, h = p.bbox()
    assert (x, y) == (0.0, 100.0)
    assert (w, h) == (170.0, 17.0)
    assert Pose(np.zeros((18, 3)), 0.0).bbox() == (0.0, 0.0, 0.0, 0.0)


def test_transformed_and_scaled_keep_missing_keypoints_at_zero():
    p = make_pose()
    q = p.scaled(2.0, 0.5, dx=1.0, dy=-1.0)
    present = p.present
    np.testing.assert_allclose(q.keypoints[present, 0], p.keypoints[present, 0] * 2 + 1)
    np.testing.assert_allclose(q.keypoints[present, 1], p.keypoints[present, 1] * 0.5 - 1)
    assert np.all(q.keypoints[~present] == 0)
    np.testing.assert_array_equal(q.keypoints[:, 2], p.keypoints[:, 2])
    assert q.score == p.score and q.track_id == p.track_id
    assert p.keypoints[0, 0] == 0.0 and p.keypoints[1, 0] == 10.0  # the original is untouched
    with pytest.raises(ValueError, match="transform returned"):
        p.transformed(lambda xy: xy[:, :1])


def test_to_image_inverts_letterbox_mapping():
    meta = LetterboxMeta(scale=0.5, image_size=(640, 480), input_size=(320, 240))
    p = make_pose()
    img = p.to_image(meta)
    np.testing.assert_allclose(img.keypoints[p.present, :2], meta.to_image(p.keypoints[p.present, :2]))
    np.testing.assert_allclose(meta.to_input(img.keypoints[p.present, :2]), p.keypoints[p.present, :2], atol=1e-4)


def test_bad_keypoint_shape():
    with pytest.raises(ValueError, match=r"\(18, 3\)"):
        Pose(np.zeros((17, 3)), 1.0)
