"""Frame pre-processing: any frame -> BGR u8 -> letterboxed network input (resize to the input height, pad the
width to a multiple of the model's stride with the model's pad value; :data:`pose_format.STRIDE` and
:data:`pose_format.PAD_VALUE` unless its rt_info says otherwise).

Coordinates: the returned :class:`pose_format.LetterboxMeta` maps *input pixels* back to the frame's *image pixels*.
"""
from __future__ import annotations

import cv2
import numpy as np

from pose_format import MAX_INPUT_SIDE, PAD_VALUE, STRIDE, LetterboxMeta, letterbox

__all__ = ["MAX_INPUT_WIDTH", "uint16_to_uint8", "to_bgr", "letterbox_frame", "content_size"]

#: Widest network input (pixels) a frame is letterboxed to; wider panoramas are shrunk to fit. The project's input
#: side bound (:data:`pose_format.MAX_INPUT_SIDE`), which the CLIs' --height / --width also obey.
MAX_INPUT_WIDTH = MAX_INPUT_SIDE


def uint16_to_uint8(frame: np.ndarray) -> np.ndarray:
    """A 16-bit frame (0..65535) as 8 bits (0..255) by the rule OpenCV's ``IMREAD_COLOR`` applies to a 16-bit file
    (:func:`ov_inference.sources.read_image`): keep the high byte (``>> 8``), so the same pixels give the same
    values whether they come from a file or from memory."""
    return (frame >> 8).astype(np.uint8)


def to_bgr(frame: np.ndarray) -> np.ndarray:
    """A ``[H, W, 3]`` uint8 BGR view or copy of ``frame``.

    Accepts gray ``[H, W]`` or ``[H, W, 1]``, BGR ``[H, W, 3]`` and BGRA ``[H, W, 4]``, as uint8 (or uint16,
    brought to 8 bits by :func:`uint16_to_uint8`). Anything else raises ``ValueError`` naming the shape and dtype
    found.
    """
    if frame is None:
        raise ValueError("frame is None (a failed cv2.imread / VideoCapture.read?)")
    frame = np.asarray(frame)
    if frame.dtype == np.uint16:
        frame = uint16_to_uint8(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 BGR (0..255), got dtype {frame.dtype} with shape {frame.shape}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        if frame.size == 0:
            raise ValueError(f"empty frame of shape {frame.shape}")
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"frame must be [H, W] gray, [H, W, 3] BGR or [H, W, 4] BGRA, got shape {frame.shape}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"empty frame of shape {frame.shape}")
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def letterbox_frame(frame: np.ndarray, input_height: int, max_input_width: int = MAX_INPUT_WIDTH,
                    stride: int = STRIDE, pad_value: int = PAD_VALUE) -> tuple[np.ndarray, LetterboxMeta]:
    """Frame of any size/channels -> ``([input_height, W, 3]`` u8 BGR input, meta), ``W`` a multiple of ``stride``.

    The frame is resized to ``input_height`` pixels keeping its aspect ratio and padded on the right (and, for a
    panorama, at the bottom) with the raw pixel value ``pad_value``. ``stride`` and ``pad_value`` are the model's
    (:class:`ov_inference.ModelSpec`, read from its rt_info); the defaults are :data:`pose_format.STRIDE` and
    :data:`pose_format.PAD_VALUE`. ``W`` is at most ``max_input_width`` (rounded down to the stride): very wide
    frames are shrunk further and the bottom padded, so a panorama cannot make the network input unbounded.
    """
    if stride < 1:
        raise ValueError(f"stride must be a positive number of pixels, got {stride}")
    if not 0 <= pad_value <= 255:
        raise ValueError(f"pad_value must be a raw pixel value 0..255, got {pad_value}")
    if input_height < stride or input_height % stride:
        raise ValueError(f"input_height must be a positive multiple of {stride}, got {input_height}")
    bgr = to_bgr(frame)
    h, w = bgr.shape[:2]
    limit = max(stride, max_input_width // stride * stride)
    width = limit if w * input_height / h > limit else None  # None: the next multiple of the stride
    return letterbox(bgr, input_height, width, stride=stride, pad_value=pad_value)


def content_size(meta: LetterboxMeta) -> tuple[int, int]:
    """``(width, height)`` in input pixels of the frame's resized content inside the letterboxed input (the rest is
    padding): :attr:`pose_format.LetterboxMeta.content_size`."""
    return meta.content_size
