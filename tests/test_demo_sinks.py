"""demos.sinks: annotated video / image-folder outputs and display detection."""
import cv2
import numpy as np
import pytest

from demos.sinks import ImageDirSink, VideoSink, has_display, open_sink


def test_video_sink_writes_readable_video(tmp_path):
    sink = open_sink(tmp_path / "out" / "clip.mp4", fps=10)
    assert isinstance(sink, VideoSink)
    for i in range(5):
        sink.write(np.full((64, 96, 3), 40 * i, np.uint8))
    sink.write(np.zeros((32, 32, 3), np.uint8))  # another size: resized to the first
    sink.close()
    cap = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, frame = cap.read()
    assert ok and frame.shape == (64, 96, 3)


def test_image_dir_sink_keeps_input_names(tmp_path):
    sink = open_sink(tmp_path / "annotated")
    assert isinstance(sink, ImageDirSink)
    sink.write(np.zeros((8, 8, 3), np.uint8), name="/some/where/photo.png")
    sink.write(np.zeros((8, 8, 3), np.uint8))
    sink.close()
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == ["frame_000001.jpg", "photo.jpg"]


def test_bad_outputs_are_explained(tmp_path):
    with pytest.raises(ValueError, match="single image"):
        open_sink(tmp_path / "x.png")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        open_sink(tmp_path / "file")
    with pytest.raises(ValueError, match="unsupported video suffix"):
        VideoSink(tmp_path / "x.gif")


def test_no_display_without_display_server(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert has_display() is False


def test_window_keys_pause_and_quit(monkeypatch):
    """Esc quits, p pauses until p again; driven through a fake OpenCV GUI (no display here)."""
    import demos.sinks as sinks

    keys = iter([ord("p"), -1, -1, ord("p"), -1, 27])
    shown = []
    monkeypatch.setattr(sinks.cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(sinks.cv2, "imshow", lambda title, frame: shown.append(frame))
    monkeypatch.setattr(sinks.cv2, "waitKey", lambda ms: next(keys))
    monkeypatch.setattr(sinks.cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(sinks.cv2, "destroyWindow", lambda *a: None)
    window = sinks.WindowSink("t")
    frame = np.zeros((4, 4, 3), np.uint8)
    window.write(frame)  # p: paused, waits through -1, -1 until p resumes
    assert not window.paused and not window.quit
    window.write(frame)  # -1: nothing
    assert not window.quit
    window.write(frame)  # Esc
    assert window.quit and len(shown) == 3
    window.close()
