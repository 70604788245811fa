"""Tracking keeps ids on a moving synthetic sequence; One Euro smoothing reduces jitter without lagging."""
from __future__ import annotations

import numpy as np
import pytest

from ov_inference import OneEuroFilter, Pose, PoseSmoother, PoseTracker
from ov_inference.tracking import greedy_match, keypoint_similarity

# a standing person, 18 keypoints relative to the neck (pixels), OpenPose-COCO order
_BODY = np.array([
    (0, -30), (0, 0), (-25, 0), (-35, 40), (-40, 80), (25, 0), (35, 40), (40, 80), (-15, 90), (-18, 150),
    (-20, 210), (15, 90), (18, 150), (20, 210), (-8, -38), (8, -38), (-15, -32), (15, -32)], dtype=np.float32)


def person(x: float, y: float, scale: float = 1.0, missing: tuple[int, ...] = ()) -> Pose:
    kpts = np.zeros((18, 3), np.float32)
    kpts[:, :2] = _BODY * scale + (x, y)
    kpts[:, 2] = 0.9
    kpts[list(missing)] = 0
    return Pose(kpts, score=10.0)


def test_similarity_is_oks_like():
    a = person(100, 100)
    sim = keypoint_similarity(np.stack([a.keypoints]), np.stack([a.keypoints, person(104, 100).keypoints,
                                                                  person(400, 100).keypoints]))
    assert sim[0, 0] == pytest.approx(1.0)
    assert 0.5 < sim[0, 1] < 1.0 and sim[0, 2] < 1e-3
    no_common = keypoint_similarity(person(0, 0, missing=tuple(range(9))).keypoints[None],
                                    person(0, 0, missing=tuple(range(9, 18))).keypoints[None])
    assert no_common[0, 0] == 0
    assert keypoint_similarity(np.zeros((0, 18, 3)), a.keypoints[None]).shape == (0, 1)


def test_greedy_match_takes_best_pairs_first():
    sim = np.array([[0.9, 0.8], [0.85, 0.1]])
    assert sorted(greedy_match(sim, 0.3)) == [(0, 0)]  # row 1's only good partner was taken; 0.1 is below threshold
    assert sorted(greedy_match(sim, 0.05)) == [(0, 0), (1, 1)]


def test_ids_stay_with_people_across_a_moving_sequence():
    tracker = PoseTracker(max_age=5)
    rng = np.random.default_rng(0)
    ids_by_person: dict[int, set[int]] = {0: set(), 1: set(), 2: set()}
    for t in range(40):
        people = {0: person(100 + 6 * t, 200), 1: person(600 - 5 * t, 230, scale=0.9), 2: person(300, 150 + 2 * t)}
        if 10 <= t < 13:
            del people[2]                                   # occluded for 3 frames
        order = list(people)
        rng.shuffle(order)                                  # detection order means nothing
        poses = [people[k] for k in order]
        for pose in poses:
            pose.keypoints[:, :2] += rng.normal(0, 1.5, (18, 2)).astype(np.float32)   # detector jitter
        tracker.update(poses)
        for k, pose in zip(order, poses):
            ids_by_person[k].add(pose.track_id)
        assert len({p.track_id for p in poses}) == len(poses)
    assert all(len(ids) == 1 for ids in ids_by_person.values()), ids_by_person
    assert len(set().union(*ids_by_person.values())) == 3


@pytest.mark.parametrize("speed, hidden", [(2, 4), (4, 4), (6, 4), (6, 8)])
def test_a_person_hidden_behind_another_does_not_take_their_id(speed, hidden):
    """A walks right, B walks left; B is hidden behind A while they cross. A, always in view, keeps its id (the
    age cascade lets fresh tracks choose first) and B comes back with its own (velocity prediction)."""
    tracker = PoseTracker()
    meet = 30
    for t in range(60):
        a = person(280 - speed * (meet - t), 300)
        b = person(280 + speed * (meet - t), 300)
        seen = [a] if meet - hidden // 2 <= t < meet + hidden // 2 else [a, b]
        tracker.update(seen)
        if t == 0:
            a_id, b_id = a.track_id, b.track_id
        assert a.track_id == a_id, f"frame {t}: A took id {a.track_id}"
        if len(seen) == 2:
            assert b.track_id == b_id, f"frame {t}: B came back as {b.track_id}"


def test_keypoints_missing_for_a_while_do_not_corrupt_the_velocity():
    """A person walking at 10 px/frame whose legs are hidden for 20 frames (behind a desk, a car) keeps its id when
    they come back: the legs' last known positions, 200 px behind, are not taken for one frame's motion."""
    tracker = PoseTracker()
    legs = (8, 9, 10, 11, 12, 13)
    ids = set()
    for t in range(45):
        pose = person(100 + 10 * t, 300, missing=legs if 20 <= t < 40 else ())
        tracker.update([pose])
        ids.add(pose.track_id)
    assert len(ids) == 1, ids
    np.testing.assert_allclose(tracker._tracks[0].velocity, [10, 0], atol=1e-4)


def test_a_person_seen_only_by_the_head_for_a_while_keeps_their_id():
    """A person walking at 3 px/frame of whom only the head is found for 30 frames (body behind a crowd): the body's
    13 keypoints were kept where last seen, 90 px behind, so when the body came back the similarity fell below
    ``min_similarity`` and the person got a new id."""
    tracker = PoseTracker()
    head = (0, 14, 15, 16, 17)
    body = tuple(k for k in range(18) if k not in head)
    ids = set()
    for t in range(50):
        pose = person(100 + 3 * t, 200, missing=body if 10 <= t < 40 else ())
        tracker.update([pose])
        ids.add(pose.track_id)
    assert ids == {0}


@pytest.mark.parametrize("speed", [10, 15, 20])
def test_frames_dropped_irregularly_in_live_mode_do_not_change_ids(speed):
    """Live mode drops stale frames, so the frames inferred are 1 to 3 camera frames (30 FPS) apart: with the velocity
    per update, a person walking at 15-20 px per camera frame was predicted 15-40 px off after a longer gap and got
    new ids (2 to 9 in 100 frames); with the frames' timestamps the prediction spans the real time between them."""
    rng = np.random.default_rng(3)
    tracker, ids, frame = PoseTracker(), set(), 0
    while frame < 100:
        frame += int(rng.choice([1, 1, 2, 3]))
        pose = person(50 + speed * frame, 300)
        tracker.update([pose], timestamp=1000.0 + frame / 30)
        ids.add(pose.track_id)
    assert ids == {0}
    np.testing.assert_allclose(tracker._tracks[0].velocity, [speed * 30, 0], rtol=1e-4)  # pixels per second


def test_tracker_clock_without_usable_timestamps_steps_by_the_last_interval():
    """No timestamp, NaN, a repeated or an earlier one: the clock steps by the last interval between timestamps
    (frames when none was ever given), so the velocity never divides by 0 and ids stay."""
    tracker = PoseTracker()
    stamps = [None, None, 0.0, 0.1, 0.1, float("nan"), None, 0.5, 0.05, 0.15]
    clock = [tracker._tick(t) for t in stamps]
    np.testing.assert_allclose(np.diff(clock), [1, 1, 0.1, 0.1, 0.1, 0.1, 0.4, 0.4, 0.1])
    tracker, ids = PoseTracker(), set()
    for i, t in enumerate(stamps):
        pose = person(100 + 2 * i, 100)
        tracker.update([pose], t)
        ids.add(pose.track_id)
    assert ids == {0}


def test_new_people_get_new_ids_and_stale_tracks_expire():
    tracker = PoseTracker(max_age=2)
    (a,) = tracker.update([person(100, 100)])
    a_id = a.track_id
    for _ in range(3):
        tracker.update([])
    assert tracker.active_ids == []
    (b,) = tracker.update([person(100, 100)])
    assert b.track_id != a_id                               # expired: a fresh id, never a reused one
    c, d = tracker.update([person(100, 100), person(500, 100)])
    assert c.track_id == b.track_id and d.track_id not in (a_id, b.track_id)


def test_min_similarity_zero_never_matches_poses_without_a_shared_keypoint():
    """min_similarity=0 ("any similarity will do") matched a track to a pose sharing no keypoint (similarity 0): a
    lower body took the id of an upper body seen before, wherever it was."""
    tracker = PoseTracker(min_similarity=0.0)
    (upper,) = tracker.update([person(100, 100, missing=tuple(range(8, 14)))])
    (lower,) = tracker.update([person(100, 100, missing=(0, 1, 2, 3, 4, 5, 6, 7, 14, 15, 16, 17))])
    assert lower.track_id != upper.track_id
    assert greedy_match(np.zeros((2, 2)), 0.0) == []
    (again,) = tracker.update([person(101, 100, missing=tuple(range(8, 14)))])  # some similarity: still matches
    assert again.track_id == upper.track_id


def test_tracker_arguments_are_checked():
    with pytest.raises(ValueError):
        PoseTracker(max_age=-1)
    with pytest.raises(ValueError, match="whole number of frames"):
        PoseTracker(max_age=2.5)
    with pytest.raises(ValueError):
        PoseTracker(min_similarity=1.5)
    from pose_format import COCO_SIGMAS_18
    for sigmas in (COCO_SIGMAS_18[1:], -COCO_SIGMAS_18, [float("nan")] * 18):  # COCO's 17 would fail at the 1st update
        with pytest.raises(ValueError, match="sigmas must be 18 positive numbers"):
            PoseTracker(sigmas=sigmas)


def test_one_euro_reduces_jitter_of_a_still_keypoint():
    rng = np.random.default_rng(1)
    truth = np.array([200.0, 120.0])
    noisy = truth + rng.normal(0, 3.0, (120, 2))
    filt = OneEuroFilter(min_cutoff=1.0, beta=0.01, freq=30)
    smooth = np.array([filt(x) for x in noisy])
    raw_err = np.abs(noisy[30:] - truth).mean()
    smooth_err = np.abs(smooth[30:] - truth).mean()
    assert smooth_err < raw_err / 2
    assert np.abs(np.diff(smooth[30:], axis=0)).mean() < np.abs(np.diff(noisy[30:], axis=0)).mean() / 4


def test_one_euro_follows_fast_motion_with_little_lag():
    filt_fast = OneEuroFilter(min_cutoff=1.0, beta=0.05, freq=30)
    filt_slow = OneEuroFilter(min_cutoff=1.0, beta=0.0, freq=30)
    xs = np.arange(60) * 20.0                               # 600 px/s
    lag_fast = [x - filt_fast(np.array([x]))[0] for x in xs][-1]
    lag_slow = [x - filt_slow(np.array([x]))[0] for x in xs][-1]
    assert lag_fast < lag_slow / 3 and lag_fast < 30


def test_pose_smoother_per_track_and_missing_keypoints():
    rng = np.random.default_rng(2)
    smoother = PoseSmoother(min_cutoff=1.0, beta=0.0)
    errors_raw, errors_smooth = [], []
    for t in range(60):
        a = person(300, 200)
        a.track_id = 1
        missing = t == 40
        if missing:
            a.keypoints[4] = 0                               # the wrist drops out for one frame
        clean = a.keypoints.copy()
        a.keypoints[:, :2] += rng.normal(0, 2.0, (18, 2)).astype(np.float32)
        a.keypoints[~(clean[:, 2] > 0)] = 0
        b = person(50, 50)                                  # no track id: passes through untouched
        out_a, out_b = smoother([a, b])
        assert out_a.track_id == 1 and out_b is b
        if missing:
            assert out_a.keypoints[4, 2] == 0 and np.all(out_a.keypoints[4, :2] == 0)
        if t == 41:  # back: restarts from its new value instead of smoothing from (0, 0)
            assert np.abs(out_a.keypoints[4, :2] - clean[4, :2]).max() < 10
        if t >= 20:
            errors_raw.append(np.abs(a.keypoints[:, :2] - clean[:, :2]).mean())
            errors_smooth.append(np.abs(out_a.keypoints[:, :2] - clean[:, :2]).mean())
    assert np.mean(errors_smooth) < np.mean(errors_raw) / 1.5


@pytest.mark.parametrize("timestamps", [True, False])
def test_a_person_back_after_a_gap_is_not_dragged_from_where_they_were_last_seen(timestamps):
    """A tracked person unseen for 5 frames (out of view, a missed detection) reappears 200 px away: the smoother
    blended the new position with the one from before the gap (89 px off), as it does not for a single keypoint
    that goes missing and comes back."""
    smoother = PoseSmoother(beta=0.0)
    for t in range(16):
        pose = person(100 if t < 10 else 300, 100)
        pose.track_id = 3
        out = smoother([pose] if t < 10 or t == 15 else [], t / 30 if timestamps else None)
    np.testing.assert_allclose(out[0].keypoints, pose.keypoints)


def test_a_nan_timestamp_steps_by_one_frame_instead_of_losing_every_keypoint():
    """A stream reporting NaN positions (CAP_PROP_POS_MSEC): the NaN time step made every smoothed keypoint NaN, so
    each came out missing, for the rest of the run (the filter's clock stayed NaN)."""
    smoother = PoseSmoother(freq=10.0)
    for t in (0.0, float("nan"), float("inf"), 0.3):
        pose = person(100, 100)
        pose.track_id = 1
        out = smoother([pose], t)[0]
        assert out.num_keypoints == 18 and np.abs(out.keypoints[:, :2] - pose.keypoints[:, :2]).max() < 1e-3
    filt = OneEuroFilter(freq=10.0)
    filt(np.array([1.0]), float("nan"))
    assert filt(np.array([1.0]), float("nan"))[0] == pytest.approx(1.0)


def test_one_euro_arguments_are_checked():
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)
    with pytest.raises(ValueError):
        PoseSmoother(beta=-1)
    for bad in (dict(min_cutoff=float("nan")), dict(beta=float("nan")), dict(freq=float("inf")), dict(max_age=-1),
                dict(max_age=2.5)):
        with pytest.raises(ValueError):  # each would have turned every keypoint into NaN, or smoothing off
            PoseSmoother(**bad)


def test_non_finite_values_never_reach_tracks_filters_or_json():
    import json

    from ov_inference import Pose, frame_record

    kp = np.zeros((18, 3), np.float32)
    kp[:, :2] = 100.0
    kp[:, 2] = 0.9
    broken = kp.copy()
    broken[1, 0] = np.nan   # neck x
    broken[2, 1] = np.inf   # r_shoulder y
    pose = Pose(broken, float("inf"))
    assert pose.num_keypoints == 16 and np.isfinite(pose.keypoints).all() and np.isfinite(pose.score)
    assert Pose(kp, float("nan")).score == 0.0
    json.dumps(frame_record(0, "a", [pose]), allow_nan=False)  # strict JSON
    tracker = PoseTracker()
    ids = [tracker.update([Pose(k, 1.0)])[0].track_id for k in (kp, broken, kp)]
    assert ids == [ids[0]] * 3  # a NaN keypoint does not start a new track

    f = OneEuroFilter(freq=30.0)
    x = np.array([1.0, 2.0])
    f(x)
    out = f(np.array([np.nan, np.inf]))
    assert np.isnan(out[0]) and np.isinf(out[1])  # returned as given, and ...
    assert np.isfinite(f(x)).all() and np.isfinite(f(x)).all()  # ... the state is not poisoned


def test_a_person_fast_from_the_first_frame_keeps_one_id():
    """A new track has no velocity: a runner at 40-60 px per frame (a 250 px tall person) failed the match with
    their first position and got a new id every frame; two runners side by side keep two ids, and a person who
    appears beyond reach of a vanished one does not inherit the id."""
    for speed in (40, 60):
        tracker = PoseTracker()
        ids = {tracker.update([person(100 + speed * i, 300)])[0].track_id for i in range(20)}
        assert len(ids) == 1, speed
    tracker = PoseTracker()
    pairs = [tracker.update([person(100 + 45 * i, 300), person(100 + 45 * i, 700)]) for i in range(15)]
    assert {p[0].track_id for p in pairs} == {0} and {p[1].track_id for p in pairs} == {1}
    tracker = PoseTracker()
    (first,) = tracker.update([person(100, 300)])
    (elsewhere,) = tracker.update([person(100 + 120, 300)])  # 120 px > half the person's scale (~70 px)
    assert elsewhere.track_id != first.track_id
