"""Drawing poses and live statistics on BGR frames (NumPy + OpenCV only, never torch).

Coordinates are *frame pixels* (x right, y down), as returned by :class:`ov_inference.PoseEstimator`.
Every function draws in place on a ``[H, W, 3]`` uint8 BGR frame and returns that same array, so calls chain.
Colours are BGR tuples. Limbs and sides come from :mod:`pose_format` (``LIMBS``, ``LEFT_KEYPOINTS``,
``RIGHT_KEYPOINTS``, ``EAR_SHOULDER_LIMBS``); nothing about the skeleton is restated here.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import cv2
import numpy as np

from pose_format import EAR_SHOULDER_LIMBS, LEFT_KEYPOINTS, LIMBS, NUM_KEYPOINTS, RIGHT_KEYPOINTS

__all__ = [
    "LEFT_COLOR", "RIGHT_COLOR", "CENTER_COLOR", "LIMB_SIDES", "limb_colors", "id_color", "draw_poses", "draw_stats",
    "STATS_CORNERS", "stats_corner",
]

#: Default BGR colours of left-side limbs/keypoints (orange-red), right side (blue) and the body centre (green).
LEFT_COLOR: tuple[int, int, int] = (0, 120, 255)
RIGHT_COLOR: tuple[int, int, int] = (255, 140, 0)
CENTER_COLOR: tuple[int, int, int] = (60, 220, 60)

_LEFT = frozenset(LEFT_KEYPOINTS)
_RIGHT = frozenset(RIGHT_KEYPOINTS)


def _side(limb: tuple[int, int]) -> str:
    a, b = limb
    if a in _LEFT or b in _LEFT:
        return "left"
    if a in _RIGHT or b in _RIGHT:
        return "right"
    return "center"


#: Side of each limb of :data:`pose_format.LIMBS` ("left", "right" or "center"), in limb order.
LIMB_SIDES: tuple[str, ...] = tuple(_side(limb) for limb in LIMBS)


def limb_colors(
    left: tuple[int, int, int] = LEFT_COLOR,
    right: tuple[int, int, int] = RIGHT_COLOR,
    center: tuple[int, int, int] = CENTER_COLOR,
) -> tuple[tuple[int, int, int], ...]:
    """BGR colour of each limb in :data:`pose_format.LIMBS` order, by the side the limb belongs to."""
    by_side = {"left": left, "right": right, "center": center}
    return tuple(by_side[s] for s in LIMB_SIDES)


def _keypoint_colors(left, right, center) -> tuple[tuple[int, int, int], ...]:
    return tuple(left if k in _LEFT else right if k in _RIGHT else center for k in range(NUM_KEYPOINTS))


def id_color(track_id: int) -> tuple[int, int, int]:
    """A stable, saturated BGR colour for a person id (golden-ratio hue walk, so neighbouring ids differ)."""
    hue = int((int(track_id) * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 220, 255]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"expected a [H, W, 3] uint8 BGR frame, got "
            f"{getattr(frame, 'dtype', type(frame).__name__)} of shape {getattr(frame, 'shape', None)}"
        )


def _keypoints_of(pose) -> np.ndarray:
    kpts = np.asarray(getattr(pose, "keypoints", pose), dtype=np.float32)
    if kpts.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"expected pose keypoints of shape ({NUM_KEYPOINTS}, 3) (x, y, confidence), got {kpts.shape}")
    return kpts


def draw_poses(
    frame: np.ndarray,
    poses: Iterable,
    show_ids: bool = True,
    min_confidence: float = 0.0,
    thickness: int | None = None,
    radius: int | None = None,
    ear_shoulder: str = "thin",
    left_color: tuple[int, int, int] = LEFT_COLOR,
    right_color: tuple[int, int, int] = RIGHT_COLOR,
    center_color: tuple[int, int, int] = CENTER_COLOR,
) -> np.ndarray:
    """Draw skeletons on ``frame`` in place and return it.

    ``poses``: :class:`ov_inference.Pose` objects (``keypoints`` float ``[18, 3]`` = (x, y, confidence) in frame
    pixels, confidence 0 = missing; optional ``track_id``), or bare ``[18, 3]`` arrays. A keypoint is drawn when its
    confidence is > ``min_confidence``; a limb when both ends are. Left and right limbs get distinct colours; the
    ear-shoulder limbs are drawn ``"thin"`` (default), ``"skip"``-ped, or ``"full"``. With ``show_ids`` a pose whose
    ``track_id`` is not None gets ``#id`` above its highest keypoint, in a colour stable per id.
    ``thickness`` / ``radius`` (pixels) default to values scaled to the frame size.
    """
    _check_frame(frame)
    if ear_shoulder not in ("thin", "skip", "full"):
        raise ValueError(f"ear_shoulder must be 'thin', 'skip' or 'full', got {ear_shoulder!r}")
    h, w = frame.shape[:2]
    base = max(1, round(min(h, w) / 240))
    thickness = base + 1 if thickness is None else max(1, int(thickness))
    radius = base + 2 if radius is None else max(1, int(radius))
    colors = limb_colors(left_color, right_color, center_color)
    kp_colors = _keypoint_colors(left_color, right_color, center_color)
    font_scale = max(0.4, min(h, w) / 900)

    for pose in poses:
        kpts = _keypoints_of(pose)
        ok = (kpts[:, 2] > min_confidence) & np.isfinite(kpts[:, :2]).all(axis=1)
        pts = np.round(kpts[:, :2]).astype(np.int32)
        for limb_id, (a, b) in enumerate(LIMBS):
            if not (ok[a] and ok[b]):
                continue
            t = thickness
            if limb_id in EAR_SHOULDER_LIMBS:
                if ear_shoulder == "skip":
                    continue
                if ear_shoulder == "thin":
                    t = max(1, thickness // 2)
            cv2.line(frame, tuple(map(int, pts[a])), tuple(map(int, pts[b])), colors[limb_id], t, cv2.LINE_AA)
        for k in np.flatnonzero(ok):
            cv2.circle(frame, tuple(map(int, pts[k])), radius, kp_colors[k], -1, cv2.LINE_AA)
        track_id = getattr(pose, "track_id", None)
        if show_ids and track_id is not None and ok.any():
            top = int(np.argmin(np.where(ok, pts[:, 1], np.iinfo(np.int32).max)))
            x, y = int(pts[top, 0]), int(pts[top, 1]) - radius - 4
            _label(frame, f"#{track_id}", (x, y), font_scale, id_color(track_id))
    return frame


def _label(frame, text: str, org: tuple[int, int], scale: float, color, thickness: int = 1) -> None:
    """Text with a dark outline so it reads on any background; ``org`` is the bottom-left corner (clamped in frame)."""
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    h, w = frame.shape[:2]
    x = int(np.clip(org[0], 0, max(0, w - tw)))
    y = int(np.clip(org[1], th, max(th, h - 1)))
    cv2.putText(frame, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(frame, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)


#: Where :func:`draw_stats` can put its panel.
STATS_CORNERS: tuple[str, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")


def _stats_lines(fps: float | None, latency_ms: float | None, people: int | None, extra: Sequence[str]) -> list[str]:
    return [
        f"FPS: {fps:.1f}" if fps is not None else "FPS: -",
        f"Latency: {latency_ms:.1f} ms" if latency_ms is not None else "Latency: -",
        f"People: {int(people)}" if people is not None else "People: -",
        *extra,
    ]


def _panel_layout(shape: tuple[int, ...], lines: Sequence[str]) -> tuple[int, int, float, int, int]:
    """(panel width, panel height, font scale, text height, line step), pixels, for ``lines`` on a frame of
    ``shape``."""
    h, w = shape[:2]
    scale = max(0.4, min(h, w) / 900)
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    step = th + base + 4
    width = max(cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for s in lines) + 12
    return width, step * len(lines) + 8, scale, th, step


def _panel_box(shape: tuple[int, ...], width: int, height: int, corner: str) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a ``width`` x ``height`` panel in ``corner`` of a frame of ``shape``, clipped to it."""
    if corner not in STATS_CORNERS:
        raise ValueError(f"corner must be one of {', '.join(STATS_CORNERS)}, got {corner!r}")
    h, w = shape[:2]
    width, height = min(w, width), min(h, height)
    x0 = w - width if corner.endswith("right") else 0
    y0 = h - height if corner.startswith("bottom") else 0
    return x0, y0, x0 + width, y0 + height


def stats_corner(
    frame_shape: tuple[int, ...],
    poses: Iterable,
    current: str = "top-left",
    extra: Sequence[str] = (),
    margin: int = 12,
) -> str:
    """The corner for the stats panel that hides the fewest keypoints of ``poses`` (frame pixels).

    Stays in ``current`` while it hides none, or while no other corner hides fewer, so the panel moves only when a
    person walks under it and a freer corner exists (no flicker at the edge). ``margin`` (pixels) widens the panel
    for the test, as limbs and markers are drawn wider than their points. ``extra``: the panel's extra lines (its
    width depends on them), as given to :func:`draw_stats`.
    """
    points = [_keypoints_of(pose) for pose in poses]
    if not points:
        return current
    kpts = np.concatenate(points)
    xy = kpts[kpts[:, 2] > 0, :2]
    width, height = _panel_layout(frame_shape, _stats_lines(0.0, 0.0, 0, extra))[:2]

    def hidden(corner: str) -> int:
        x0, y0, x1, y1 = _panel_box(frame_shape, width, height, corner)
        inside = ((xy[:, 0] >= x0 - margin) & (xy[:, 0] < x1 + margin)
                  & (xy[:, 1] >= y0 - margin) & (xy[:, 1] < y1 + margin))
        return int(inside.sum())

    counts = {corner: hidden(corner) for corner in STATS_CORNERS}
    if counts[current] == 0:
        return current
    best = min(STATS_CORNERS, key=lambda corner: counts[corner])  # ties: the earlier corner of STATS_CORNERS
    return best if counts[best] < counts[current] else current


def draw_stats(
    frame: np.ndarray,
    fps: float | None,
    latency_ms: float | None,
    people: int | None,
    extra: Sequence[str] = (),
    color: tuple[int, int, int] = (255, 255, 255),
    corner: str = "top-left",
) -> np.ndarray:
    """Draw a stats panel (FPS, latency in milliseconds, people count, then ``extra`` lines) in ``corner`` (one of
    :data:`STATS_CORNERS`; :func:`stats_corner` picks one that hides no one); in place.

    ``None`` values print as ``-`` (e.g. before the first FPS estimate). Returns ``frame``.
    """
    _check_frame(frame)
    lines = _stats_lines(fps, latency_ms, people, extra)
    width, height, scale, th, step = _panel_layout(frame.shape, lines)
    x0, y0, x1, y1 = _panel_box(frame.shape, width, height, corner)
    if x1 > x0 and y1 > y0:
        roi = frame[y0:y1, x0:x1]
        roi[:] = (roi.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken the panel area for contrast
    for i, s in enumerate(lines):
        cv2.putText(frame, s, (x0 + 6, y0 + 4 + th + i * step), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1,
                    cv2.LINE_AA)
    return frame
