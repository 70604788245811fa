"""Frame sources, JSON records and the ``python -m ov_inference`` CLI, bad inputs included."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from ov_inference import Pose, RecordWriter, SourceError, frame_record, open_source, to_bgr
from ov_inference.__main__ import main
from ov_inference.sources import ImageSource, VideoSource
from test_runtime_support import save, tiny_pose_model


@pytest.fixture(scope="module")
def tiny_xml(tmp_path_factory):
    return save(tiny_pose_model(), tmp_path_factory.mktemp("tiny") / "tiny.xml")


@pytest.fixture
def image_dir(tmp_path, coco_mini_dir):
    folder = tmp_path / "images"
    folder.mkdir()
    for src in sorted(coco_mini_dir.glob("*.jpg"))[:2]:
        shutil.copy(src, folder / src.name)
    (folder / "000000010000_broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "readme.txt").write_text("not an image: ignored")
    return folder


def _write_video(path, frames=12, size=(160, 96)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 10 * i, np.uint8))
    writer.release()
    return path


# -- frames ------------------------------------------------------------------------------------------------------
def test_to_bgr_conversions():
    assert to_bgr(np.zeros((5, 7), np.uint8)).shape == (5, 7, 3)
    assert to_bgr(np.zeros((5, 7, 1), np.uint8)).shape == (5, 7, 3)
    bgra = np.dstack([np.full((4, 4, 3), 9, np.uint8), np.zeros((4, 4), np.uint8)])
    assert np.array_equal(to_bgr(bgra), np.full((4, 4, 3), 9, np.uint8))
    assert to_bgr(np.full((2, 2, 3), 65535, np.uint16)).max() == 255
    for bad, match in ((None, "None"), (np.zeros((4, 4, 2), np.uint8), "shape"), (np.zeros((0, 3, 3), np.uint8),
                       "empty"), (np.zeros((4, 4, 3), np.float32), "uint8")):
        with pytest.raises(ValueError, match=match):
            to_bgr(bad)


def test_folder_source_reports_unreadable_images_by_path(image_dir):
    source = open_source(image_dir)
    assert isinstance(source, ImageSource) and source.length == 3        # the .txt is not an image
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2]
    broken = frames[1]
    assert broken.image is None and "000000010000_broken.jpg" in broken.error and "cannot decode" in broken.error
    assert all(f.image is not None and f.image.ndim == 3 for f in (frames[0], frames[2]))


def test_source_errors(tmp_path):
    with pytest.raises(SourceError, match="input not found"):
        open_source(tmp_path / "missing.jpg")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(empty)
    with pytest.raises(SourceError, match="cannot open camera 97"):
        open_source("97")
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match="cannot open video"):
        open_source(tmp_path / "clip.mp4")


def test_video_source_reads_frames_with_timestamps(tmp_path):
    source = open_source(_write_video(tmp_path / "v.avi", frames=6))
    assert isinstance(source, VideoSource) and not source.live and source.length == 6
    frames = list(source)
    assert len(frames) == 6 and not source.ended_early
    assert frames[-1].timestamp > frames[0].timestamp >= 0


class _ShortCapture:
    """A capture that announces 10 frames and delivers 4 (a truncated or failing stream)."""

    def __init__(self, *args):
        self.left = 4

    def isOpened(self):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_COUNT: 10, cv2.CAP_PROP_FPS: 25}.get(prop, 0)

    def read(self):
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, np.full((48, 64, 3), 100, np.uint8)

    def release(self):
        pass


def test_video_ending_early_keeps_results(tmp_path, tiny_xml, monkeypatch):
    clip = _write_video(tmp_path / "x.avi", frames=10)
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _ShortCapture)
    out = tmp_path / "out.json"
    assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(out), "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert [f["frame_index"] for f in doc["frames"]] == [0, 1, 2, 3]
    assert doc["summary"]["ended_early"] is True and doc["summary"]["status"] == "completed"


# -- records -----------------------------------------------------------------------------------------------------
def test_frame_record_is_coco17_in_frame_pixels():
    kpts = np.zeros((18, 3), np.float32)
    kpts[0] = (10, 20, 0.9)     # nose -> COCO 0
    kpts[2] = (30, 40, 0.5)     # r_shoulder -> COCO 6
    record = frame_record(3, "a.jpg", [Pose(kpts, 2.5, track_id=7)], image_size=(64, 48), timings={"x_ms": 1.23456})
    person = record["people"][0]
    assert len(person["keypoints"]) == 51 and person["keypoints"][:3] == [10.0, 20.0, 2.0]
    assert person["keypoints"][18:21] == [30.0, 40.0, 2.0]
    assert person["keypoint_scores"][0] == pytest.approx(0.9) and person["keypoint_scores"][6] == pytest.approx(0.5)
    assert person["track_id"] == 7 and person["score"] == 2.5
    assert record["image_size"] == [64, 48] and record["timings"] == {"x_ms": 1.235} and record["error"] is None
    json.dumps(record)


def test_jsonl_writer_flushes_each_record(tmp_path):
    path = tmp_path / "r.jsonl"
    writer = RecordWriter(path, {"model": "m"})
    writer.write(frame_record(0, "a", []))
    lines = path.read_text().splitlines()      # readable before close: a crash keeps it
    assert json.loads(lines[0]) == {"meta": {"model": "m"}} and json.loads(lines[1])["frame_index"] == 0
    writer.close({"frames": 1})
    assert json.loads(path.read_text().splitlines()[-1]) == {"summary": {"frames": 1}}


# -- CLI ---------------------------------------------------------------------------------------------------------
def test_cli_folder_with_a_broken_image(tmp_path, tiny_xml, image_dir):
    out, video = tmp_path / "res.jsonl", tmp_path / "annotated.avi"
    rc = main(["--model", str(tiny_xml), "--input", str(image_dir), "--output-json", str(out),
               "--output-video", str(video), "--track", "--smooth", "--height", "64"])
    assert rc == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    meta, frames, summary = lines[0]["meta"], lines[1:-1], lines[-1]["summary"]
    assert meta["kind"] == "lwpose" and meta["precision"] in ("f32", "bf16") and meta["input_height"] == 64
    assert [f["frame_index"] for f in frames] == [0, 1, 2]
    assert "000000010000_broken.jpg" in frames[1]["error"] and frames[1]["people"] == []
    assert all(f["error"] is None and f["image_size"][0] > 0 and "latency_ms" in f["timings"]
               for f in (frames[0], frames[2]))
    assert summary["frames"] == 3 and summary["errors"] == 1
    capture = cv2.VideoCapture(str(video))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    capture.release()


def test_cli_video_to_json_document(tmp_path, tiny_xml):
    clip = _write_video(tmp_path / "clip.avi", frames=8)
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(out), "--max-frames", "5",
                 "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert [f["frame_index"] for f in doc["frames"]] == [0, 1, 2, 3, 4]
    assert doc["frames"][0]["image_size"] == [160, 96] and doc["summary"]["frames"] == 5


def test_cli_bad_inputs_give_clear_errors(tmp_path, tiny_xml, capsys):
    assert main(["--model", str(tmp_path / "none.xml"), "--input", "x.jpg"]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main(["--model", str(tiny_xml), "--input", "96"]) == 2
    assert "cannot open camera 96" in capsys.readouterr().err
    assert main(["--model", str(tiny_xml), "--input", str(tmp_path), "--height", "100"]) == 2
    assert "multiple of 8" in capsys.readouterr().err
    assert main(["--model", str(tiny_xml), "--input", str(tmp_path), "--peak-threshold", "nan"]) == 2
    assert "peak_threshold must be a finite number" in capsys.readouterr().err


def test_cli_interrupt_keeps_results(tmp_path, tiny_xml, monkeypatch):
    clip = _write_video(tmp_path / "clip.avi", frames=10)
    calls = {"n": 0}
    real = frame_record

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr("ov_inference.__main__.frame_record", interrupting)
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(out), "--no-progress"]) == 130
    doc = json.loads(out.read_text())
    assert len(doc["frames"]) == 3 and doc["summary"]["status"] == "interrupted"


class _FakeCamera(_ShortCapture):
    """A camera that delivers frames for ever, at about 100 FPS."""

    def __init__(self, *args):
        self.count = 0

    def get(self, prop):
        return 0

    def read(self):
        import time

        time.sleep(0.01)
        self.count += 1
        return True, np.full((48, 64, 3), self.count % 255, np.uint8)


def test_cli_camera_runs_live_until_max_frames(tmp_path, tiny_xml, monkeypatch):
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _FakeCamera)
    out = tmp_path / "cam.jsonl"
    assert main(["--model", str(tiny_xml), "--input", "0", "-o", str(out), "--max-frames", "5", "--track",
                 "--no-progress"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    frames = lines[1:-1]
    assert len(frames) == 5 and lines[-1]["summary"]["frames"] == 5
    assert all(f["source"] == "camera:0" and f["timestamp"] > 0 for f in frames)
    assert [f["frame_index"] for f in frames] == sorted(f["frame_index"] for f in frames)
