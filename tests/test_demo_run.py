"""The real demo (demos.live / python -m demos) with Intel's OMZ IR (random weights) on synthetic inputs."""
import json
import socket
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from demos.clip import write_synthetic_clip
from demos.live import DemoOptions, FpsMeter, run_demo
from ov_inference import SourceError, open_source


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
    src = open_source(str(tmp_path / "*.png"))
    assert [f.source for f in src] == [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    with pytest.raises(SourceError, match="no files match"):
        open_source(str(tmp_path / "*.jpg"))
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

    import demos.sinks as sinks

    opened = []

    class SpySink(sinks.VideoSink):
        def __init__(self, *args, **kwargs):
            opened.append(kwargs.get("measure"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sinks, "VideoSink", SpySink)
    monkeypatch.setattr(live, "open_source", lambda spec: VideoSource(str(clip), live=True))
    summary = run_demo(DemoOptions(model=omz_xml, input="0", output=tmp_path / "cam.mp4", window=False,
                                   progress=False))
    assert summary.frames >= 1 and summary.frames + summary.dropped == 6 and summary.errors == 0
    # the video plays at the rate frames came out, not the camera's (dropped frames made it play too fast)
    assert opened == [True]


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
    # so does an image sequence pattern ('frame%04d.jpg': a video's frames, not unrelated photos)
    made.clear(), shown_ids.clear()
    (tmp_path / "seq").mkdir()
    for n in (1, 2):
        cv2.imwrite(str(tmp_path / "seq" / f"f{n:04d}.jpg"), np.full((96, 128, 3), 120, np.uint8))
    summary = run_demo(DemoOptions(model=omz_xml, input=str(tmp_path / "seq" / "f%04d.jpg"), output=tmp_path / "s",
                                   window=False, track=True, smooth=True, progress=False))
    assert summary.frames == 2 and made == ["tracker", "smoother"] and all(shown_ids)
    assert not any("ignored for images" in w for w in summary.warnings)


def _video_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def _raw_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_loop_processes_exactly_max_frames_in_order_and_restarts_tracks(omz_xml, clip, tmp_path, monkeypatch,
                                                                         capsys):
    """--loop --max-frames 15 over a 6-frame clip: 15 frames, in order, 3 passes, tracks and filters reset twice."""
    import ov_inference

    resets = []

    class SpyTracker(ov_inference.PoseTracker):
        def reset(self):
            resets.append("tracker")
            super().reset()

    class SpySmoother(ov_inference.PoseSmoother):
        def reset(self):
            resets.append("smoother")
            super().reset()

    monkeypatch.setattr(ov_inference, "PoseTracker", SpyTracker)
    monkeypatch.setattr(ov_inference, "PoseSmoother", SpySmoother)
    out = tmp_path / "looped.avi"
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=out, window=False, track=True, smooth=True,
                                   loop=True, max_frames=15, raw=True, progress=False))
    assert summary.frames == 15 and summary.errors == 0 and summary.dropped == 0
    assert summary.loops == 3 and summary.output_frames == 15 and summary.warnings == []
    assert sorted(resets) == ["smoother", "smoother", "tracker", "tracker"]
    assert len(_video_frames(out)) == 15
    records = _raw_lines(capsys.readouterr().out)
    assert [r["frame_index"] for r in records] == list(range(15))  # ordered mode keeps order across restarts
    assert [r["loop"] for r in records] == [0] * 6 + [1] * 6 + [2] * 3
    stamps = [r["timestamp"] for r in records]
    assert stamps[:6] == stamps[6:12] and stamps[12:] == stamps[:3]  # each pass restarts at the video's start
    ids_first_pass = {p["track_id"] for r in records[:6] for p in r["people"]}
    ids_second_pass = {p["track_id"] for r in records[6:12] for p in r["people"]}
    assert ids_first_pass and not ids_first_pass & ids_second_pass  # nobody is carried over the restart


class _Announcing:
    """A real capture of a file that announces ``count`` frames (``-1``: none, as a camera)."""

    count = 10

    def __init__(self, *args):
        self._capture = _REAL_CAPTURE(*args)

    def get(self, prop):
        return self.count if prop == cv2.CAP_PROP_FRAME_COUNT else self._capture.get(prop)

    def __getattr__(self, name):
        return getattr(self._capture, name)


_REAL_CAPTURE = cv2.VideoCapture


class _NoFrameRate(_Announcing):
    """A real capture of a file whose frame rate is unknown (reported as 0)."""

    def get(self, prop):
        return 0.0 if prop == cv2.CAP_PROP_FPS else self._capture.get(prop)


def test_a_video_of_unknown_frame_rate_is_tracked_and_smoothed_on_its_own_timestamps(omz_xml, clip, monkeypatch,
                                                                                      capsys):
    """The tracker and the smoother get each frame's position in the video, as in lwpose-infer; for a video of
    unknown frame rate they got the processing time, so a slow machine looked like slow motion to them."""
    import ov_inference

    stamps = {"tracker": [], "smoother": []}

    class SpyTracker(ov_inference.PoseTracker):
        def update(self, poses, timestamp=None):
            stamps["tracker"].append(timestamp)
            return super().update(poses, timestamp)

    class SpySmoother(ov_inference.PoseSmoother):
        def __call__(self, poses, timestamp=None):
            stamps["smoother"].append(timestamp)
            return super().__call__(poses, timestamp)

    monkeypatch.setattr(ov_inference, "PoseTracker", SpyTracker)
    monkeypatch.setattr(ov_inference, "PoseSmoother", SpySmoother)
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _NoFrameRate)
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), window=False, smooth=True, raw=True,
                                   progress=False))
    assert summary.frames == 6
    positions = [r["timestamp"] for r in _raw_lines(capsys.readouterr().out)]
    assert positions[0] == 0.0 and positions[-1] > 0
    assert stamps["tracker"] == stamps["smoother"] == pytest.approx(positions, abs=1e-3)  # raw rounds to 4 places


def test_a_video_or_camera_ending_early_is_a_summary_warning(omz_xml, clip, tmp_path, monkeypatch):
    """A file that ends before its announced frame count, or a camera (no announced count) that stops by itself:
    a warning in the summary, not only a log line. A source that delivers all it announced ended normally, even
    when read live (the camera-like clip of the tests): no warning."""
    import demos.live as live
    from ov_inference.sources import VideoSource

    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _Announcing)
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "a.mp4", window=False,
                                   progress=False))
    assert summary.frames == 6 and summary.errors == 0
    assert summary.warnings == [f"video {clip} ended early: 6 of 10 announced frames read (the frames read are kept)"]
    monkeypatch.setattr(_Announcing, "count", -1)
    monkeypatch.setattr(live, "open_source", lambda spec: VideoSource(str(clip), live=True))
    summary = run_demo(DemoOptions(model=omz_xml, input="0", output=tmp_path / "b.mp4", window=False,
                                   progress=False))
    assert summary.frames + summary.dropped == 6 and summary.errors == 0
    assert summary.warnings == [f"{clip} stopped delivering frames after 6 frame(s) (the frames received are kept)"]
    monkeypatch.setattr(_Announcing, "count", 6)
    summary = run_demo(DemoOptions(model=omz_xml, input="0", output=tmp_path / "c.mp4", window=False,
                                   progress=False))
    assert summary.frames + summary.dropped == 6 and summary.warnings == []
    # stopping on --max-frames is not the video ending early
    monkeypatch.setattr(_Announcing, "count", 10)
    monkeypatch.setattr(live, "open_source", lambda spec: VideoSource(str(clip)))
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "d.mp4", window=False,
                                   max_frames=3, progress=False))
    assert summary.frames == 3 and summary.warnings == []


def test_a_setup_failure_after_the_output_opened_closes_it_and_removes_what_it_created(omz_xml, clip, tmp_path,
                                                                                        monkeypatch):
    """A model that fails to compile after --output was opened: the sink is closed, and the folders this run made
    for the output go (an empty folder was left behind); folders that were there before stay. (A busy --serve port
    is no such failure now: it is found before the output opens.)"""
    import demos.live as live
    from ov_inference.estimator import PoseEstimator

    closed = []

    def spy_open_sink(*args, **kwargs):
        sink = live.open_sink.__wrapped__(*args, **kwargs)
        original = sink.close
        sink.close = lambda: (closed.append(sink), original())
        return sink

    def cannot_compile(self, size=None):
        raise OSError("cannot compile the model")

    spy_open_sink.__wrapped__ = live.open_sink
    monkeypatch.setattr(live, "open_sink", spy_open_sink)
    monkeypatch.setattr(PoseEstimator, "prepare", cannot_compile)
    (tmp_path / "kept").mkdir()
    for output in (tmp_path / "new" / "frames", tmp_path / "new" / "deeper" / "a.mp4", tmp_path / "kept" / "out"):
        with pytest.raises(OSError, match="cannot compile"):
            run_demo(DemoOptions(model=omz_xml, input=str(clip), output=output, serve=0, window=False,
                                 progress=False))
    assert len(closed) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"] and list((tmp_path / "kept").iterdir()) == []


def test_loop_images_camera_and_unreadable_inputs(omz_xml, clip, tmp_path, monkeypatch):
    import demos.live as live
    from ov_inference.sources import VideoSource

    images = tmp_path / "imgs"
    images.mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(images / name), np.full((96, 128, 3), 120, np.uint8))
    summary = run_demo(DemoOptions(model=omz_xml, input=str(images), output=tmp_path / "out", window=False,
                                   loop=True, max_frames=5, progress=False))
    assert summary.frames == 5 and summary.loops == 3 and summary.output_frames == 5
    # a folder whose images are all unreadable would loop forever: it stops after one pass, with a warning
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_bytes(b"not a jpeg")
    summary = run_demo(DemoOptions(model=omz_xml, input=str(bad), output=tmp_path / "out2", window=False, loop=True,
                                   progress=False))
    assert summary.frames == 0 and summary.errors == 1 and summary.loops == 1
    assert any("--loop stopped" in w and "no readable frame" in w for w in summary.warnings)
    # a camera ignores --loop (it does not end): a warning, and the run ends with the stream
    monkeypatch.setattr(live, "open_source", lambda spec: VideoSource(str(clip), live=True))
    summary = run_demo(DemoOptions(model=omz_xml, input="0", output=tmp_path / "cam.mp4", window=False, loop=True,
                                   progress=False))
    assert summary.frames + summary.dropped == 6 and summary.loops == 1
    assert summary.warnings == [f"--loop ignored for a live source ({clip}): a camera or live stream does not end"]


def test_requests_and_threads_reach_the_pipeline_and_compiled_model(omz_xml, clip, tmp_path, monkeypatch):
    from ov_inference.pipeline import AsyncPipeline

    queues = []
    original = AsyncPipeline._queue_for

    def spy_queue_for(self, size):
        queue = original(self, size)
        queues.append(len(queue))
        return queue

    monkeypatch.setattr(AsyncPipeline, "_queue_for", spy_queue_for)
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "r.avi", window=False,
                                   num_requests=3, num_threads=1, max_frames=4, progress=False))
    assert summary.frames == 4 and summary.num_requests == 3 and set(queues) == {3}
    assert summary.num_threads == 1  # INFERENCE_NUM_THREADS read back from the compiled model
    queues.clear()
    default = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "d.avi", window=False,
                                   max_frames=2, progress=False))
    assert default.num_requests >= 2 and set(queues) == {default.num_requests}  # device optimum, >= 2 for files
    assert default.num_threads >= 1
    for bad, flag in ((dict(num_requests=0), "--requests"), (dict(num_threads=0), "--threads"),
                      (dict(output_limit=-1), "--output-limit")):
        with pytest.raises(ValueError, match=flag):
            run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "x.avi", window=False, **bad))


def test_threads_apply_to_the_cpu_device_only(capsys):
    from demos.live import DemoSummary, _compile_config

    summary = DemoSummary()
    assert _compile_config(DemoOptions(model="m.xml", input="0", num_threads=3), summary) == {
        "INFERENCE_NUM_THREADS": 3}
    assert _compile_config(DemoOptions(model="m.xml", input="0", device="GPU", num_threads=3), summary) == {}
    assert summary.warnings == ["--threads ignored for device GPU: it sets the CPU plugin's inference threads"]
    assert "warning: --threads ignored" in capsys.readouterr().err


def test_output_limit_and_output_size(omz_xml, clip, tmp_path, monkeypatch):
    """4 of 6 frames written, scaled to fit 160x160 (aspect kept: 160x96), the web view gets every scaled frame
    with the CPU load; without anything else to show, the demo stops at the limit."""
    import demos.live as live
    from demos.serve import LiveView

    published = []
    original = LiveView.publish

    def spy_publish(self, frame, **stats):
        published.append((frame.shape, stats))
        return original(self, frame, **stats)

    monkeypatch.setattr(LiveView, "publish", spy_publish)
    monkeypatch.setattr(live, "CPU_LOAD_INTERVAL", 0.0)  # a 6-frame run is shorter than the default 0.5 s
    panels = []
    live_draw_stats = live.draw_stats
    monkeypatch.setattr(live, "draw_stats", lambda frame, *a, extra=(), **kw: (
        panels.append(list(extra)), live_draw_stats(frame, *a, extra=extra, **kw))[1])
    out = tmp_path / "limited.mp4"
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=out, window=False, serve=0,
                                   output_limit=4, output_size=(160, 160), progress=False))
    assert summary.frames == 6 and summary.output_frames == 4
    written = _video_frames(out)
    assert len(written) == 4 and written[0].shape == (96, 160, 3)
    assert [shape for shape, _ in published] == [(96, 160, 3)] * 6
    loads = [stats for _, stats in published if "cpu_process_percent" in stats]
    assert loads and all(0 <= s["cpu_process_percent"] <= 100 and 0 <= s["cpu_system_percent"] <= 100 for s in loads)
    assert any(line.startswith("CPU: ") and line.endswith("% machine") for extra in panels for line in extra)
    stopped = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "s.mp4", window=False,
                                   output_limit=2, progress=False))
    assert stopped.frames == 2 and stopped.output_frames == 2 and len(_video_frames(tmp_path / "s.mp4")) == 2


def test_stats_panel_follows_the_corner_that_hides_no_one(omz_xml, clip, tmp_path, monkeypatch):
    """Each frame asks stats_corner with the poses drawn and the panel's current corner; the panel goes there."""
    from demos import live

    asked, drawn = [], []
    choose = iter(["top-left", "bottom-right", "bottom-right", "top-right", "top-right", "top-right"])

    def spy_corner(shape, poses, current, extra):
        asked.append((shape, len(list(poses)), current))
        return next(choose)

    live_draw_stats = live.draw_stats
    monkeypatch.setattr(live, "stats_corner", spy_corner)
    monkeypatch.setattr(live, "draw_stats", lambda frame, *a, corner="top-left", **kw: (
        drawn.append(corner), live_draw_stats(frame, *a, corner=corner, **kw))[1])
    out = tmp_path / "corners.mp4"
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=out, window=False, progress=False))
    assert summary.frames == 6
    assert [current for _, _, current in asked] == ["top-left", "top-left", "bottom-right", "bottom-right",
                                                    "top-right", "top-right"]
    assert drawn == ["top-left", "bottom-right", "bottom-right", "top-right", "top-right", "top-right"]
    assert all(shape == (192, 320, 3) for shape, _, _ in asked)
    assert len(_video_frames(out)) == 6  # (where each corner's panel lands: test_demo_draw)


def test_output_never_overwrites_the_input(omz_xml, clip, tmp_path):
    """-o naming the input video, or the folder of the input photos, is refused before anything is written."""
    video = tmp_path / "in.mp4"
    video.write_bytes(clip.read_bytes())
    with pytest.raises(ValueError, match="input file"):
        run_demo(DemoOptions(model=omz_xml, input=str(video), output=tmp_path / "." / "in.mp4", window=False,
                             progress=False))
    assert video.read_bytes() == clip.read_bytes()
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.jpg"), np.full((80, 120, 3), 90, np.uint8))
    before = (photos / "a.jpg").read_bytes()
    with pytest.raises(ValueError, match="folder of the input images"):
        run_demo(DemoOptions(model=omz_xml, input=str(photos), output=photos, window=False, progress=False))
    assert (photos / "a.jpg").read_bytes() == before and len(list(photos.iterdir())) == 1


def test_cli_keep_serving_is_finite_and_raw_into_a_closed_pipe_is_quiet(omz_xml, clip, tmp_path):
    r = subprocess.run([sys.executable, "-m", "demos", "-m", str(omz_xml), "-i", str(clip), "--serve", "0",
                        "--keep-serving", "inf"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--keep-serving" in r.stderr and "Traceback" not in r.stderr
    out = tmp_path / "raw.mp4"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c",
                           f"{sys.executable} -m demos -m {omz_xml} -i {clip} -o {out} --raw --quiet | head -c 10"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # pipefail: the demo's own status
    assert len(proc.stdout) == 10 and "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr


def test_output_size_parsing_and_fit():
    from demos.output_size import fit_size, parse_size, resize_to_fit

    assert parse_size("640x480") == (640, 480) and parse_size(" 1280 X 720 ") == (1280, 720)
    for bad in ("640", "0x480", "axb", "640x480x3", "99999x720"):
        with pytest.raises(ValueError, match="WIDTHxHEIGHT|at least 1x1|at most 4096"):
            parse_size(bad)
    assert fit_size((320, 192), (160, 160)) == (160, 96)
    assert fit_size((320, 192), (1280, 720)) == (1200, 720)  # enlarging keeps the aspect ratio too
    frame = np.zeros((192, 320, 3), np.uint8)
    same, factors = resize_to_fit(frame, (320, 500))
    assert same is frame and factors == (1.0, 1.0)
    small, (sx, sy) = resize_to_fit(frame, (160, 160))
    assert small.shape == (96, 160, 3) and sx == pytest.approx(0.5) and sy == pytest.approx(0.5)


def test_cli_raw_json_lines_and_new_flags(omz_xml, clip, tmp_path, capsys):
    """--raw: one JSON line per frame on stdout (COCO-17 x, y, v + scores, person score); OMZ spellings accepted."""
    from demos.__main__ import build_parser, main

    args = build_parser().parse_args(["--model", "m", "--input", "0", "-nireq", "2", "-nthreads", "1", "-limit", "5",
                                      "--output_resolution", "640x480", "-r", "--loop"])
    assert (args.requests, args.threads, args.output_limit, args.output_size, args.raw, args.loop) == (
        2, 1, 5, (640, 480), True, True)
    for bad in (["--output-size", "640"], ["--requests", "0"], ["--output-limit", "-1"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--model", "m", "--input", "0", *bad])
    capsys.readouterr()
    rc = main(["--model", str(omz_xml), "--input", str(clip), "--output", str(tmp_path / "o.avi"), "--raw",
               "--quiet", "--max-frames", "3", "--requests", "2", "--threads", "1", "--serve", "0"])
    out, err = capsys.readouterr()
    assert rc == 0
    records = _raw_lines(out)  # stdout holds nothing but the JSON lines
    assert [r["frame_index"] for r in records] == [0, 1, 2] and "loop" not in records[0]
    assert records[0]["image_size"] == [320, 192] and records[0]["error"] is None
    person = records[0]["people"][0]  # random weights still find "people"
    assert len(person["keypoints"]) == 51 and len(person["keypoint_scores"]) == 17 and person["score"] > 0
    xs, ys = person["keypoints"][0::3], person["keypoints"][1::3]
    assert 0 <= min(xs) and max(xs) <= 319 and 0 <= min(ys) and max(ys) <= 191
    assert "3 frames" in err and "2 requests, 1 threads" in err and "live view: http://" in err
    rc = main(["--model", str(omz_xml), "--input", str(clip), "--output", str(tmp_path / "o.avi"), "--raw",
               "--quiet", "--max-frames", "2", "--json"])
    lines = _raw_lines(capsys.readouterr().out)
    assert rc == 0 and len(lines) == 3 and lines[-1]["summary"]["frames"] == 2


def test_cli_json_with_serve_keeps_stdout_one_json_document(omz_xml, clip, capsys):
    """--json --serve: the live view's address is a status message (stderr); stdout parses as the summary."""
    from demos.__main__ import main

    capsys.readouterr()
    rc = main(["--model", str(omz_xml), "--input", str(clip), "--no-window", "--serve", "0", "--quiet",
               "--max-frames", "1", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0 and json.loads(out)["url"].startswith("http://127.0.0.1:") and "live view: http://" in err


def test_interrupt_while_compiling_closes_the_live_view(omz_xml, clip, tmp_path, monkeypatch):
    """Ctrl+C (or a compile error) before the first frame, after the live view opened: its server stops."""
    import demos.serve as serve
    from ov_inference.estimator import PoseEstimator

    views = []

    class RecordedView(serve.LiveView):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            views.append(self)

    def interrupted(self, frame_size):
        raise KeyboardInterrupt

    monkeypatch.setattr(serve, "LiveView", RecordedView)
    monkeypatch.setattr(PoseEstimator, "prepare", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "o.mp4", window=False, serve=0,
                             progress=False))
    assert len(views) == 1 and views[0].closed
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", views[0].port), timeout=1).close()


def test_empty_output_is_refused_before_writing_into_the_current_folder(omz_xml, clip, tmp_path, monkeypatch,
                                                                        capsys):
    """``-o ""`` (an unset shell variable) was an image folder named "": the current folder, silently."""
    from demos.__main__ import main

    monkeypatch.chdir(tmp_path)
    rc = main(["--model", str(omz_xml), "--input", str(clip), "--no-window", "--output", "", "--quiet"])
    assert rc == 2 and "--output is empty" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_no_readable_image_leaves_no_empty_output_folder(omz_xml, tmp_path):
    """Every input image unreadable: nothing is written, and the folder made for --output is not left behind empty
    (a folder that was there already is kept)."""
    images = tmp_path / "in"
    images.mkdir()
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    for out, kept in ((tmp_path / "new" / "out", False), (tmp_path, True)):
        summary = run_demo(DemoOptions(model=omz_xml, input=str(images), output=out, window=False, progress=False))
        assert summary.frames == 0 and summary.errors == 1 and out.is_dir() == kept
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("second_interrupt", [False, True])
def test_ctrl_c_mid_run_keeps_the_output_and_exits_130(omz_xml, clip, tmp_path, monkeypatch, capsys,
                                                       second_interrupt):
    """Ctrl+C (or SIGTERM) after the first frame: the video holds the frames done, the summary says so, and the exit
    status is 130 as for any interrupted command (it was 0, as for a completed run). ``second_interrupt``: another
    one lands while the run closes its pipeline (the first one often started that): the video is still finished and
    the summary printed (it escaped the cleanup: summary lost, video unfinished)."""
    import os
    import signal

    import demos.live as live
    from demos.__main__ import main
    from ov_inference.pipeline import AsyncPipeline

    drawn = []

    def draw_then_interrupt(frame, poses, **kwargs):
        if drawn:
            raise KeyboardInterrupt
        drawn.append(frame)

    real_close = AsyncPipeline.close

    def interrupted_close(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # the second interrupt is due here, before the video and the summary are finished
        real_close(self)

    monkeypatch.setattr(live, "draw_poses", draw_then_interrupt)
    if second_interrupt:
        monkeypatch.setattr(AsyncPipeline, "close", interrupted_close)
    out = tmp_path / "a.avi"
    rc = main(["--model", str(omz_xml), "--input", str(clip), "--no-window", "--output", str(out), "--quiet",
               "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 130 and summary["interrupted"] and summary["output_frames"] == 1
    capture = cv2.VideoCapture(str(out))
    assert capture.read()[0] and not capture.read()[0]


def test_ctrl_c_with_keep_serving_stops_at_once(omz_xml, clip, monkeypatch, capsys):
    """--keep-serving keeps the page up after the input ends, not after Ctrl+C / SIGTERM: the demo stops at once
    with its summary (it served on for the whole delay, and a `docker stop` killed it before the summary)."""
    import demos.live as live
    from demos.__main__ import main

    def interrupt(frame, poses, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(live, "draw_poses", interrupt)
    start = time.monotonic()
    rc = main(["--model", str(omz_xml), "--input", str(clip), "--no-window", "--serve", "0", "--keep-serving", "30",
               "--quiet", "--json"])
    assert time.monotonic() - start < 15
    assert rc == 130 and json.loads(capsys.readouterr().out)["interrupted"]


def test_quitting_in_the_window_with_keep_serving_stops_at_once(omz_xml, clip, monkeypatch):
    """Esc / q in the window quits as Ctrl+C does: the live view is not kept up for --keep-serving (it was)."""
    import demos.live as live

    closed = []

    class QuitWindow:
        quit = False

        def write(self, frame):
            self.quit = True  # q pressed on the first frame

        def close(self):
            closed.append(True)

    monkeypatch.setattr(live, "WindowSink", QuitWindow)
    start = time.monotonic()
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), window=True, serve=0, keep_serving=30,
                                   progress=False))
    assert time.monotonic() - start < 15
    assert summary.frames == 1 and not summary.interrupted and closed == [True]


def test_a_busy_port_is_reported_before_the_model_loads(omz_xml, clip, monkeypatch):
    """--serve on a port in use fails before the model is read or the input opened (it was checked only after
    loading and compiling); the port of the view is the one it serves on, bound once."""
    from ov_inference import estimator

    loaded = []
    monkeypatch.setattr(estimator.PoseEstimator, "__init__", lambda self, *a, **kw: loaded.append(True))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError, match=f"cannot serve the live view on 127.0.0.1:{busy.getsockname()[1]}"):
            run_demo(DemoOptions(model=omz_xml, input=str(clip), window=False, serve=busy.getsockname()[1],
                                 progress=False))
    assert loaded == []


def test_cli_omz_spellings_thresholds_streams_and_flip(omz_xml, clip, tmp_path, capsys):
    """The OMZ demo's -m/-i/-o/-d/--tsize/-t/-nstreams/--no_show spellings; -t is the decoder's peak threshold (a
    higher one finds no more keypoints), -nstreams reaches the compiled model, --flip runs the mirrored batch."""
    from demos.__main__ import build_parser, main

    args = build_parser().parse_args(["-m", "m.xml", "-i", "0", "-o", "o.mp4", "-d", "CPU", "--tsize", "368",
                                      "-t", "0.3", "-nstreams", "2", "--no_show", "--flip", "--min-keypoints", "5"])
    assert (args.model, args.input, args.output, args.device, args.height, args.peak_threshold, args.streams,
            args.no_window, args.flip, args.min_keypoints) == ("m.xml", "0", "o.mp4", "CPU", 368, 0.3, 2, True, True, 5)
    with pytest.raises(SystemExit):
        main(["-m", str(omz_xml), "-i", str(clip), "-t", "nan", "--no_show", "-o", str(tmp_path / "x.avi")])

    def keypoints(*extra):
        capsys.readouterr()
        rc = main(["-m", str(omz_xml), "-i", str(clip), "-o", str(tmp_path / "o.avi"), "--raw", "--quiet",
                   "--max-frames", "3", "--json", *extra])
        lines = _raw_lines(capsys.readouterr().out)
        assert rc == 0 and lines[-1]["summary"]["frames"] == 3
        return sum(sum(v > 0 for v in p["keypoints"][2::3]) for r in lines[:-1] for p in r["people"]), lines[-1]

    low, _ = keypoints("-t", "0.05")
    high, _ = keypoints("-t", "0.5")
    assert low > 0 and high <= low
    flipped, summary = keypoints("--flip", "-nstreams", "1")
    assert summary["summary"]["errors"] == 0 and flipped > 0


def test_streams_and_threads_go_into_the_compile_config(omz_xml, clip, tmp_path):
    """--streams becomes NUM_STREAMS beside INFERENCE_NUM_THREADS (a non-positive count is refused by name)."""
    from demos.live import DemoSummary, _compile_config

    assert _compile_config(DemoOptions(model="m", input="0", num_streams=1, num_threads=1), DemoSummary()) == {
        "NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 1}
    with pytest.raises(ValueError, match="--streams"):
        run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "s.avi", window=False, num_streams=0))


def test_a_video_that_delivers_no_frame_is_an_error_not_a_success(omz_xml, tmp_path, capsys):
    """A video that opens but has no readable frame (cut after its header) is reported: an error in the summary and
    exit status 1, as for images that are all unreadable (it ran with exit 0 and 'wrote 0 frames to' a missing file)."""
    from demos.__main__ import main

    clip = write_synthetic_clip(tmp_path / "c.avi", frames=3, width=320, height=192)
    data = clip.read_bytes()
    empty = tmp_path / "empty.avi"
    empty.write_bytes(data[:data.index(b"movi") + 4])  # the header, announcing 3 frames, and none of them
    summary = run_demo(DemoOptions(model=omz_xml, input=str(empty), output=tmp_path / "o.avi", window=False,
                                   progress=False))
    assert summary.frames == 0 and summary.errors == 1
    assert "no frame" in summary.error_messages[0] and "empty.avi" in summary.error_messages[0]
    capsys.readouterr()
    assert main(["-m", str(omz_xml), "-i", str(empty), "-o", str(tmp_path / "o2.avi"), "--quiet", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"] == 1


def test_a_glob_lists_image_files_as_a_folder_does(omz_xml, clip, tmp_path):
    """'photos/*' skips what is not an image file (a note, a subfolder, a video) as a folder input does; it made
    each of them an 'unreadable image' error, and a glob of videos ran as 0 frames, every file skipped."""
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", np.zeros((48, 64, 3), np.uint8))[1].tobytes())
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub.jpg").mkdir()
    (tmp_path / "sub.mp4").mkdir()
    (tmp_path / "clip.mp4").write_bytes(clip.read_bytes())
    assert [f.source for f in open_source(str(tmp_path / "*"))] == [str(tmp_path / "a.png")]
    summary = run_demo(DemoOptions(model=omz_xml, input=str(tmp_path / "*"), output=tmp_path / "out", window=False,
                                   progress=False))
    assert summary.frames == 1 and summary.errors == 0
    with pytest.raises(SourceError, match=r"no images among the 2 paths matching .*\*\.mp4"):
        open_source(str(tmp_path / "*.mp4"))  # clip.mp4, and the folder sub.mp4



def test_options_that_need_another_are_not_ignored_silently(omz_xml, clip, tmp_path):
    """--keep-serving without --serve, and --output-limit without --output, did nothing without a word (the demo
    warns for every other option it does not apply: --track on images, --loop on a camera, --threads off the CPU)."""
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "o.avi", window=False,
                                   keep_serving=5.0, max_frames=2, progress=False))
    assert summary.frames == 2 and summary.seconds < 5
    assert summary.warnings == ["--keep-serving ignored: it keeps the --serve live view up, and there is none"]
    summary = run_demo(DemoOptions(model=omz_xml, input=str(clip), serve=0, window=False, output_limit=1,
                                   max_frames=2, progress=False))
    assert summary.frames == 2
    assert summary.warnings == ["--output-limit ignored: it bounds the frames written to --output, and there is none"]


def test_an_unreadable_image_is_reported_once(omz_xml, tmp_path, caplog):
    """The source logs an image it cannot read; the demo logged it a second time ('skipped cannot decode ...')."""
    images = tmp_path / "imgs"
    images.mkdir()
    cv2.imwrite(str(images / "a.jpg"), np.full((96, 128, 3), 90, np.uint8))
    (images / "b.jpg").write_bytes(b"not a jpeg")
    with caplog.at_level("WARNING"):
        summary = run_demo(DemoOptions(model=omz_xml, input=str(images), output=tmp_path / "out", window=False,
                                       progress=False))
    assert summary.errors == 1 and "b.jpg" in summary.error_messages[0]
    assert len([r for r in caplog.records if "b.jpg" in r.getMessage()]) == 1


def test_raw_alone_is_a_headless_output(omz_xml, clip, capsys):
    """--no-window --raw without --output or --serve: the poses on stdout are the output, not a missing display."""
    from demos.__main__ import main

    capsys.readouterr()
    rc = main(["--model", str(omz_xml), "--input", str(clip), "--no-window", "--raw", "--quiet",
               "--max-frames", "2"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert [r["frame_index"] for r in _raw_lines(out)] == [0, 1]


def test_max_frames_below_one_is_refused_as_by_lwpose_infer(omz_xml, clip, tmp_path, capsys):
    """--max-frames 0 processed nothing and exited 0; it is a usage error (exit 2), as lwpose-infer's."""
    from demos.__main__ import build_parser

    for bad in ("0", "-1"):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["--model", "m", "--input", "0", "--max-frames", bad])
        assert exc.value.code == 2 and "must be >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--max-frames must be >= 1"):
        run_demo(DemoOptions(model=omz_xml, input=str(clip), output=tmp_path / "o.avi", window=False, max_frames=0,
                             progress=False))
    assert not (tmp_path / "o.avi").exists()


def test_empty_input_is_refused_as_by_lwpose_infer(omz_xml, tmp_path, capsys):
    """-i "" (an unset shell variable) goes through open_source: exit 2, not the images of the current folder."""
    from demos.__main__ import main

    for empty in ("", " "):
        rc = main(["--model", str(omz_xml), "--input", empty, "--no-window", "--output", str(tmp_path / "o"),
                   "--quiet"])
        assert rc == 2 and "the input is empty" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_summary_says_no_video_was_written_when_no_frame_came(omz_xml, tmp_path, capsys):
    """Every input unreadable: the summary said "wrote 0 frames to o.mp4", and no o.mp4 exists."""
    from demos.__main__ import main

    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "o.mp4"
    capsys.readouterr()
    rc = main(["--model", str(omz_xml), "--input", str(tmp_path / "bad.jpg"), "--no-window", "--output", str(out),
               "--quiet"])
    line = capsys.readouterr().out
    assert rc == 1 and not out.exists()
    assert "wrote 0 frames" not in line and f"wrote no frame, {out} not created" in line
    (tmp_path / "kept").mkdir()
    rc = main(["--model", str(omz_xml), "--input", str(tmp_path / "bad.jpg"), "--no-window", "--output",
               str(tmp_path / "kept"), "--quiet"])  # a folder that was there: kept, and named as such
    assert rc == 1 and f"wrote no frame to {tmp_path / 'kept'}" in capsys.readouterr().out
