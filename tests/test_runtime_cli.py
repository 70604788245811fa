"""Frame sources, JSON records and the ``python -m ov_inference`` CLI, bad inputs included."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from ov_inference import DecoderOptions, Pose, RecordWriter, SourceError, frame_record, open_source, to_bgr
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
        writer.write(np.full((size[1], size[0], 3), 10 * i % 256, np.uint8))
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


def test_to_bgr_scales_16_bit_frames_as_read_image_does(tmp_path):
    """A 16-bit frame passed in memory and the same pixels read from a PNG file give the same 8-bit values
    (OpenCV's IMREAD_COLOR keeps the high byte: 40000 -> 156, not 40000 // 257 = 155)."""
    from ov_inference.sources import read_image
    grid = np.meshgrid(np.arange(0, 65536, 257), [0, 255, 256, 40000, 65280, 65535])
    frame = np.ascontiguousarray(np.stack([grid[0], grid[1], grid[1]], -1), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), frame)
    assert np.array_equal(to_bgr(frame), read_image(tmp_path / "deep.png"))
    assert to_bgr(np.full((1, 1, 3), 40000, np.uint16))[0, 0, 0] == 40000 >> 8


def test_folder_source_reports_unreadable_images_by_path(image_dir):
    source = open_source(image_dir)
    assert isinstance(source, ImageSource) and source.length == 3        # the .txt is not an image
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2]
    broken = frames[1]
    assert broken.image is None and "000000010000_broken.jpg" in broken.error and "cannot decode" in broken.error
    assert all(f.image is not None and f.image.ndim == 3 for f in (frames[0], frames[2]))


def test_folder_frames_numbered_without_zero_padding_are_in_frame_order(tmp_path):
    """Extracted video frames (``ffmpeg -i clip.mp4 frame%d.png``) are one sequence for --track / --smooth: frame2
    comes before frame10, not after frame19 as a plain string sort put it."""
    names = ["frame1.png", "frame2.png", "frame10.png", "frame11.png", "frame100.png", "frame02b.png", "clip.png"]
    for name in names:
        cv2.imwrite(str(tmp_path / name), np.zeros((4, 4, 3), np.uint8))
    assert [p.name for p in open_source(tmp_path).paths] == [
        "clip.png", "frame1.png", "frame2.png", "frame02b.png", "frame10.png", "frame11.png", "frame100.png"]


def test_a_static_gif_among_photos_is_read_as_a_picture_from_a_folder_or_a_glob(tmp_path):
    """A .gif in a folder of photos was left out without a word (GIF counted as a video suffix); given alone, a GIF
    is still read as a video."""
    for name, value in (("a.png", 10), ("b.gif", 120), ("c.jpg", 240)):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8, 3), value, np.uint8))
    for spec in (tmp_path, str(tmp_path / "*")):
        frames = list(open_source(spec))
        assert [Path(f.source).name for f in frames] == ["a.png", "b.gif", "c.jpg"] and all(f.ok for f in frames)
        assert abs(float(frames[1].image.mean()) - 120) < 8
    assert isinstance(open_source(tmp_path / "b.gif"), VideoSource)


def test_folder_copied_from_a_mac_has_no_errors_for_its_hidden_files(tmp_path):
    """macOS' ._name.jpg AppleDouble files and .DS_Store (and other hidden files) are not images of the folder: each
    was an unreadable-image error (the first one also left the model without a first size to compile for)."""
    cv2.imwrite(str(tmp_path / "photo.jpg"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / ".thumb.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "._photo.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(60))
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(60))
    source = open_source(tmp_path)
    assert [p.name for p in source.paths] == ["photo.jpg"] and source.frame_size == (8, 8)
    assert all(f.ok for f in source)
    (tmp_path / "photo.jpg").unlink()
    (tmp_path / ".thumb.png").unlink()
    with pytest.raises(SourceError, match="no images"):
        open_source(tmp_path)


def test_a_quoted_glob_is_read_as_its_images_as_lwpose_demo_reads_it(tmp_path, tiny_xml):
    """lwpose-infer -i 'photos/*.png' stopped with 'input not found' (only lwpose-demo expanded globs)."""
    for name in ("b10.png", "b2.png", "c.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b3.txt").write_text("not an image")
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(tmp_path / "b*"), "-o", str(out), "--no-progress"]) == 0
    assert [Path(f["source"]).name for f in json.loads(out.read_text())["frames"]] == ["b2.png", "b10.png"]
    with pytest.raises(SourceError, match="no files match"):
        open_source(str(tmp_path / "x*.png"))


def test_an_image_sequence_pattern_is_read_as_a_video_s_frames_in_number_order(tmp_path, tiny_xml, caplog):
    """-i 'frames/frame%04d.png' stopped with 'input not found' (only documented as not read)."""
    for name in ("frame0002.png", "frame0001.png", "frame0010.png", "frame1.png", "frame00003.png", "x.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    pattern = str(tmp_path / "frame%04d.png")
    source = open_source(pattern)
    assert [p.name for p in source.paths] == ["frame0001.png", "frame0002.png", "frame0010.png"]
    assert source.sequence and source.length == 3 and source.fps is None and source.name == pattern
    assert any("7 frame number(s) missing" in r.getMessage() for r in caplog.records)
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", pattern, "-o", str(out), "--track", "--no-progress"]) == 0
    assert [Path(f["source"]).name for f in json.loads(out.read_text())["frames"]] == [p.name for p in source.paths]
    with pytest.raises(SourceError, match="no files of the image sequence"):
        open_source(str(tmp_path / "shot%03d.png"))
    for literal in ("a%1.png", "b%02d.png"):  # an existing file is that file, '%' or not
        cv2.imwrite(str(tmp_path / "tmp.png"), np.zeros((8, 8, 3), np.uint8))
        (tmp_path / "tmp.png").rename(tmp_path / literal)
        literal_source = open_source(str(tmp_path / literal))
        assert not literal_source.sequence and [p.name for p in literal_source.paths] == [literal]
    assert not open_source(tmp_path).sequence


def test_folder_reads_jfif_and_jpe_photos_whatever_the_case_of_their_suffix(tmp_path):
    """JPEGs saved by Windows browsers as .jfif (or .jpe) were left out of a folder (or glob) without a word."""
    jpeg, png = (cv2.imencode(ext, np.zeros((8, 8, 3), np.uint8))[1].tobytes() for ext in (".jpg", ".png"))
    for name in ("a.jfif", "b.JPE", "c.JPG", "d.Png"):
        (tmp_path / name).write_bytes(png if name.endswith("Png") else jpeg)
    assert [p.name for p in open_source(tmp_path).paths] == ["a.jfif", "b.JPE", "c.JPG", "d.Png"]
    assert all(f.ok for f in open_source(str(tmp_path / "*")))


def test_a_folder_of_subfolders_says_they_are_not_read(tmp_path):
    """A folder whose photos are all in subfolders (photos/2024/, photos/2025/) said only 'no images in folder':
    the error now says subfolders are not read, and how to read them."""
    for year in ("2024", "2025"):
        (tmp_path / year).mkdir()
        cv2.imwrite(str(tmp_path / year / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SourceError, match=r"its 2 subfolder\(s\) are not read") as caught:
        open_source(tmp_path)
    pattern = str(caught.value).split("glob such as '")[1].rstrip("')")
    assert len(open_source(pattern).paths) == 2


def test_folder_of_unreadable_images_exits_3_and_broken_links_are_reported(tmp_path, tiny_xml, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not a jpeg")
    (folder / "b.jpg").symlink_to(tmp_path / "gone.jpg")  # a dangling link: reported, not skipped silently
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(folder), "-o", str(out), "--no-progress"]) == 3
    doc = json.loads(out.read_text())
    assert [Path(f["source"]).name for f in doc["frames"]] == ["a.jpg", "b.jpg"]
    assert all(f["error"] for f in doc["frames"]) and doc["summary"]["status"] == "no frames"
    assert "none of the 2 image(s)" in capsys.readouterr().err


def test_a_folder_whose_images_all_fail_to_infer_exits_3_like_one_of_unreadable_images(tmp_path, tiny_xml, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_thin.png"), np.zeros((20000, 50, 3), np.uint8))  # too thin to infer at 256
    (folder / "b.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(folder), "-o", str(out), "--no-progress"]) == 3
    summary = json.loads(out.read_text())["summary"]
    assert (summary["status"], summary["errors"], summary["unreadable"]) == ("no frames", 2, 1)
    assert "error: none of the 2 frame(s)" in capsys.readouterr().err


def test_max_frames_reached_on_an_unreadable_image_is_not_a_folder_without_frames(tmp_path, tiny_xml, capsys,
                                                                                    coco_mini_dir):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not a jpeg")
    shutil.copy(sorted(coco_mini_dir.glob("*.jpg"))[0], folder / "b.jpg")
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(folder), "-o", str(out), "--max-frames", "1",
                 "--no-progress"]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert (summary["status"], summary["frames"], summary["unreadable"]) == ("completed", 1, 1)
    assert "none of the" not in capsys.readouterr().err


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


def test_an_empty_input_is_an_error_not_the_current_folder(tmp_path, tiny_xml, image_dir, capsys, monkeypatch):
    monkeypatch.chdir(image_dir)  # `--input "$UNSET"` used to run on the images of the current folder
    assert main(["--model", str(tiny_xml), "--input", "", "-o", str(tmp_path / "r.json"), "--no-progress"]) == 2
    assert "the input is empty" in capsys.readouterr().err and not (tmp_path / "r.json").exists()


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


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 0.0, -5.0])
def test_smooth_on_a_source_reporting_an_unusable_frame_rate_falls_back_with_a_warning(tmp_path, tiny_xml,
                                                                                       monkeypatch, caplog, fps):
    """PoseSmoother(freq=inf) raised ValueError: the run stopped with exit 2 before the first frame."""
    class Capture(_ShortCapture):
        def get(self, prop):
            return {cv2.CAP_PROP_FRAME_COUNT: 4, cv2.CAP_PROP_FPS: fps}.get(prop, 0)

    clip = _write_video(tmp_path / "x.avi", frames=4)
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", Capture)
    assert open_source(clip).fps is None
    out = tmp_path / "out.json"
    assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(out), "--smooth", "--no-progress"]) == 0
    assert len(json.loads(out.read_text())["frames"]) == 4
    assert any("frame rate" in r.getMessage() and "30" in r.getMessage() for r in caplog.records
               if r.levelname == "WARNING")


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


def test_frame_record_of_numpy_numbers_is_json():
    # e.g. image_size=np.array(frame.shape[1::-1]), a track id from an array: json.dumps refused numpy integers
    pose = Pose(np.zeros((18, 3), np.float32), 1.0, track_id=np.int64(7))
    record = frame_record(np.int64(3), "a.jpg", [pose], image_size=np.array([64, 48]), timestamp=np.float32(0.5))
    assert json.loads(json.dumps(record))["image_size"] == [64, 48] and record["people"][0]["track_id"] == 7


def test_frame_record_writes_nan_and_infinite_numbers_as_null():
    """A stream reporting a NaN position (CAP_PROP_POS_MSEC) or a broken timer: NaN / Infinity are not JSON."""
    record = frame_record(0, "rtsp://cam", [Pose(np.zeros((18, 3), np.float32), 1.0)], timestamp=float("nan"),
                          timings={"infer_ms": float("inf"), "decode_ms": 0.5})
    assert record["timestamp"] is None and record["timings"] == {"infer_ms": None, "decode_ms": 0.5}
    assert frame_record(0, "a", [], timestamp=np.float32("-inf"))["timestamp"] is None
    json.loads(json.dumps(record, allow_nan=False))


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


def test_a_first_image_too_thin_to_infer_is_an_error_record_not_the_end_of_the_run(tmp_path, tiny_xml):
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_thin.png"), np.zeros((20000, 50, 3), np.uint8))  # 0.64 input pixels wide at 256
    cv2.imwrite(str(folder / "b.png"), np.zeros((96, 160, 3), np.uint8))
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(folder), "-o", str(out), "--no-progress"]) == 0
    frames = json.loads(out.read_text())["frames"]
    assert "too thin" in frames[0]["error"] and frames[1]["error"] is None and frames[1]["image_size"] == [160, 96]


def test_summary_line_names_the_irs_stored_precision_and_the_executed_one(tmp_path, capsys):
    from pose_format import rt_info_fields

    xml = save(tiny_pose_model(rt_info=dict(rt_info_fields(), precision="INT8")), tmp_path / "int8.xml")
    clip = _write_video(tmp_path / "clip.avi", frames=2)
    assert main(["--model", str(xml), "--input", str(clip), "--height", "64", "--no-progress"]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "lwpose model, INT8 IR executing in " in last, last


def test_cli_video_to_json_document(tmp_path, tiny_xml):
    clip = _write_video(tmp_path / "clip.avi", frames=8)
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(out), "--max-frames", "5",
                 "--no-progress", "-t", "0.25"]) == 0
    doc = json.loads(out.read_text())
    assert [f["frame_index"] for f in doc["frames"]] == [0, 1, 2, 3, 4]
    assert doc["meta"]["model_precision"] == "FP32"  # the IR's, from its rt_info; "precision" is what executed
    assert doc["meta"]["decoder"] == vars(DecoderOptions(peak_threshold=0.25))  # what decoded the poses
    assert doc["frames"][0]["image_size"] == [160, 96] and doc["summary"]["frames"] == 5


def test_stream_url_input_is_read_through_ffmpeg_and_credentials_are_redacted(tmp_path, tiny_xml, capsys):
    """An http:// URL (as an IP camera or a media server gives) is a video source; rtsp://user:password@... never
    shows its password in records or errors."""
    import functools
    import http.server
    import threading

    from ov_inference.sources import is_stream_url, redact_url

    assert is_stream_url("rtsp://cam/stream") and is_stream_url("http://h/x.mp4") and not is_stream_url("a/b.mp4")
    assert redact_url("rtsp://admin:s3cret@10.0.0.2:554/live") == "rtsp://admin:***@10.0.0.2:554/live"
    assert redact_url("http://h/x.mp4") == "http://h/x.mp4"
    assert redact_url(" rtsp://admin:p@ss@cam/s") == "rtsp://admin:***@cam/s"  # FFmpeg takes a raw @ in it
    assert redact_url("http://cam/video?user=a&pwd=secret&x=1") == "http://cam/video?user=a&pwd=***&x=1"
    _write_video(tmp_path / "clip.avi", frames=6)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.avi"
        source = open_source(url)
        assert isinstance(source, VideoSource) and not source.live and source.length == 6  # a file: ordered mode
        source.close()
        out = tmp_path / "res.jsonl"
        assert main(["--model", str(tiny_xml), "--input", url, "-o", str(out), "--no-progress"]) == 0
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert lines[0]["meta"]["input"] == url and sum("frame_index" in r for r in lines) == 6
    finally:
        server.shutdown()
    with pytest.raises(SourceError, match=r"cannot open stream rtsp://u:\*\*\*@127\.0\.0\.1:1/x") as info:
        open_source("rtsp://u:secret@127.0.0.1:1/x")
    assert "secret" not in str(info.value)


def test_cli_flip_accuracy_mode(tmp_path, tiny_xml):
    clip = _write_video(tmp_path / "clip.avi", frames=4)
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(out), "--flip", "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert doc["meta"]["flip"] is True and doc["summary"]["frames"] == 4 and doc["summary"]["errors"] == 0


def test_cli_bad_inputs_give_clear_errors(tmp_path, tiny_xml, capsys):
    assert main(["--model", str(tmp_path / "none.xml"), "--input", "x.jpg"]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main(["--model", str(tiny_xml), "--input", "96"]) == 2
    assert "cannot open camera 96" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--model", str(tiny_xml), "--input", str(tmp_path), "--height", "100"])
    assert stop.value.code == 2 and "argument --height: must be a multiple of 8" in capsys.readouterr().err
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


def test_a_second_ctrl_c_while_the_outputs_are_finished_does_not_lose_them(tmp_path, tiny_xml, monkeypatch):
    from ov_inference.pipeline import AsyncPipeline

    real_close = AsyncPipeline.close

    def interrupted_close(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)                   # the interrupt is due here, before the video and the records are finished
        real_close(self)

    monkeypatch.setattr(AsyncPipeline, "close", interrupted_close)
    clip = _write_video(tmp_path / "clip.avi", frames=4)
    out, video = tmp_path / "res.json", tmp_path / "annotated.avi"
    assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(out), "--output-video", str(video),
                 "--no-progress"]) == 0
    assert json.loads(out.read_text())["summary"]["frames"] == 4
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()


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


def test_camera_timestamps_are_monotonic_seconds_since_opening(monkeypatch):
    """Camera frames were stamped with time.time(): a system clock set back (NTP, daylight saving) made them jump."""
    wall = iter([1.7e9, 1.7e9 - 3600, 1.7e9 - 7200, 1.7e9 + 9e5] * 10)
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _FakeCamera)
    monkeypatch.setattr("ov_inference.sources.time.time", lambda: next(wall))
    source = open_source(0)
    stamps = []
    for frame in source:
        stamps.append(frame.timestamp)
        if len(stamps) == 4:
            break
    assert stamps == sorted(stamps) and 0 < stamps[0] and stamps[-1] < 10


class _FastClaimingCamera(_FakeCamera):
    """A camera that announces 100 FPS (and delivers about that)."""

    def get(self, prop):
        return 100.0 if prop == cv2.CAP_PROP_FPS else 0


def test_live_annotated_video_plays_at_the_rate_frames_came_out(tmp_path, tiny_xml, monkeypatch):
    """Live mode drops frames a slow consumer cannot take: the video was written at the camera's 100 FPS with
    ~20 frames a second of content, so it played back 5x too fast."""
    import ov_inference.draw

    draw_stats = ov_inference.draw.draw_stats

    def slow_draw_stats(*args, **kwargs):  # a consumer that takes ~50 ms a frame: ~20 FPS come out
        time.sleep(0.05)
        return draw_stats(*args, **kwargs)

    monkeypatch.setattr("ov_inference.draw.draw_stats", slow_draw_stats)
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _FastClaimingCamera)
    video = tmp_path / "cam.avi"
    assert main(["--model", str(tiny_xml), "--input", "0", "--output-video", str(video), "--max-frames", "20",
                 "--no-progress"]) == 0
    monkeypatch.undo()
    capture = cv2.VideoCapture(str(video))
    fps, count = capture.get(cv2.CAP_PROP_FPS), int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert count == 20 and 8 <= fps <= 22, fps


# -- records are kept in memory only for a JSON document -----------------------------------------------------------
def test_writer_keeps_records_in_memory_only_for_a_json_document(tmp_path, capsys):
    record = frame_record(0, "a", [])
    for path in (tmp_path / "r.jsonl", "-", None):
        writer = RecordWriter(path, {"model": "m"})
        for _ in range(50):
            writer.write(record)
        assert writer.records == [] and writer.count == 50, path     # constant memory on a camera
        writer.close({"frames": 50})
    assert len(capsys.readouterr().out.splitlines()) == 52           # '-': meta, 50 records, summary
    kept = RecordWriter(None, keep_records=True)                      # in memory on request
    kept.write(record)
    assert kept.records == [record]
    doc = RecordWriter(tmp_path / "r.json", {"model": "m"})
    for i in range(3):
        doc.write(frame_record(i, "a", []))
    doc.close({"frames": 3})
    assert [f["frame_index"] for f in json.loads((tmp_path / "r.json").read_text())["frames"]] == [0, 1, 2]
    with pytest.raises(ValueError, match="needs every record"):
        RecordWriter(tmp_path / "x.json", keep_records=False)


# -- output that cannot be written: found before any frame, no temporary file left ---------------------------------
def test_unwritable_json_output_fails_before_processing(tmp_path, tiny_xml, capsys, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.setattr("ov_inference.__main__.PoseEstimator",
                        lambda *a, **k: pytest.fail("the model was loaded before the output was checked"))
    assert main(["--model", str(tiny_xml), "--input", str(tmp_path), "-o", str(folder)]) == 2
    assert "it is a folder" in capsys.readouterr().err
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    for name in ("res.json", "res.jsonl"):
        assert main(["--model", str(tiny_xml), "--input", str(tmp_path), "-o", str(blocker / "sub" / name)]) == 2
        assert "cannot create its folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "out"]
    assert list(folder.iterdir()) == []


def test_ctrl_c_during_a_write_lands_after_the_record_is_written_and_counted(tmp_path):
    # Ctrl+C goes to the process: with other threads running (the pipeline's producer, OpenVINO's workers) one of
    # them takes it, so masking SIGINT on the main thread did not keep the KeyboardInterrupt out of write()
    other = threading.Event()
    helper = threading.Thread(target=other.wait, daemon=True)
    helper.start()
    writer = RecordWriter(tmp_path / "x.jsonl")
    stream = writer._stream

    class Interrupting:
        def write(self, text):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)               # the interrupt is due here, inside the write
            return stream.write(text)

        def flush(self):
            stream.flush()

    writer._stream = Interrupting()
    try:
        with pytest.raises(KeyboardInterrupt):
            writer.write(frame_record(0, "clip.mp4", []))
    finally:
        other.set()
        writer._stream = stream
        writer.close()
    assert writer.count == 1
    assert [json.loads(line)["frame_index"] for line in (tmp_path / "x.jsonl").read_text().splitlines()] == [0]


def test_ctrl_c_while_the_json_document_is_written_lands_after_it_is_written(tmp_path, monkeypatch):
    # the CLI closes the writer on the first Ctrl+C: a second one used to abort the write and remove the document
    from ov_inference import records

    write_text_atomic = records.write_text_atomic

    def interrupted_write(path, text):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)                   # the interrupt is due here, inside the write
        return write_text_atomic(path, text)

    monkeypatch.setattr(records, "write_text_atomic", interrupted_write)
    writer = RecordWriter(tmp_path / "x.json", {"model": "m.xml"})
    writer.write(frame_record(0, "clip.mp4", []))
    with pytest.raises(KeyboardInterrupt):
        writer.close({"status": "interrupted"})
    doc = json.loads((tmp_path / "x.json").read_text())
    assert [f["frame_index"] for f in doc["frames"]] == [0] and doc["summary"] == {"status": "interrupted"}


def test_closing_a_json_lines_writer_twice_keeps_its_records(tmp_path):
    out = tmp_path / "x.jsonl"
    with RecordWriter(out, {"model": "m"}) as writer:
        for i in range(3):
            writer.write(frame_record(i, "clip.mp4", []))
        writer.close({"frames": 3})          # explicit close inside `with`: the exit closes again
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [next(iter(line)) for line in lines] == ["meta", "frame_index", "frame_index", "frame_index", "summary"]
    with pytest.raises(ValueError, match="closed"):
        writer.write(frame_record(3, "clip.mp4", []))
    assert writer.count == 3


def test_json_document_write_failure_leaves_no_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "res.json"
    writer = RecordWriter(out, {"model": "m"})
    writer.write({"frame_index": 0, "bad": {1, 2}})                     # not JSON-serializable
    with pytest.raises(TypeError):
        writer.close()
    assert list(tmp_path.iterdir()) == []

    def no_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    writer = RecordWriter(out, {"model": "m"})
    writer.write(frame_record(0, "a", []))
    monkeypatch.setattr("pose_format.files.os.replace", no_replace)
    with pytest.raises(OSError, match=r"cannot write records to .*res\.json: Permission denied"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_json_document_to_a_pipe_or_a_link_writes_through_it(tmp_path):
    """``-o /dev/stdout``, ``-o /dev/null``, a named pipe or a symlink: the document is written into what the path
    names. The atomic write (a temporary file renamed over the path) replaced the pipe or the link with a regular
    file - as root, /dev/null or /dev/stdout themselves - and a reader of the pipe got nothing."""
    fifo = tmp_path / "records.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    RecordWriter.check_path(fifo)
    writer = RecordWriter(fifo, {"model": "m"})
    writer.write(frame_record(0, "a.jpg", []))
    writer.close({"frames": 1})
    reader.join(10)
    assert fifo.is_fifo()
    assert json.loads(received[0])["summary"] == {"frames": 1}

    target = tmp_path / "real" / "results.json"
    target.parent.mkdir()
    target.write_text("{}")
    link = tmp_path / "results.json"
    link.symlink_to(target)
    with RecordWriter(link, {"model": "m"}) as writer:
        writer.write(frame_record(0, "a.jpg", []))
    assert link.is_symlink()
    assert len(json.loads(target.read_text())["frames"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real", "records.fifo", "results.json"]
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


# -- cameras that deliver nothing, or stop -------------------------------------------------------------------------
class _DeadCamera(_FakeCamera):
    """A camera that opens and then delivers ``frames`` frames (none by default) before reads fail."""

    frames = 0

    def read(self):
        if self.count >= self.frames:
            return False, None
        return super().read()


def test_camera_delivering_no_frame_is_an_error(tmp_path, tiny_xml, monkeypatch, capsys):
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _DeadCamera)
    out = tmp_path / "cam.jsonl"
    assert main(["--model", str(tiny_xml), "--input", "0", "-o", str(out), "--no-progress"]) == 3
    summary = json.loads(out.read_text().splitlines()[-1])["summary"]
    assert summary["frames"] == 0 and summary["status"] == "no frames" and summary["ended_early"] is True
    assert summary["source_error"] == "camera:0 opened but delivered no frame"
    assert "error: camera:0 opened but delivered no frame" in capsys.readouterr().err


class _EmptyVideo(_ShortCapture):
    def __init__(self, *args):
        self.left = 0


def test_video_with_no_readable_frame_is_an_error(tmp_path, tiny_xml, monkeypatch):
    clip = _write_video(tmp_path / "x.avi", frames=3)
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _EmptyVideo)
    out = tmp_path / "out.json"
    assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(out), "--no-progress"]) == 3
    summary = json.loads(out.read_text())["summary"]
    assert summary["status"] == "no frames" and "no frame could be read" in summary["source_error"]


def test_camera_stopping_mid_run_is_reported_as_ended_early(tmp_path, tiny_xml, monkeypatch, capsys):
    monkeypatch.setattr(_DeadCamera, "frames", 3)
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _DeadCamera)
    out = tmp_path / "cam.json"
    assert main(["--model", str(tiny_xml), "--input", "0", "-o", str(out), "--no-progress"]) == 4
    doc = json.loads(out.read_text())
    indices = [f["frame_index"] for f in doc["frames"]]
    assert indices and indices[-1] == 2 and set(indices) <= {0, 1, 2}   # live: the latest frame always runs
    summary = doc["summary"]
    assert summary["status"] == "ended early" and summary["ended_early"] is True
    assert summary["source_error"] == "camera:0 stopped delivering frames after 3 frame(s)"
    assert "warning: camera:0 stopped delivering frames" in capsys.readouterr().err
    # stopping on --max-frames is not the camera ending early
    monkeypatch.setattr(_DeadCamera, "frames", 100)
    assert main(["--model", str(tiny_xml), "--input", "0", "-o", str(out), "--no-progress",
                 "--max-frames", "2"]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["ended_early"] is False and summary["source_error"] is None


def test_exit_codes_are_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "exit codes:" in text and "\n  3 " in text and "\n  4 " in text and "delivered no frame" in text


# -- odd camera ids and devices -------------------------------------------------------------------------------------
def test_odd_camera_ids_give_clear_errors(tmp_path, tiny_xml, capsys, monkeypatch):
    for spec in ("99999999999", "-1"):
        assert main(["--model", str(tiny_xml), "--input", spec]) == 2
        err = capsys.readouterr().err
        assert f"error: no camera id {spec}: camera ids are 0, 1, 2" in err and "Traceback" not in err
    with pytest.raises(SourceError, match="no camera id -3"):
        open_source(-3)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-1").write_bytes(b"not a video")                     # an existing path named -1 is a path
    with pytest.raises(SourceError, match="cannot open video -1"):
        open_source("-1")

    def refusing(*args):
        raise cv2.error("OpenCV(5.0.0) :-1: error: (-5:Bad argument) in function 'VideoCapture'")

    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", refusing)
    with pytest.raises(SourceError, match="cannot open camera 5: OpenCV refused it"):
        open_source("5")


def test_unknown_device_exits_like_other_model_errors(tiny_xml, image_dir, capsys):
    assert main(["--model", str(tiny_xml), "--input", str(image_dir), "--device", "FOO"]) == 2
    err = capsys.readouterr().err
    assert "error: cannot compile the model for device 'FOO'" in err and "available devices: CPU" in err
    assert "Traceback" not in err


# -- a model that cannot take a frame's aspect ratio is fatal, and errors are worded as errors -----------------------
def test_model_that_cannot_be_reshaped_stops_the_run(tmp_path, capsys):
    xml = save(tiny_pose_model(cells_wide=15), tmp_path / "fixed.xml")   # 16:9 at height 64 only (120 wide)
    folder = tmp_path / "images"
    folder.mkdir()
    for name, width in (("a.png", 114), ("b.png", 64), ("c.png", 114)):
        cv2.imwrite(str(folder / name), np.full((64, width, 3), 90, np.uint8))
    out = tmp_path / "res.json"
    assert main(["--model", str(xml), "--input", str(folder), "-o", str(out), "--height", "64",
                 "--no-progress"]) == 2
    assert "error: cannot reshape the lwpose model input to [1, 64, 64, 3]" in capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert [f["frame_index"] for f in doc["frames"]] == [0]              # b.png is not an 'unreadable' record
    assert doc["summary"]["status"].startswith("failed: cannot reshape") and doc["summary"]["errors"] == 0


def test_static_model_of_another_aspect_ratio_starts(tmp_path):
    """A fixed-size model whose size the frames fit runs: nothing is compiled for a 16:9 default size first."""
    model = tiny_pose_model(cells_wide=11)   # reshapes to inputs 88 wide only ...
    model.reshape({model.inputs[0]: [1, 64, 88, 3]})  # ... and is saved with that static size
    xml = save(model, tmp_path / "fixed.xml")
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.full((64, 86, 3), 90, np.uint8))  # letterboxed to 64 x 88
    out = tmp_path / "res.json"
    assert main(["--model", str(xml), "--input", str(folder), "-o", str(out), "--height", "64",
                 "--no-progress"]) == 0
    assert json.loads(out.read_text())["summary"]["frames"] == 2


def test_a_video_compiles_once_for_its_own_size(tmp_path, tiny_xml, caplog):
    import logging

    clip = _write_video(tmp_path / "clip.avi", frames=3)  # 160 x 96: not 16:9
    with caplog.at_level(logging.INFO, logger="ov_inference.adapter"):
        assert main(["--model", str(tiny_xml), "--input", str(clip), "--height", "64", "--no-progress"]) == 0
    compiles = [r.getMessage() for r in caplog.records if r.getMessage().startswith("compiled")]
    assert len(compiles) == 1 and "64x112" in compiles[0]  # no 16:9 model compiled before the first frame


def test_images_compile_once_for_the_first_image_decoded_once(tmp_path, tiny_xml, caplog, monkeypatch):
    import logging

    import ov_inference.sources as sources

    folder = tmp_path / "2024"  # all digits: a folder, not camera 2024
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.full((96, 160, 3), 60, np.uint8))
    reads = []
    real = sources.read_image
    monkeypatch.setattr(sources, "read_image", lambda path: reads.append(Path(path).name) or real(path))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.jsonl"
    with caplog.at_level(logging.INFO, logger="ov_inference.adapter"):
        assert main(["--model", str(tiny_xml), "--input", "2024", "--height", "64", "--no-progress", "-o",
                     str(out)]) == 0
    compiles = [r.getMessage() for r in caplog.records if r.getMessage().startswith("compiled")]
    assert len(compiles) == 1 and "64x112" in compiles[0]
    assert reads == ["a.png", "b.png"]  # the first image decoded once, for its size and for its poses
    assert sum("frame_index" in line for line in out.read_text().splitlines()) == 2


def test_summary_records_the_requests_of_each_input_size(tmp_path, tiny_xml, capsys, monkeypatch):
    from ov_inference.pipeline import AsyncPipeline

    # a device whose optimal number of requests differs per input size: one more for each new size
    monkeypatch.setattr(AsyncPipeline, "_default_requests",
                        lambda self, optimal: 1 + len(getattr(self, "requests_by_size", {})))
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((96, 160, 3), 60, np.uint8))
    cv2.imwrite(str(folder / "b.png"), np.full((160, 96, 3), 60, np.uint8))  # another aspect ratio: recompiles
    out = tmp_path / "r.json"
    assert main(["--model", str(tiny_xml), "--input", str(folder), "-o", str(out), "--height", "64",
                 "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert doc["meta"]["num_requests"] == 1  # the first size's, known before the run
    assert doc["summary"]["requests_per_input_size"] == [{"input_size": [112, 64], "num_requests": 1},
                                                         {"input_size": [40, 64], "num_requests": 2}]
    assert "with 1 to 2 request(s)" in capsys.readouterr().err


def test_fps_range_and_one_file_for_two_outputs_are_refused(tmp_path, tiny_xml, capsys):
    clip = _write_video(tmp_path / "clip.avi", frames=2)
    for value in ("inf", "nan", "0.5", "5000"):
        assert main(["--model", str(tiny_xml), "--input", str(clip), "--output-video", str(tmp_path / "o.mp4"),
                     "--fps", value]) == 2
        assert "--fps must be within 1..1000" in capsys.readouterr().err
    assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(tmp_path / "x.mp4"),
                 "--output-video", str(tmp_path / "x.mp4")]) == 2
    assert "are the same file" in capsys.readouterr().err and not (tmp_path / "x.mp4").exists()


def test_fps_without_an_output_video_and_a_run_without_outputs_are_warned_of(tmp_path, tiny_xml, caplog):
    import logging

    clip = _write_video(tmp_path / "clip.avi", frames=2)
    with caplog.at_level(logging.WARNING, logger="ov_inference"):
        assert main(["--model", str(tiny_xml), "--input", str(clip), "-o", str(tmp_path / "r.json"), "--fps", "10",
                     "--height", "64", "--no-progress"]) == 0
        assert main(["--model", str(tiny_xml), "--input", str(clip), "--height", "64", "--no-progress"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["--fps ignored: it sets the frame rate of --output-video, and there is none",
                        "no --output-json or --output-video: the poses are not written anywhere (only the closing "
                        "line is printed)"]


def test_a_huge_first_frame_gives_a_video_of_at_most_4096_pixels(tmp_path):
    from ov_inference.video_out import MAX_SIDE, VideoSink

    sink = VideoSink(tmp_path / "big.mp4", fps=float("inf"))
    assert sink.fps == 25.0  # an infinite frame rate would hang OpenCV's writer
    assert VideoSink(tmp_path / "slow.mp4", fps=0.5).fps == 1.0 and VideoSink(tmp_path / "f.mp4", fps=9e4).fps == 1000
    sink.write(np.full((6336, 9504, 3), 90, np.uint8))  # MPEG-4 refuses this size
    sink.write(np.full((480, 640, 3), 30, np.uint8))
    sink.close()
    assert sink.size == (MAX_SIDE, 2732)  # 6336 * 4096 / 9504 = 2730.7, rounded up to even
    cap = cv2.VideoCapture(str(tmp_path / "big.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == MAX_SIDE
    panorama = VideoSink(tmp_path / "pano.avi")
    panorama.write(np.zeros((9, 9000, 3), np.uint8))
    panorama.close()
    assert panorama.size == (MAX_SIDE, 64)


def test_a_measuring_video_sink_writes_at_the_rate_frames_came(tmp_path, monkeypatch):
    import ov_inference.video_out as video_out
    from ov_inference.video_out import VideoSink

    clock = iter(np.arange(0.0, 10.0, 0.1))  # a frame every 0.1 s, whatever the machine's load
    monkeypatch.setattr(video_out.time, "perf_counter", lambda: float(next(clock)))
    sink = VideoSink(tmp_path / "live.avi", fps=100, measure=True)
    buffer = np.zeros((48, 64, 3), np.uint8)
    for value in range(6):  # fewer than MEASURE_FRAMES: measured when the sink closes
        buffer[:] = 40 * value  # one buffer reused by the caller: each held frame is a copy
        sink.write(buffer)
    sink.close()
    monkeypatch.undo()
    assert sink.fps == pytest.approx(10.0) and sink.frames == 6
    capture = cv2.VideoCapture(str(tmp_path / "live.avi"))
    means = [capture.read()[1].mean() for _ in range(6)]
    assert means == sorted(means) and means[-1] > means[0] + 100
    single = VideoSink(tmp_path / "one.avi", fps=12, measure=True)
    single.write(buffer)
    single.close()
    assert single.fps == 12 and single.frames == 1


def test_a_run_that_fails_before_any_frame_leaves_no_output_folders_behind(tmp_path, tiny_xml, capsys):
    clip = _write_video(tmp_path / "clip.avi", frames=2)
    outputs = ["-o", str(tmp_path / "new" / "json" / "r.json"), "--output-video", str(tmp_path / "new" / "v.mp4")]
    assert main(["--model", str(tmp_path / "none.xml"), "--input", str(clip), *outputs]) == 2
    assert main(["--model", str(tiny_xml), "--input", str(tmp_path / "none.avi"), *outputs]) == 2
    assert not (tmp_path / "new").exists()
    assert main(["--model", str(tiny_xml), "--input", str(clip), "--no-progress", *outputs]) == 0
    assert (tmp_path / "new" / "json" / "r.json").is_file() and (tmp_path / "new" / "v.mp4").is_file()


def test_outputs_over_an_image_of_the_input_folder_are_refused(tmp_path, tiny_xml, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((96, 160, 3), 60, np.uint8))
    (tmp_path / "link.png").symlink_to(folder / "a.png")
    before = (folder / "a.png").read_bytes()
    for out in (folder / "a.png", tmp_path / "link.png"):
        assert main(["--model", str(tiny_xml), "--input", str(folder), "-o", str(out), "--no-progress"]) == 2
        assert "it is an image of the input folder, which it would destroy" in capsys.readouterr().err
    assert (folder / "a.png").read_bytes() == before
    assert main(["--model", str(tiny_xml), "--input", str(folder), "-o", str(folder / "poses.json"), "--height", "64",
                 "--no-progress"]) == 0  # a new file beside the images is no input


def test_records_over_the_models_files_are_refused(tmp_path, tiny_xml, capsys):
    model = tmp_path / "m.xml"
    shutil.copy(tiny_xml, model)
    shutil.copy(tiny_xml.with_suffix(".bin"), model.with_suffix(".bin"))
    clip = _write_video(tmp_path / "clip.avi", frames=2)
    before = model.read_bytes(), model.with_suffix(".bin").read_bytes()
    for target in (model, model.with_suffix(".bin")):
        assert main(["--model", str(model), "--input", str(clip), "-o", str(target), "--no-progress"]) == 2
        assert f"it is a file of the model {model}, which it would destroy" in capsys.readouterr().err
    assert (model.read_bytes(), model.with_suffix(".bin").read_bytes()) == before


def test_outputs_are_checked_before_the_model_loads(tmp_path, capsys):
    clip = _write_video(tmp_path / "clip.avi", frames=2)
    missing_model = str(tmp_path / "none.xml")  # never reached: the outputs fail first
    for args, message in ((["--output-video", str(clip)], "it is the input file, which it would destroy"),
                          (["-o", str(clip)], "it is the input file"),
                          (["--output-video", str(tmp_path / "a.gif")], "unsupported video suffix '.gif'"),
                          (["--output-video", str(clip / "x.mp4")], "cannot write the video"),
                          (["--max-frames", "0"], "--max-frames must be positive"),
                          (["--fps", "-5"], "--fps must be within 1..1000")):
        assert main(["--model", missing_model, "--input", str(clip), *args]) == 2
        assert message in capsys.readouterr().err
    assert clip.stat().st_size > 100  # the input is intact


def test_image_whose_header_claims_a_huge_size_is_an_error_record(tmp_path, tiny_xml):
    import struct
    import zlib

    folder = tmp_path / "images"
    folder.mkdir()
    ok, png = cv2.imencode(".png", np.zeros((10, 10, 3), np.uint8))
    data = bytearray(png.tobytes())
    data[16:24] = struct.pack(">II", 100000, 100000)  # IHDR width and height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (folder / "a_huge.png").write_bytes(bytes(data))
    cv2.imwrite(str(folder / "b_ok.png"), np.full((48, 64, 3), 90, np.uint8))
    out = tmp_path / "res.json"
    assert main(["--model", str(tiny_xml), "--input", str(folder), "-o", str(out), "--no-progress"]) == 0
    frames = json.loads(out.read_text())["frames"]
    assert [f["error"] is not None for f in frames] == [True, False]
    assert "a_huge.png" in frames[0]["error"]


def test_sigterm_keeps_results_like_ctrl_c(tmp_path, tiny_xml):
    """kill / timeout / docker stop send SIGTERM to the running command: the frames done are kept, the records end
    with an "interrupted" summary and the exit code is 130, as for Ctrl+C (a real process, signalled from outside)."""
    import signal
    import subprocess
    import time

    clip = _write_video(tmp_path / "clip.avi", frames=3000, size=(64, 64))
    out = tmp_path / "res.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "ov_inference", "--model", str(tiny_xml), "--input", str(clip),
                             "-o", str(out), "--height", "64", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if out.is_file() and out.read_text().count('"frame_index"') >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be signalled"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    summary = records[-1]["summary"]
    done = sum("frame_index" in r for r in records)
    assert proc.returncode == 130, err
    assert summary["status"] == "interrupted" and summary["frames"] == done and 3 <= done < 3000
    assert "Traceback" not in err


def test_summary_words_errors_that_are_not_read_errors():
    from ov_inference.__main__ import _error_phrase

    assert _error_phrase(2, 2) == "2 unreadable" and _error_phrase(0, 0) == "0 unreadable"
    assert _error_phrase(3, 1) == "3 errors (1 unreadable)" and _error_phrase(2, 0) == "2 errors"


# -- progress without tqdm -------------------------------------------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_builtin_progress_line_without_tqdm(monkeypatch):
    from ov_inference.progress import Progress, TextProgress

    monkeypatch.setitem(sys.modules, "tqdm", None)                       # import tqdm -> ImportError
    clock = iter(range(100))
    term = _Terminal()
    progress = Progress(total=4, stream=term)
    assert progress.bar is None and isinstance(progress.text, TextProgress)
    progress.text.clock = lambda: next(clock) * 0.5                      # 2 frames per second
    progress.text._start = 0.0
    for people in (1, 2, 0, 3):
        progress.update(people)
    progress.close()
    text = term.getvalue()
    assert text.startswith("\r1/4 frames (25%)") and text.endswith("\n")
    assert "\r4/4 frames (100%) " in text and " fps, 3 people" in text
    piped = io.StringIO()                                                # not a terminal: nothing unless asked
    quiet = Progress(total=4, stream=piped)
    quiet.update(1)
    quiet.close()
    assert piped.getvalue() == "" and quiet.text is None
    forced = Progress(total=None, force=True, stream=piped)
    forced.update(2)
    forced.close()
    assert piped.getvalue().startswith("1 frames ") and piped.getvalue().endswith("\n") and "\r" not in piped.getvalue()
    assert Progress(total=4, enabled=False, stream=term).text is None


def test_progress_of_a_video_holding_more_frames_than_its_header_announces_counts_on_alone(monkeypatch):
    """An AVI whose header says 4 frames but holds 10 showed '10/4 frames (250%)' (tqdm: 250% and a full bar): past
    the announced total, the count goes on alone, with tqdm and with the built-in line."""
    from ov_inference.progress import Progress

    bar = Progress(total=4, stream=io.StringIO())
    for _ in range(10):
        bar.update(1)
    assert (bar.bar.n, bar.bar.total) == (10, None) and "/4" not in str(bar.bar)
    bar.close()
    monkeypatch.setitem(sys.modules, "tqdm", None)
    term = _Terminal()
    line = Progress(total=4, stream=term)
    for _ in range(10):
        line.update()
    line.close()
    assert term.getvalue().startswith("\r1/4 frames (25%)") and term.getvalue().split("\r")[-1].startswith("10 frames ")
    assert "/4" not in line.text.text()


def test_cli_progress_flag_without_tqdm(tmp_path, tiny_xml, image_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert main(["--model", str(tiny_xml), "--input", str(image_dir), "--progress", "--height", "64"]) == 0
    err = capsys.readouterr().err
    assert "1/3 frames (33%)" in err and "3/3 frames (100%)" in err and "(1 unreadable)" in err


def test_decoder_options_are_the_same_flags_as_the_demo():
    """lwpose-infer and lwpose-demo share the decoder flags (ov_inference.cli_options), OMZ's -t included."""
    from demos.__main__ import build_parser as demo_parser
    from ov_inference.__main__ import build_parser as infer_parser
    from ov_inference.cli_options import decoder_options

    for parser in (infer_parser(), demo_parser()):
        args = parser.parse_args(["--model", "m.xml", "--input", "0", "-t", "0.3", "--min-keypoints", "5", "--flip"])
        assert decoder_options(args) == DecoderOptions(peak_threshold=0.3, min_keypoints=5) and args.flip


def _jpeg_with_orientation(image: np.ndarray, orientation: int) -> bytes:
    """``image`` as a JPEG with an EXIF orientation tag (6: shown turned 90 degrees clockwise)."""
    import struct

    data = cv2.imencode(".jpg", image)[1].tobytes()
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def test_annotated_image_with_exif_orientation_is_read_in_the_annotations_pixels(tmp_path, caplog):
    """A photo annotated as stored (640x480 pixels) whose EXIF tag turns it upright (480x640): read as stored, not
    squeezed back to 640x480 from the turned picture (its keypoints then pointed at other content); another aspect
    ratio is resized with a warning."""
    from ov_inference.sources import read_annotated_image, read_image

    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :8] = 255  # a white band on the left of the stored pixels
    path = tmp_path / "turned.jpg"
    path.write_bytes(_jpeg_with_orientation(image, 6))
    assert read_image(path).shape == (64, 48, 3)  # OpenCV turns it upright
    read = read_annotated_image(path, 64, 48)
    assert read.shape == (48, 64, 3) and read[:, :8].mean() > 200 and read[:, 16:].mean() < 50
    with caplog.at_level("WARNING", logger="ov_inference.sources"):
        assert read_annotated_image(path, 100, 40).shape == (40, 100, 3)
    assert "another aspect ratio" in caplog.text
