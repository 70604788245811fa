"""``--output-size WxH``: the resolution of the annotated frames shown, written and streamed.

As Open Model Zoo's ``--output_resolution``: the frame is scaled to fit inside ``W`` x ``H`` pixels keeping its
aspect ratio (so one side matches and the other is at most its bound), then the skeletons and the stats panel are
drawn at that resolution (crisp lines, readable text). Keypoints reported elsewhere (``--raw``) stay in the input
frame's pixels.
"""
from __future__ import annotations

import re

import cv2
import numpy as np

from ov_inference.video_out import MAX_SIDE as VIDEO_MAX_SIDE

__all__ = ["MAX_SIDE", "parse_size", "fit_size", "resize_to_fit"]

#: Largest side of an output size, pixels: the annotated video's own limit (:data:`ov_inference.video_out.MAX_SIDE`),
#: so a window, a video and the web view show the same frames; more is a typo that would allocate gigabytes.
MAX_SIDE = VIDEO_MAX_SIDE

_SIZE = re.compile(r"^\s*(\d+)\s*[xX*]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)`` (width, height in pixels). Raises ``ValueError`` naming the expected form."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"output size must be WIDTHxHEIGHT in pixels, e.g. 1280x720, not {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1:
        raise ValueError(f"output size must be at least 1x1 pixels, got {text!r}")
    if max(width, height) > MAX_SIDE:
        raise ValueError(f"output size sides must be at most {MAX_SIDE} pixels, got {text!r}")
    return width, height


def fit_size(frame_size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The ``(width, height)`` of a ``frame_size`` ``(width, height)`` frame scaled to fit in ``box``, aspect kept."""
    width, height = frame_size
    scale = min(box[0] / width, box[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_to_fit(frame: np.ndarray, box: tuple[int, int]) -> tuple[np.ndarray, tuple[float, float]]:
    """``frame`` resized to fit in ``box`` ``(width, height)``, and the ``(sx, sy)`` factors from its pixels to the
    new ones (``(1.0, 1.0)`` and the frame itself when it already has that size)."""
    height, width = frame.shape[:2]
    new_w, new_h = fit_size((width, height), box)
    if (new_w, new_h) == (width, height):
        return frame, (1.0, 1.0)
    interpolation = cv2.INTER_AREA if new_w < width else cv2.INTER_LINEAR
    return cv2.resize(frame, (new_w, new_h), interpolation=interpolation), (new_w / width, new_h / height)
