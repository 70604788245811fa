"""Where annotated demo frames go: an on-screen window, a video file or a folder of images.

Frames are ``[H, W, 3]`` uint8 BGR. Every sink has ``write(frame, name=None)`` and ``close()``; the window sink also
reports key presses (Esc quits, p pauses).
"""
from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from ov_inference.output_paths import make_output_folder, remove_empty_folders
from ov_inference.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ov_inference.video_out import VIDEO_SUFFIXES, VideoSink

__all__ = ["VIDEO_SUFFIXES", "IMAGE_SUFFIXES", "has_display", "VideoSink", "ImageDirSink", "WindowSink", "open_sink",
           "discard_sink"]

log = logging.getLogger(__name__)

#: Suffixes of a single image file (what the inputs read as images): an ``--output`` so named is refused.
IMAGE_SUFFIXES = IMAGE_EXTENSIONS
_ESC = 27


def _display_server_reachable(wayland_ok: bool = True) -> bool:
    """Whether the X server of ``$DISPLAY`` (its socket, or TCP port 6000 + N for ``host:N``) or, when the GUI
    backend can use it (``wayland_ok``), the Wayland socket of ``$WAYLAND_DISPLAY`` answers. A ``DISPLAY`` left over
    from an SSH session or a container without its server would otherwise make OpenCV's GUI abort the whole
    process."""
    wayland = os.environ.get("WAYLAND_DISPLAY")
    if wayland and wayland_ok:
        path = Path(wayland) if wayland.startswith("/") else Path(os.environ.get("XDG_RUNTIME_DIR", "/")) / wayland
        if path.exists():
            return True
    display = os.environ.get("DISPLAY", "")
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                sock.connect(f"/tmp/.X11-unix/X{number}")
        else:
            socket.create_connection((host, 6000 + int(number)), timeout=0.5).close()
    except OSError:
        return False
    return True


def has_display() -> bool:
    """True when a window can be shown: a display server is reachable (or not needed) and OpenCV has a GUI backend."""
    info = cv2.getBuildInformation()
    gui = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.strip().startswith("GUI:")), "")
    if gui.upper() in ("", "NONE"):
        return False
    # the opencv-python wheels' Qt carries only its xcb (X11) platform plugin: Wayland alone aborts the process
    qt = gui.upper().startswith("QT")
    return not sys.platform.startswith("linux") or _display_server_reachable(wayland_ok=not qt)


class ImageDirSink:
    """One annotated image per frame in a folder, named after the input image (or ``frame_000123.jpg``); a name
    written before in this run gets ``_1``, ``_2``, ... rather than overwriting it. ``created``: the folders made
    for it (deepest first), for a caller that gives the output up unused (:func:`discard_sink`)."""

    def __init__(self, folder: str | Path, suffix: str = ".jpg", inputs: Iterable[str | Path] = ()):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"--output {self.folder} exists and is not a folder (give a folder, or a video file name "
                             f"ending in one of {sorted(VIDEO_SUFFIXES)})")
        if self.folder.is_dir():
            for image in inputs:
                if Path(image).parent.resolve() == self.folder.resolve():
                    raise ValueError(f"--output {self.folder} is the folder of the input images ({Path(image).name} "
                                     "...): the annotated images would replace or mix with them; give another folder")
        try:
            self.created = make_output_folder(self.folder, "the images")  # the folders made here, deepest first
        except OSError as exc:
            raise ValueError(f"--output: {exc}") from None
        self.suffix = suffix
        self.frames = 0
        self._written: set[str] = set()  # paths written by this sink: a repeated name gets _1, _2, ...

    def write(self, frame: np.ndarray, name: str | None = None) -> None:
        stem = Path(name).stem if name else f"frame_{self.frames:06d}"
        path = self.folder / (stem + self.suffix)
        n = 1
        while str(path) in self._written:  # a.jpg and a.png (or photos of the same name in two folders)
            path, n = self.folder / f"{stem}_{n}{self.suffix}", n + 1
        self._written.add(str(path))
        if not cv2.imwrite(str(path), frame):
            raise OSError(f"cannot write {path}")
        self.frames += 1

    def close(self) -> None:
        log.info("wrote %d images to %s", self.frames, self.folder)


class WindowSink:
    """An OpenCV window. :meth:`write` shows a frame and returns the key pressed (``-1`` for none); ``quit`` is set
    by Esc or q (or closing the window); p toggles ``paused`` (while paused it waits for the next key)."""

    def __init__(self, title: str = "Lightweight OpenPose"):
        self.title = title
        self.quit = False
        self.paused = False
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def write(self, frame: np.ndarray, name: str | None = None) -> int:
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(1) & 0xFF
        while True:
            if key in (_ESC, ord("q")):
                self.quit = True
            elif key == ord("p"):
                self.paused = not self.paused
            if self.quit or not self.paused:
                break
            key = cv2.waitKey(50) & 0xFF
            if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                self.quit = True
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.quit = True
        return key

    def close(self) -> None:
        cv2.destroyWindow(self.title)


def open_sink(output: str | Path, fps: float = 25.0, source: str | Path | None = None,
              images: Iterable[str | Path] = (), measure: bool = False):
    """A :class:`VideoSink` when ``output`` ends with a video suffix, else an :class:`ImageDirSink` folder.

    ``measure`` (a live source, whose dropped frames make ``fps`` wrong): the video is written at the rate frames
    reach it (:class:`VideoSink`'s ``measure``), so it plays back in real time.

    ``source`` (the input file) and ``images`` (the input images) are never overwritten: a video that is the input
    file, or a folder that holds the input images, is refused with ``ValueError``; so is a file name this demo cannot
    write (an image, or a video suffix the inputs read but no encoder here writes: ``.m4v``, ``.3gp``, ``.gif``, or
    any other letters-only suffix) rather than becoming a folder of that name. An ``output`` ending with ``/`` asks
    for a folder: one named like a file (``out.mp4/``: any of those suffixes) is refused too unless it exists."""
    path = Path(output)
    suffix = path.suffix.lower()
    if str(output).endswith(("/", os.sep)):  # Path drops the slash, and with it the folder the user asked for
        if _named_like_a_file(suffix) and not path.is_dir():
            raise ValueError(f"--output {output} ends with '/' (a folder) but is named like a file ({path.suffix}); "
                             f"give a folder name without that suffix, or the video file without the '/'")
        return ImageDirSink(path, inputs=images)
    if suffix in VIDEO_SUFFIXES:
        return VideoSink(path, fps, source, measure=measure, flag="--output")
    if suffix in IMAGE_SUFFIXES:
        raise ValueError(f"--output {path} looks like a single image; give a folder for images or a video file "
                         f"({', '.join(sorted(VIDEO_SUFFIXES))})")
    if _named_like_a_file(suffix) and not path.is_dir():
        raise ValueError(f"--output {path}: unsupported video suffix {path.suffix!r}; give a folder for images or "
                         f"a video file ({', '.join(sorted(VIDEO_SUFFIXES))})")
    return ImageDirSink(path, inputs=images)


def _named_like_a_file(suffix: str) -> bool:
    """Whether a lower-case ``suffix`` names a file rather than a folder: a video or image suffix, or any other
    letters-only one (``x.gif``, ``x.m4v``, ``x.webm``; ``run.2`` stays a folder name)."""
    return (suffix in VIDEO_SUFFIXES or suffix in IMAGE_SUFFIXES or suffix in VIDEO_EXTENSIONS
            or suffix[1:].isalpha())


def discard_sink(sink) -> None:
    """Close a sink of :func:`open_sink` and remove the folders it created for the output when they are still empty:
    it was given up before its first frame (the run failed while setting up) or got none (every input unreadable).
    Folders that were there, and folders holding a written frame, are kept."""
    sink.close()
    remove_empty_folders(sink.created)
