"""demos.sinks: annotated video / image-folder outputs and display detection."""
import cv2
import numpy as np
import pytest

from demos.sinks import ImageDirSink, VideoSink, has_display, open_sink
from ov_inference.video_out import MIN_SIDE, check_video_path, fit_frame


def test_video_sink_writes_readable_video(tmp_path):
    sink = open_sink(tmp_path / "out" / "clip.mp4", fps=10)
    assert isinstance(sink, VideoSink)
    for i in range(5):
        sink.write(np.full((64, 96, 3), 40 * i, np.uint8))
    sink.write(np.full((32, 32, 3), 255, np.uint8))  # another size: fitted into the first, aspect ratio kept
    sink.close()
    cap = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    frames = [cap.read()[1] for _ in range(6)]
    assert frames[0].shape == (64, 96, 3)
    assert frames[5][:, 40:56].mean() > 200 and frames[5][:, :10].mean() < 30  # centred square, black bars


def test_video_sink_starts_from_a_tiny_frame(tmp_path):
    sink = VideoSink(tmp_path / "tiny.mp4", fps=5)
    sink.write(np.zeros((1, 1, 3), np.uint8))  # a 1x1 image first: encoders refuse such sizes
    sink.write(np.full((240, 320, 3), 200, np.uint8))
    sink.close()
    assert sink.size == (MIN_SIDE, MIN_SIDE)
    with pytest.raises(ValueError, match="closed"):  # it used to reopen the file, truncating the frames written
        sink.write(np.zeros((8, 8, 3), np.uint8))
    sink.close()                                     # twice is fine
    cap = cv2.VideoCapture(str(tmp_path / "tiny.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2


def test_fit_frame_keeps_the_aspect_ratio():
    out = fit_frame(np.full((10, 40, 3), 255, np.uint8), (20, 20))
    assert out.shape == (20, 20, 3) and out[:7].max() == 0 and out[8:12].min() == 255 and out[13:].max() == 0


def test_image_dir_sink_keeps_input_names(tmp_path):
    sink = open_sink(tmp_path / "annotated")
    assert isinstance(sink, ImageDirSink)
    sink.write(np.zeros((8, 8, 3), np.uint8), name="/some/where/photo.png")
    sink.write(np.zeros((8, 8, 3), np.uint8))
    sink.write(np.zeros((8, 8, 3), np.uint8), name="/else/where/photo.jpg")  # same stem: not overwritten
    sink.close()
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == ["frame_000001.jpg", "photo.jpg",
                                                                         "photo_1.jpg"]


def test_bad_outputs_are_explained(tmp_path):
    with pytest.raises(ValueError, match="single image"):
        open_sink(tmp_path / "x.png")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        open_sink(tmp_path / "file")
    with pytest.raises(ValueError, match="unsupported video suffix"):
        VideoSink(tmp_path / "x.gif")
    with pytest.raises(ValueError, match="unsupported video suffix '.gif'"):
        open_sink(tmp_path / "x.gif")  # used to become a folder named x.gif
    assert not (tmp_path / "x.gif").exists()
    (tmp_path / "v.mp4").mkdir()
    with pytest.raises(ValueError, match="v.mp4: it is a folder"):
        VideoSink(tmp_path / "v.mp4")
    clip = tmp_path / "in.avi"
    clip.write_bytes(b"x")
    with pytest.raises(ValueError, match="it is the input file"):
        check_video_path(clip, source=clip)
    with pytest.raises(ValueError, match="is a file, not a folder|not writable|cannot create its folder"):
        check_video_path(clip / "out.mp4")


def test_an_output_that_cannot_be_created_is_worded_alike_for_a_folder_and_a_video(tmp_path):
    """A folder output that cannot be created said only ``[Errno 20] Not a directory: '...'``; a video output said
    ``video: cannot write the video to ...``: both now name --output and say what cannot be written where."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError) as folder:
        open_sink(tmp_path / "file" / "outdir")
    with pytest.raises(ValueError) as video:
        open_sink(tmp_path / "file" / "out.mp4")
    assert str(folder.value).startswith(f"--output: cannot write the images to {tmp_path / 'file' / 'outdir'}: ")
    assert str(video.value).startswith(f"--output: cannot write the video to {tmp_path / 'file' / 'out.mp4'}: ")


@pytest.mark.parametrize("name", ["out.mp4", "photo.jpg", "anim.gif"])
def test_a_trailing_slash_on_a_file_name_is_refused_not_dropped(tmp_path, name):
    """``-o out.mp4/`` asks for a folder, yet the slash was dropped and a video written: a folder named like a file is
    refused (as ``-o anim.gif`` is), unless that folder exists; a plain folder name keeps its slash's meaning."""
    with pytest.raises(ValueError, match="ends with '/' .*named like a file"):
        open_sink(f"{tmp_path / name}/")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / name).mkdir()
    assert isinstance(open_sink(f"{tmp_path / name}/"), ImageDirSink)
    assert isinstance(open_sink(f"{tmp_path / 'run.2'}/"), ImageDirSink)


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


def test_a_display_without_a_server_is_no_display(monkeypatch, tmp_path):
    """A DISPLAY left over from SSH or a container: OpenCV's Qt backend would abort the process on it."""
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":987")  # no /tmp/.X11-unix/X987 server
    assert has_display() is False
    monkeypatch.setenv("DISPLAY", "127.0.0.1:9")  # TCP 6009: nothing listens
    assert has_display() is False


def test_a_wayland_socket_alone_is_no_display_for_the_qt_wheels(monkeypatch, tmp_path):
    """opencv-python's Qt has only the xcb (X11) plugin: WAYLAND_DISPLAY without an X server would abort it."""
    import socket as socket_module

    import demos.sinks as sinks

    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with socket_module.socket(socket_module.AF_UNIX) as server:
        server.bind(str(tmp_path / "wayland-0"))
        monkeypatch.setattr(sinks.cv2, "getBuildInformation", lambda: "  GUI:   QT5\n")
        assert has_display() is False
        monkeypatch.setattr(sinks.cv2, "getBuildInformation", lambda: "  GUI:   GTK3\n")
        assert has_display() is True  # a GTK build of OpenCV talks to Wayland itself


@pytest.mark.parametrize("name, message", [("clip.m4v", "unsupported video suffix '.m4v'"),
                                           ("clip.3gp", "unsupported video suffix '.3gp'"),
                                           ("photo.jp2", "single image"), ("photo.tif", "single image")])
def test_a_video_or_image_file_name_with_a_digit_or_another_image_type_never_becomes_a_folder(tmp_path, name,
                                                                                              message):
    """-o clip.m4v or photo.jp2 made a folder of that name full of JPEGs (only letter-only suffixes were refused;
    .tif was called a video suffix): every suffix the inputs read as a video or an image is a file, refused here."""
    with pytest.raises(ValueError, match=message):
        open_sink(tmp_path / name)
    assert not (tmp_path / name).exists()
    assert isinstance(open_sink(tmp_path / "run.2"), ImageDirSink)  # a folder name with a dot stays one
