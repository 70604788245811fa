"""The pose demo loop: a frame source through :class:`ov_inference.AsyncPipeline`, optional tracking and smoothing,
drawing, then a window, an annotated video / image folder and / or the web live view.

Cameras run the pipeline in live mode (the latest frame wins, stale frames are dropped); files in ordered mode
(every frame, in order, with back-pressure). Keypoints are in frame pixels throughout. Tracking and smoothing follow
people from frame to frame, so they run on videos and cameras only: for an image, a folder or a glob of images
(unrelated photos) they are turned off with a warning.
"""
from __future__ import annotations

import itertools
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from demos.sinks import WindowSink, has_display, open_sink
from ov_inference.draw import draw_poses, draw_stats
from ov_inference.sources import ImageSource

__all__ = ["DemoOptions", "DemoSummary", "FpsMeter", "run_demo"]

log = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    """What :func:`run_demo` runs. ``input``: camera id, video, image, folder or glob; ``output``: a video file
    (``.mp4``/``.avi``/...) or a folder for annotated images; ``serve``: a port for the web live view (``0`` picks a
    free one); ``window``: ``None`` shows a window when a display exists; ``height``: network input height, pixels;
    ``precision``: execution precision (``f32``/``bf16``/``f16``; ``None`` = device default); ``max_frames``: stop
    after that many input frames; ``keep_serving``: seconds to keep the live view up after the input ends."""

    model: str | Path
    input: str
    output: str | Path | None = None
    track: bool = False
    smooth: bool = False
    serve: int | None = None
    host: str = "127.0.0.1"
    window: bool | None = None
    height: int = 256
    precision: str | None = None
    device: str = "CPU"
    max_frames: int | None = None
    num_requests: int | None = None
    keep_serving: float = 0.0
    progress: bool = True


@dataclass
class DemoSummary:
    """What a demo run did: frame counts, end-to-end ``fps``, latency percentiles (ms), people per frame;
    ``warnings``: options that were not applied (e.g. ``--track`` on images) and why."""

    frames: int = 0
    errors: int = 0
    dropped: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    decode_ms_p50: float | None = None
    people_mean: float = 0.0
    execution_precision: str | None = None
    model_kind: str | None = None
    output: str | None = None
    url: str | None = None
    error_messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class FpsMeter:
    """Frames per second over the last ``window`` seconds of :meth:`tick` calls (``None`` until two ticks)."""

    def __init__(self, window: float = 1.0):
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> float | None:
        now = time.perf_counter() if now is None else now
        self._times.append(now)
        while len(self._times) > 2 and now - self._times[0] > self.window:
            self._times.popleft()
        if len(self._times) < 2:
            return None
        return (len(self._times) - 1) / max(1e-9, self._times[-1] - self._times[0])


def _post_processors(options: DemoOptions):
    """Tracking and One Euro smoothing from ov_inference, as ``(poses, t_seconds) -> poses`` steps.

    Smoothing works per tracked person, so ``smooth`` runs the tracker too (ids are drawn only with ``track``)."""
    from ov_inference import PoseSmoother, PoseTracker

    steps = []
    if options.track or options.smooth:
        tracker = PoseTracker()
        steps.append(lambda poses, t: tracker.update(poses))
    if options.smooth:
        smoother = PoseSmoother()
        steps.append(lambda poses, t: smoother(poses, t))
    return steps


def _open_input(spec: str):
    """:func:`ov_inference.open_source` for ``spec``, with glob patterns (``'photos/*.jpg'``) expanded to a list."""
    import glob

    from ov_inference import SourceError, open_source

    text = str(spec)
    if any(ch in text for ch in "*?[") and not Path(text).exists():
        paths = sorted(glob.glob(text))
        if not paths:
            raise SourceError(f"no files match {text!r}")
        return open_source(paths)
    return open_source(text)


def _for_images(options: DemoOptions, summary: DemoSummary) -> DemoOptions:
    """``options`` with tracking and smoothing off for an image source, where each image is an unrelated photo (a
    person's pose must not be carried into the next photo); the warning is printed to stderr and kept in ``summary``."""
    asked = [flag for flag, on in (("--track", options.track), ("--smooth", options.smooth)) if on]
    if not asked:
        return options
    message = (f"{' and '.join(asked)} ignored for images ({options.input}): each image is processed on its own, "
               "tracking and smoothing need a video or a camera")
    print(f"lwpose-demo: warning: {message}", file=sys.stderr, flush=True)
    summary.warnings.append(message)
    return replace(options, track=False, smooth=False)


def run_demo(options: DemoOptions) -> DemoSummary:
    """Run the demo until the input ends, Esc / q in the window, or Ctrl+C; return a :class:`DemoSummary`.

    Raises :class:`ov_inference.SourceError` or the runtime's model errors before any frame when the input or the
    model cannot be opened; unreadable images along the way are logged with their path and skipped. ``track`` and
    ``smooth`` apply to videos and cameras; for images they are turned off with a warning (``summary.warnings``).
    """
    from ov_inference.estimator import PoseEstimator
    from ov_inference.pipeline import AsyncPipeline

    window_wanted = options.window if options.window is not None else has_display()
    if not window_wanted and options.output is None and options.serve is None:
        raise ValueError("no display found: pass --output FILE.mp4|FOLDER to save the annotated result, or "
                         "--serve PORT for the web live view")
    estimator = PoseEstimator(options.model, device=options.device, input_height=options.height,
                              precision=options.precision)
    source = _open_input(options.input)
    summary = DemoSummary(model_kind=estimator.kind)
    is_images = isinstance(source, ImageSource)
    if is_images:
        options = _for_images(options, summary)
    sinks, window, view = [], None, None
    try:
        if options.output is not None:
            sinks.append(open_sink(options.output, source.fps or 25.0))
            summary.output = str(options.output)
        if options.serve is not None:
            from demos.serve import LiveView

            view = LiveView(options.serve, options.host)
            summary.url = view.url
            print(f"live view: {view.url}", flush=True)
        window = WindowSink() if window_wanted else None
    except BaseException:
        source.close()
        if view is not None:
            view.close()
        raise
    steps = _post_processors(options)
    pipeline = AsyncPipeline(estimator, num_requests=options.num_requests, live=source.live, keep_frames=True)
    summary.execution_precision = estimator.execution_precision
    extra = [f"{estimator.kind} {summary.execution_precision}"]
    meter = FpsMeter()
    latencies, decodes, people = [], [], []
    bar = None
    if options.progress and not source.live:
        from tqdm import tqdm

        total = source.length
        if options.max_frames is not None and total is not None:
            total = min(total, options.max_frames)
        bar = tqdm(total=total, desc="demo", unit="frame")
    frames = ((f.image, f) for f in itertools.islice(source, options.max_frames))
    t0 = time.perf_counter()
    try:
        for result in pipeline.run(frames):
            info = result.user_data
            if bar is not None:
                bar.update(1)
            if result.error is not None or result.frame is None:
                message = (info.error if info is not None and info.error else
                           f"{info.source if info is not None else 'frame'}: {result.error}")
                log.warning("skipped %s", message)
                summary.errors += 1
                summary.error_messages.append(message)
                continue
            now = time.perf_counter()
            poses = result.poses
            stamp = info.timestamp if source.fps is not None else now - t0
            for step in steps:
                poses = step(poses, stamp)
            fps = meter.tick(now)
            latency = result.timings.get("latency_ms")
            latencies.append(latency)
            if "decode_ms" in result.timings:
                decodes.append(result.timings["decode_ms"])
            people.append(len(poses))
            frame = _annotatable(result.frame)
            draw_poses(frame, poses, show_ids=options.track)
            draw_stats(frame, fps, latency, len(poses), extra=extra)
            summary.frames += 1
            for sink in sinks:
                sink.write(frame, info.source if is_images else None)
            if view is not None:
                view.publish(frame, fps=fps, latency_ms=latency, people=len(poses),
                             precision=summary.execution_precision)
            if window is not None:
                window.write(frame)
                if window.quit:
                    break
    except KeyboardInterrupt:
        log.info("interrupted")
    finally:
        summary.seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        pipeline.close()
        source.close()
        for sink in sinks:
            sink.close()
        if window is not None:
            window.close()
        summary.dropped = pipeline.stats.get("dropped", 0)
        summary.fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
        if latencies:
            summary.latency_ms_p50 = float(np.percentile(latencies, 50))
            summary.latency_ms_p95 = float(np.percentile(latencies, 95))
        if decodes:
            summary.decode_ms_p50 = float(np.percentile(decodes, 50))
        summary.people_mean = float(np.mean(people)) if people else 0.0
        if view is not None:
            if options.keep_serving > 0:
                log.info("input ended; live view stays up for %.0f s at %s", options.keep_serving, view.url)
                try:
                    time.sleep(options.keep_serving)
                except KeyboardInterrupt:
                    pass
            view.close()
    return summary


def _annotatable(frame: np.ndarray) -> np.ndarray:
    """A BGR uint8 copy of the frame to draw on (the pipeline's frame may be gray / BGRA / shared)."""
    from ov_inference.preprocessing import to_bgr

    bgr = to_bgr(frame)
    return bgr.copy() if bgr is frame else bgr
