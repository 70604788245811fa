"""A short synthetic video of people for the demo, the quickstart and tests (no camera or download needed).

People come from :func:`train.synthetic.render_scene` (NumPy + OpenCV, no torch): each segment renders one wide
scene and pans a camera window across it, so the figures move smoothly from frame to frame (which keeps tracking
and smoothing meaningful); the clip cuts to a new scene every ``segment`` frames.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

__all__ = ["synthetic_frames", "write_synthetic_clip"]

log = logging.getLogger(__name__)


def synthetic_frames(frames: int = 60, width: int = 456, height: int = 256, seed: int = 0, segment: int = 40,
                     max_people: int = 4):
    """Yield ``frames`` BGR uint8 ``[height, width, 3]`` frames panning over synthetic scenes of people."""
    from train.synthetic import SyntheticConfig, render_scene

    if frames < 1 or segment < 1:
        raise ValueError(f"frames and segment must be >= 1, got {frames} and {segment}")
    cfg = SyntheticConfig(width=int(width * 1.6), height=height, max_people=max_people, min_people=min(2, max_people))
    pan = cfg.width - width
    produced = 0
    scene_index = 0
    while produced < frames:
        scene, _ = render_scene(np.random.default_rng([seed, scene_index]), cfg)
        scene_index += 1
        n = min(segment, frames - produced)
        for i in range(n):
            x = int(round(pan * i / max(1, segment - 1)))
            yield np.ascontiguousarray(scene[:, x:x + width])
        produced += n


def write_synthetic_clip(path: str | Path, frames: int = 60, width: int = 456, height: int = 256, fps: float = 15.0,
                         seed: int = 0) -> Path:
    """Write :func:`synthetic_frames` to a video file (``.mp4`` = mp4v, ``.avi`` = MJPG); returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot open a video writer for {path}")
    try:
        for frame in synthetic_frames(frames, width, height, seed):
            writer.write(frame)
    finally:
        writer.release()
    log.info("wrote a %d-frame synthetic clip to %s", frames, path)
    return path
