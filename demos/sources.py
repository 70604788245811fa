"""Frame sources for the demo: a camera id, a video file, or images (a folder or a glob pattern).

A source yields ``(frame, info)`` pairs: ``frame`` is a BGR uint8 array, or ``None`` when an image could not be read
(then ``info["error"]`` says why, so the demo reports it with its path and goes on); ``info["name"]`` is the image
path or ``"frame N"``. ``live`` tells whether the source is a camera (the pipeline then drops stale frames).
"""
from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "SourceError", "FrameSource", "open_source"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class SourceError(ValueError):
    """The input cannot be opened (missing file, camera that does not open, folder without images)."""


@dataclass
class FrameSource:
    """An opened input. Iterate it for ``(frame, info)``; ``fps`` is the source frame rate (``None`` if unknown)."""

    kind: str  # "camera", "video" or "images"
    description: str
    fps: float | None
    live: bool
    _capture: cv2.VideoCapture | None = None
    _images: list[Path] | None = None
    max_frames: int | None = None

    def __iter__(self) -> Iterator[tuple[np.ndarray | None, dict]]:
        count = 0
        if self._images is not None:
            for path in self._images:
                if self.max_frames is not None and count >= self.max_frames:
                    return
                count += 1
                frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if frame is None:
                    yield None, {"name": str(path), "error": f"cannot read image {path}"}
                else:
                    yield frame, {"name": str(path)}
            return
        cap = self._capture
        try:
            while self.max_frames is None or count < self.max_frames:
                ok, frame = cap.read()
                if not ok or frame is None:
                    if self.kind == "camera":
                        log.warning("camera %s stopped delivering frames after %d", self.description, count)
                    break
                yield frame, {"name": f"frame {count}"}
                count += 1
        finally:
            cap.release()

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()


def _expand_images(spec: str) -> list[Path] | None:
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not files:
            raise SourceError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}")
        return files
    if any(ch in spec for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(spec) if Path(p).suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise SourceError(f"no images match {spec!r}")
        return files
    if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
        return [path]
    return None


def open_source(spec: str | int, max_frames: int | None = None) -> FrameSource:
    """Open ``spec``: an integer (or digit string) camera id, a video file, an image, a folder or a glob of images.

    Raises :class:`SourceError` with the reason when it cannot be opened.
    """
    text = str(spec)
    if text.isdigit():
        cap = cv2.VideoCapture(int(text))
        if not cap.isOpened():
            raise SourceError(f"camera {text} cannot be opened (no such device, or it is busy / not permitted)")
        fps = cap.get(cv2.CAP_PROP_FPS) or None
        return FrameSource("camera", f"camera {text}", fps, True, _capture=cap, max_frames=max_frames)
    images = _expand_images(text)
    if images is not None:
        return FrameSource("images", f"{len(images)} images from {text}", None, False, _images=images,
                           max_frames=max_frames)
    path = Path(text)
    if not path.exists():
        raise SourceError(f"input {text} does not exist (expected a camera id, a video, an image, a folder or a glob)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SourceError(f"cannot open video {path} (unsupported or corrupt file)")
    fps = cap.get(cv2.CAP_PROP_FPS)
    return FrameSource("video", str(path), fps if fps and fps > 0 else None, False, _capture=cap,
                       max_frames=max_frames)
