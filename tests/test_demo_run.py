"""The real demo (demos.live / python -m demos) with Intel's OMZ IR (random weights) on synthetic inputs."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from demos.clip import write_synthetic_clip
from demos.live import DemoOptions, FpsMeter, _open_input, run_demo
from ov_inference import SourceError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_synthetic_clip(tmp_path_factory.mktemp("clip") / "people.mp4", frames=6, width=320, height=192)


def test_demo_writes_annotated_video(omz_xml, clip, tmp_path):
    out = tmp_path / "annotated.mp4"
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=out, window=False, serve=0,
                                   progress=False))
    assert summary.frames == 6 and summary.errors == 0 and summary.dropped == 0
    assert summary.model_kind == "omz" and summary.execution_precision in ("f32", "bf16", "f16")
    assert summary.url.startswith("http://127.0.0.1:")
    assert summary.latency_ms_p50 > 0 and summary.fps > 0
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, annotated = cap.read()
    src = cv2.VideoCapture(str(clip))
    _, original = src.read()
    assert ok and annotated.shape == original.shape
    # the stats panel (top-left) was drawn: that corner differs from the input clip
    diff = np.abs(annotated[:40, :100].astype(int) - original[:40, :100].astype(int)).mean()
    assert diff > 20


def test_demo_images_folder_skips_unreadable_with_its_path(omz_xml, tmp_path, caplog):
    images = tmp_path / "imgs"
    images.mkdir()
    cv2.imwrite(str(images / "a.jpg"), np.full((120, 200, 3), 90, np.uint8))
    (images / "b.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(images / "c.png"), np.full((90, 90), 200, np.uint8))  # gray is fine
    summary = run_demo(DemoOptions(model=omz_xml, input=str(images), output=tmp_path / "out", window=False,
                                   progress=False))
    assert summary.frames == 2 and summary.errors == 1
    assert "b.jpg" in summary.error_messages[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "c.jpg"]


def test_cli_errors_are_clear(omz_xml, tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "demos", "--model", str(omz_xml), "--quiet", *args],
                              capture_output=True, text=True, timeout=120)

    r = run("--input", str(tmp_path / "missing.mp4"), "--output", str(tmp_path / "o.mp4"))
    assert r.returncode == 2 and "not found" in r.stderr and "missing.mp4" in r.stderr and "Traceback" not in r.stderr
    r = run("--input", str(tmp_path), "--output", str(tmp_path / "o.mp4"))
    assert r.returncode == 2 and "no images" in r.stderr
    (tmp_path / "x.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))[1].tobytes())
    r = run("--input", str(tmp_path / "x.jpg"), "--no-window")
    assert r.returncode == 2 and "--output" in r.stderr and "--serve" in r.stderr
    r = run("--input", str(tmp_path / "x.jpg"), "--output", str(tmp_path / "o"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["frames"] == 1
    r = subprocess.run([sys.executable, "-m", "demos", "--model", str(tmp_path / "nope.xml"), "--input",
                        str(tmp_path / "x.jpg"), "--no-window", "--output", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "nope.xml" in r.stderr and "Traceback" not in r.stderr


def test_glob_input_tracking_smoothing_and_fps_meter(omz_xml, clip, tmp_path):
    for name in ("b.png", "a.png", "skip.txt"):
        (tmp_path / name).write_bytes(cv2.imencode(".png", np.zeros((48, 64, 3), np.uint8))[1].tobytes())
    src = _open_input(str(tmp_path / "*.png"))
    assert [f.source for f in src] == [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    with pytest.raises(SourceError, match="no files match"):
        _open_input(str(tmp_path / "*.jpg"))
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "t.avi", window=False,
                                   track=True, smooth=True, max_frames=3, progress=False))
    assert summary.frames == 3 and (tmp_path / "t.avi").stat().st_size > 0
    meter = FpsMeter(window=1.0)
    assert meter.tick(0.0) is None
    for i in range(1, 11):
        fps = meter.tick(i * 0.1)
    assert fps == pytest.approx(10.0)


def test_live_source_runs_in_live_mode_and_drops_stale_frames(omz_xml, clip, tmp_path, monkeypatch):
    """A camera-like (live) source: the pipeline's live mode; every frame is either shown or counted as dropped."""
    import demos.live as live
    from ov_inference.sources import VideoSource

    monkeypatch.setattr(live, "_open_input", lambda spec: VideoSource(str(clip), live=True))
    summary = run_demo(DemoOptions(model=omz_xml, input="0", output=tmp_path / "cam.mp4", window=False,
                                   progress=False))
    assert summary.frames >= 1 and summary.frames + summary.dropped == 6 and summary.errors == 0


def test_track_and_smooth_are_off_for_images_with_a_warning(omz_xml, clip, tmp_path, monkeypatch, capsys):
    """Unrelated photos must not share a tracker or a smoother (a pose carried from one photo into the next)."""
    import demos.live as live
    import ov_inference

    made, shown_ids = [], []

    class SpyTracker(ov_inference.PoseTracker):
        def __init__(self, *a, **kw):
            made.append("tracker")
            super().__init__(*a, **kw)

    class SpySmoother(ov_inference.PoseSmoother):
        def __init__(self, *a, **kw):
            made.append("smoother")
            super().__init__(*a, **kw)

    def spy_draw(frame, poses, show_ids=False, **kw):
        shown_ids.append(show_ids)
        return live_draw(frame, poses, show_ids=show_ids, **kw)

    live_draw = live.draw_poses
    monkeypatch.setattr(ov_inference, "PoseTracker", SpyTracker)
    monkeypatch.setattr(ov_inference, "PoseSmoother", SpySmoother)
    monkeypatch.setattr(live, "draw_poses", spy_draw)
    images = tmp_path / "photos"
    images.mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(images / name), np.full((96, 128, 3), 120, np.uint8))
    for spec, frames in ((images, 2), (images / "a.jpg", 1), (images / "*.jpg", 2)):
        summary = run_demo(DemoOptions(model=omz_xml, input=str(spec), output=tmp_path / "out", window=False,
                                       track=True, smooth=True, progress=False))
        err = capsys.readouterr().err
        assert summary.frames == frames
        assert "warning: --track and --smooth ignored for images" in err
        assert len(summary.warnings) == 1 and "--track and --smooth" in summary.warnings[0]
        assert made == [] and shown_ids and not any(shown_ids)
    summary = run_demo(DemoOptions(model=omz_xml, input=str(images), output=tmp_path / "out", window=False,
                                   smooth=True, progress=False))
    assert summary.warnings == [f"--smooth ignored for images ({images}): each image is processed on its own, "
                                "tracking and smoothing need a video or a camera"]
    assert "lwpose-demo: warning: --smooth ignored" in capsys.readouterr().err
    # a video keeps both, with ids drawn, and no warning
    shown_ids.clear()
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "v.avi", window=False,
                                   track=True, smooth=True, max_frames=2, progress=False))
    assert made == ["tracker", "smoother"] and summary.warnings == [] and all(shown_ids)
    assert "warning" not in capsys.readouterr().err
