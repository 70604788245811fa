"""Network-input normalization and map geometry.

Coordinate systems used across the project:
- *image pixels*: the caller's frame, x to the right, y down, pixel centres at integer coordinates;
- *input pixels*: the network input after :func:`letterbox` (resized to a target height, width padded on the right);
- *map cells*: output maps at stride 8; cell ``(i, j)`` (column, row) is centred on input pixel
  ``(8 i + 3.5, 8 j + 3.5)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRIDE = 8
#: Input-pixel offset of a cell centre: cell i is centred on x = STRIDE * i + CELL_OFFSET.
CELL_OFFSET = STRIDE / 2 - 0.5
#: Network input is planar BGR normalized as (pixel - NORM_MEAN) / NORM_SCALE.
NORM_MEAN = 128.0
NORM_SCALE = 256.0
#: Raw pixel value used to pad (normalizes to exactly 0, as the reference pads the normalized image with 0).
PAD_VALUE = 128
#: Smallest network input side (height or width, pixels) the project accepts: two map cells.
MIN_INPUT_SIDE = 2 * STRIDE
#: Largest network input side (pixels) the project accepts (the runtime's widest letterbox; far beyond any camera
#: or photo a person is found in at these input sizes, and an absurd one ran the resize out of memory).
MAX_INPUT_SIDE = 4096
TRAIN_CROP = 368
INPUT_HEIGHT_LIVE = 256
INPUT_HEIGHT_ACCURATE = 368
#: Heatmap Gaussian sigma, input pixels.
HEATMAP_SIGMA = 7.0
#: PAF half-width, map cells.
PAF_THICKNESS = 1.0


def normalize(image_bgr_u8: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` uint8 BGR -> float32 ``[3, H, W]`` network input, ``(pixel - 128) / 256``."""
    return ((np.asarray(image_bgr_u8, dtype=np.float32) - NORM_MEAN) / NORM_SCALE).transpose(2, 0, 1).copy()


def inside_image(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Whether image-pixel points ``xy`` ``[..., 2]`` lie on a ``width`` x ``height`` image (bools ``[...]``).

    Pixel centres are at integer coordinates, so pixel ``i`` spans ``[i - 0.5, i + 0.5)`` and the image
    ``[-0.5, width - 0.5)``: a point between the last pixel's centre ``width - 1`` and its edge is inside."""
    xy = np.asarray(xy, dtype=np.float64)
    return ((xy[..., 0] >= -0.5) & (xy[..., 0] < width - 0.5)
            & (xy[..., 1] >= -0.5) & (xy[..., 1] < height - 0.5))


def cell_centers(n: int, stride: int = STRIDE) -> np.ndarray:
    """Input-pixel coordinate of the centres of cells ``0..n-1`` along one axis (``stride * i + stride / 2 - 0.5``)."""
    return stride * np.arange(n, dtype=np.float32) + (stride / 2 - 0.5)


@dataclass(frozen=True)
class LetterboxMeta:
    """How an image became a network input: ``input = resize(image, scale)`` then pad right/bottom.

    ``scale`` is input pixels per image pixel; ``image_size`` and ``input_size`` are ``(width, height)``. The image
    is resized to whole input pixels (:attr:`content_size`), so each axis has its own exact factor,
    :attr:`axis_scales`, which the coordinate maps use.
    """

    scale: float
    image_size: tuple[int, int]
    input_size: tuple[int, int]

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Map input-pixel coordinates ``[..., 2]`` back to image pixels (:attr:`axis_scales`)."""
        return map_to_image(xy, self.axis_scales)

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Map image-pixel coordinates ``[..., 2]`` to input pixels (the inverse of :meth:`to_image`)."""
        return map_to_input(xy, self.axis_scales)

    @property
    def axis_scales(self) -> tuple[float, float]:
        """``(x, y)`` input pixels per image pixel of the resized content: :attr:`content_size` over
        ``image_size``. The resize maps the image's edges onto the content's, so these, not ``scale``, place a pixel:
        ``round(w * scale) / w`` differs from ``scale`` by up to half an input pixel over the image's width."""
        (cw, ch), (w, h) = self.content_size, self.image_size
        return cw / w, ch / h

    @property
    def content_size(self) -> tuple[int, int]:
        """``(width, height)`` in input pixels of the resized image inside the input (the rest, right and bottom, is
        padding): the sizes :func:`letterbox` resized to."""
        w, h = self.image_size
        return (min(self.input_size[0], max(1, int(round(w * self.scale)))),
                min(self.input_size[1], max(1, int(round(h * self.scale)))))


def map_to_image(xy: np.ndarray, scale: float | tuple[float, float]) -> np.ndarray:
    """Input-pixel ``(x, y)`` -> image pixels for an image resized by ``scale`` (pixel-centre aligned; one factor,
    or ``(x, y)`` factors for points ``[..., 2]``)."""
    return (np.asarray(xy, dtype=np.float32) + 0.5) / np.asarray(scale, dtype=np.float32) - 0.5


def map_to_input(xy: np.ndarray, scale: float | tuple[float, float]) -> np.ndarray:
    """Image-pixel ``(x, y)`` -> input pixels of the image resized by ``scale`` (one factor or ``(x, y)`` factors):
    the inverse of :func:`map_to_image`."""
    return (np.asarray(xy, dtype=np.float32) + 0.5) * np.asarray(scale, dtype=np.float32) - 0.5


def _resize(image: np.ndarray, new_w: int, new_h: int) -> np.ndarray:
    """Resize to ``(new_w, new_h)``: INTER_LINEAR to enlarge, INTER_AREA-quality to shrink.

    OpenCV's INTER_AREA is fast only for integer factors (about 15x slower at 1280x720 -> 455x256 than at 2x). So a
    shrink first divides by the largest integer factor ``k >= 2`` that divides both sides exactly (fast INTER_AREA,
    exact pixel geometry), then finishes the remaining factor (< 2) with INTER_LINEAR; shrinks with no such ``k`` use
    INTER_AREA directly. Mean difference from a direct INTER_AREA: ~0.15 grey levels.
    """
    import cv2

    h, w = image.shape[:2]
    if new_w >= w and new_h >= h:
        return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    k_max = min(w // max(new_w, 1), h // max(new_h, 1))
    k = next((k for k in range(k_max, 1, -1) if w % k == 0 and h % k == 0), 1)
    if k == 1:
        return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    image = cv2.resize(image, (w // k, h // k), interpolation=cv2.INTER_AREA)
    if image.shape[1] == new_w and image.shape[0] == new_h:
        return image
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def letterbox(image: np.ndarray, input_height: int, input_width: int | None = None, *, stride: int = STRIDE,
              pad_value: int = PAD_VALUE) -> tuple[np.ndarray, LetterboxMeta]:
    """Resize a BGR uint8 image to ``input_height`` keeping its aspect ratio, then pad with ``pad_value`` (raw pixels,
    default :data:`PAD_VALUE`).

    The width is padded on the right up to ``input_width`` when given (the image is shrunk further if it would
    not fit), else up to the next multiple of ``stride`` (default :data:`STRIDE`). Returns the ``[H, W, 3]`` uint8
    input and its meta. An image that would be under one input pixel wide or high (e.g. 50 x 20000 at height 256)
    raises ``ValueError``: stretched to one pixel, it would no longer be resized by ``scale`` on that axis, and
    :meth:`LetterboxMeta.to_image` would map its keypoints past its border.
    """
    import cv2

    h, w = image.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"empty image of shape {image.shape}")
    scale = input_height / h
    if input_width is not None and round(w * scale) > input_width:
        scale = input_width / w
    for side, length in (("wide", w * scale), ("high", h * scale)):
        if length < 1:
            raise ValueError(f"frame {w}x{h} is too thin: resized by {scale:.4g} to the {input_height}-pixel input, "
                             f"it would be {length:.2g} pixels, under one input pixel {side} (crop or pad it to a "
                             "less extreme aspect ratio)")
    new_w = int(round(w * scale))
    new_h = min(input_height, int(round(h * scale)))
    resized = _resize(image, new_w, new_h)
    out_w = input_width if input_width is not None else -(-new_w // stride) * stride
    out = np.full((input_height, out_w, 3), pad_value, dtype=np.uint8)
    out[:new_h, :new_w] = resized
    return out, LetterboxMeta(scale=scale, image_size=(w, h), input_size=(out_w, input_height))


def input_side_error(value: int) -> str | None:
    """Why ``value`` (pixels) cannot be a network input side (height, width or training crop) - ``"must be a multiple
    of 8 and >= 16, got ..."`` or ``"must be at most 4096, got ..."``, to follow the option's name - or ``None`` when
    it can: a multiple of :data:`STRIDE` from :data:`MIN_INPUT_SIDE` to :data:`MAX_INPUT_SIDE`. One rule and one
    wording for every command line and option check."""
    if value < MIN_INPUT_SIDE or value % STRIDE:
        return f"must be a multiple of {STRIDE} and >= {MIN_INPUT_SIDE}, got {value}"
    if value > MAX_INPUT_SIDE:
        return f"must be at most {MAX_INPUT_SIDE}, got {value}"
    return None


def check_input_side(value: int, what: str, error: type[Exception] = ValueError) -> int:
    """``value`` when :func:`input_side_error` accepts it, else raise ``error("<what> must be ...")``."""
    message = input_side_error(value)
    if message is not None:
        raise error(f"{what} {message}")
    return value
