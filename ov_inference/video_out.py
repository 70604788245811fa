"""Annotated frames to a video file, for ``python -m ov_inference --output-video`` and the demos' ``--output``.

Frames are ``[H, W, 3]`` uint8 BGR. :func:`check_video_path` refuses a bad path before any model is loaded (unknown
suffix, a parent that is a file, the input file itself); :class:`VideoSink` opens the writer on the first frame's
size (even, at least :data:`MIN_SIDE` and at most :data:`MAX_SIDE` pixels a side: encoders refuse odd, tiny or
huge frames) and fits every frame into it with its aspect ratio kept (black bars), so a folder of mixed sizes is
never stretched. A live source drops frames, so its video is written at the rate frames reach the sink, measured
over the first :data:`MEASURE_FRAMES` frames (``measure=True``), not at the camera's rate: played back at that, it
would run too fast.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import cv2
import numpy as np

from ov_inference.output_paths import check_output_file, missing_folders

__all__ = ["VIDEO_SUFFIXES", "MIN_SIDE", "MAX_SIDE", "MIN_FPS", "MAX_FPS", "MEASURE_FRAMES", "check_video_path",
           "fit_frame", "VideoSink"]

log = logging.getLogger(__name__)

#: Video suffixes and their fourcc codecs (OpenCV's built-in encoders).
VIDEO_SUFFIXES = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}
#: Smallest side of a written video, pixels.
MIN_SIDE = 64
#: Largest side of a written video, pixels (MPEG-4 refuses a 9504 x 6336 photo; larger frames are scaled down).
MAX_SIDE = 4096
#: Frame rates a video is written at (OpenCV's writer hangs on an infinite one; others come out unplayable).
MIN_FPS, MAX_FPS = 1.0, 1000.0
#: Frames a measuring :class:`VideoSink` holds (in memory) to measure the rate they come at before it opens the file.
MEASURE_FRAMES = 16


def _video_fps(fps: float | None) -> float:
    """``fps`` (frames per second) clamped to :data:`MIN_FPS`..:data:`MAX_FPS`; 25 when it is not a positive
    finite number (a stream announcing none)."""
    return min(MAX_FPS, max(MIN_FPS, float(fps))) if fps and math.isfinite(fps) and fps > 0 else 25.0


def check_video_path(path: str | Path, source: str | Path | None = None, flag: str = "--output-video") -> Path:
    """``path`` as a :class:`~pathlib.Path` after checking it can become a video: a known suffix, then
    :func:`~ov_inference.output_paths.check_output_file` (not a folder, a writable folder, not the input file
    ``source``). Raises ``ValueError`` naming ``flag``."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"{flag} {path}: unsupported video suffix {path.suffix!r}; use one of "
                         f"{', '.join(sorted(VIDEO_SUFFIXES))}")
    try:
        check_output_file(path, "the video", source)
    except OSError as exc:
        raise ValueError(f"{flag}: {exc}") from None
    return path


def fit_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` scaled to fit ``size`` = (width, height) pixels with its aspect ratio kept, centred on black."""
    w, h = size
    fh, fw = frame.shape[:2]
    if (fw, fh) == (w, h):
        return frame
    scale = min(w / fw, h / fh)
    nw, nh = max(1, min(w, round(fw * scale))), max(1, min(h, round(fh * scale)))
    canvas = np.zeros((h, w, 3), np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas[y:y + nh, x:x + nw] = cv2.resize(frame, (nw, nh), interpolation=interp)
    return canvas


class VideoSink:
    """An annotated video file (codec by suffix, see :data:`VIDEO_SUFFIXES`), opened on the first frame's size
    (rounded up to even sides of at least :data:`MIN_SIDE` pixels); every frame is fitted into that size with
    :func:`fit_frame`. ``fps``: the container frame rate, clamped to :data:`MIN_FPS`..:data:`MAX_FPS` (25 when it
    is not a positive number: a stream announcing none); ``source``: the input file, which
    ``path`` must not be; ``flag``: the option named when ``path`` is refused (:func:`check_video_path`).
    ``measure``: hold the first :data:`MEASURE_FRAMES` frames and write the video at the rate they came at (wall
    clock), for a live source whose dropped frames make its own rate wrong; ``fps`` is then used only when fewer
    than 2 frames come. ``created``: the folders made for ``path`` (deepest first), for a caller that gives the
    output up unused."""

    def __init__(self, path: str | Path, fps: float | None = 25.0, source: str | Path | None = None,
                 measure: bool = False, flag: str = "video"):
        self.created = missing_folders(Path(path).parent)  # check_video_path makes them
        self.path = check_video_path(path, source, flag=flag)
        self.fps = _video_fps(fps)
        self.frames = 0
        self._held: list[tuple[float, np.ndarray]] | None = [] if measure else None  # (perf_counter s, frame)
        self._writer: cv2.VideoWriter | None = None
        self._closed = False
        self.size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray, name: str | None = None) -> None:
        if self._closed:  # a new writer would start the file again, losing the frames written
            raise ValueError(f"the video {self.path} is closed ({self.frames} frames written)")
        if self.size is None:
            fw, fh = frame.shape[1], frame.shape[0]
            shrink = min(1.0, MAX_SIDE / max(fw, fh))
            self.size = tuple(min(MAX_SIDE, max(MIN_SIDE, side + side % 2))
                              for side in (round(fw * shrink), round(fh * shrink)))
        if self._held is not None:  # measuring: a copy, as the caller may reuse its buffer
            self._held.append((time.perf_counter(), np.array(fit_frame(frame, self.size))))
            if len(self._held) >= MEASURE_FRAMES:
                self._write_held()
            return
        self._write(frame)

    def _write(self, frame: np.ndarray) -> None:
        """Write one frame, opening the file at :attr:`fps` on the first."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_SUFFIXES[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, self.size)
            if not self._writer.isOpened():
                self._writer = None
                raise OSError(f"cannot open a video writer for {self.path} ({self.size[0]}x{self.size[1]}, "
                              f"{VIDEO_SUFFIXES[self.path.suffix.lower()]})")
        self._writer.write(fit_frame(frame, self.size))
        self.frames += 1

    def _write_held(self) -> None:
        """End the measurement: :attr:`fps` becomes the rate the held frames came at (frames per second between the
        first and the last), and they are written."""
        held, self._held = self._held, None
        if len(held) >= 2 and held[-1][0] > held[0][0]:
            self.fps = _video_fps((len(held) - 1) / (held[-1][0] - held[0][0]))
            log.info("video %s: written at %.1f FPS, the rate frames came at", self.path, self.fps)
        for _, frame in held:
            self._write(frame)

    def close(self) -> None:
        if self._held and not self._closed:  # fewer frames than a full measurement
            self._write_held()
        self._closed = True
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("wrote %d frames to %s", self.frames, self.path)
