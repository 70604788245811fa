"""The pose demo loop: a frame source through :class:`ov_inference.AsyncPipeline`, optional tracking and smoothing,
drawing, then a window, an annotated video / image folder and / or the web live view.

Cameras run the pipeline in live mode (the latest frame wins, stale frames are dropped); files in ordered mode
(every frame, in order, with back-pressure). Keypoints are in frame pixels throughout. Tracking and smoothing follow
people from frame to frame, so they run on videos, cameras and image sequence patterns (``frame%04d.png``) only: for
an image, a folder or a glob of images (unrelated photos) they are turned off with a warning. With ``loop`` a file
input restarts at its end (:mod:`demos.looping`), and tracks and filters restart with it. The stats panel (and the
web stats) include this process's and the machine's CPU load on Linux (:mod:`demos.cpu_load`).
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

from demos.cpu_load import CpuLoadReader
from demos.looping import LoopingSource
from demos.output_size import resize_to_fit
from demos.sinks import WindowSink, discard_sink, has_display, open_sink
from ov_inference.decoder import DecoderOptions
from ov_inference.draw import draw_poses, draw_stats, stats_corner
from ov_inference.interrupts import interrupts_deferred
from ov_inference.progress import Progress
from ov_inference.sources import ImageSource, open_source
from pose_format import dumps_strict

__all__ = ["DemoOptions", "DemoSummary", "FpsMeter", "run_demo"]

log = logging.getLogger(__name__)

#: Seconds between two CPU-load readings (the overlay and the web stats show the latest).
CPU_LOAD_INTERVAL = 0.5


@dataclass
class DemoOptions:
    """What :func:`run_demo` runs. ``input``: camera id, video, image, folder or glob; ``output``: a video file
    (``.mp4``/``.avi``/...) or a folder for annotated images; ``serve``: a port for the web live view (``0`` picks a
    free one); ``window``: ``None`` shows a window when a display exists; ``height``: network input height, pixels;
    ``precision``: execution precision (``f32``/``bf16``/``f16``; ``None`` = device default); ``max_frames``: stop
    after that many input frames; ``keep_serving``: seconds to keep the live view up after the input ends (not after
    Esc / q in the window or Ctrl+C / SIGTERM: the person quits).

    ``loop``: read a file input again from its start each time it ends (ignored, with a warning, for a camera);
    ``num_requests``: async infer requests (``None``: the device's optimal number); ``num_threads``: CPU inference
    threads (OpenVINO ``INFERENCE_NUM_THREADS``, CPU device only; ``None``: the plugin's choice); ``output_limit``:
    at most that many frames written to ``output`` (``0``: all); ``output_size``: ``(width, height)`` pixels the
    annotated frames are scaled to fit (aspect kept) for the window, ``output`` and the web view (``None``: the input
    size); ``raw``: print each frame's poses to stdout as one JSON line (:func:`ov_inference.frame_record`);
    ``num_streams``: OpenVINO ``NUM_STREAMS`` (``None``: the performance hint's choice); ``decoder_options``: the
    decoder's thresholds (:class:`ov_inference.DecoderOptions`; ``None``: its defaults); ``flip``: accuracy mode,
    each frame also inferred mirrored and the maps averaged (about twice the compute).
    """

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
    loop: bool = False
    num_threads: int | None = None
    output_limit: int = 0
    output_size: tuple[int, int] | None = None
    raw: bool = False
    num_streams: int | None = None
    decoder_options: DecoderOptions | None = None
    flip: bool = False


@dataclass
class DemoSummary:
    """What a demo run did: frame counts, end-to-end ``fps``, latency percentiles (ms), people per frame;
    ``warnings``: options that were not applied (e.g. ``--track`` on images) and why, and an input that ended early
    (a video short of its announced frame count, a camera that stopped, ``--loop`` stopping); ``num_requests`` /
    ``num_threads``: infer requests and CPU inference threads used (``num_threads`` ``None`` off the CPU);
    ``loops``: passes over the input (more than 1 with ``loop``); ``output_frames``: frames written to ``output``;
    ``cpu_process_percent`` / ``cpu_system_percent``: this process's and the machine's mean CPU load over the run,
    percent of all cores (``None`` off Linux); ``interrupted``: Ctrl+C or SIGTERM stopped the run after it started
    (the frames so far are kept and written)."""

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
    num_requests: int | None = None
    num_threads: int | None = None
    loops: int = 0
    output_frames: int = 0
    cpu_process_percent: float | None = None
    cpu_system_percent: float | None = None
    error_messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False

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


class _PostProcessing:
    """Tracking and One Euro smoothing from ov_inference as one ``(poses, t_seconds) -> poses`` step.

    Smoothing works per tracked person, so ``smooth`` runs the tracker too (ids are drawn only with ``track``).
    :meth:`reset` forgets every person (a looped input restarting: ids go on counting up, never reused)."""

    def __init__(self, options: DemoOptions):
        from ov_inference import PoseSmoother, PoseTracker

        self.tracker = PoseTracker() if options.track or options.smooth else None
        self.smoother = PoseSmoother() if options.smooth else None

    def __call__(self, poses, t: float):
        if self.tracker is not None:
            poses = self.tracker.update(poses, t)
        if self.smoother is not None:
            poses = self.smoother(poses, t)
        return poses

    def reset(self) -> None:
        for step in (self.tracker, self.smoother):
            if step is not None:
                step.reset()


def _warn(summary: DemoSummary, message: str) -> None:
    """An option not applied: printed to stderr and kept in ``summary.warnings``."""
    print(f"lwpose-demo: warning: {message}", file=sys.stderr, flush=True)
    summary.warnings.append(message)


def _for_images(options: DemoOptions, summary: DemoSummary) -> DemoOptions:
    """``options`` with tracking and smoothing off for an image source, where each image is an unrelated photo (a
    person's pose must not be carried into the next photo); the warning is printed to stderr and kept in ``summary``."""
    asked = [flag for flag, on in (("--track", options.track), ("--smooth", options.smooth)) if on]
    if not asked:
        return options
    _warn(summary, f"{' and '.join(asked)} ignored for images ({options.input}): each image is processed on its "
                   "own, tracking and smoothing need a video or a camera")
    return replace(options, track=False, smooth=False)


def _warn_unpaired(options: DemoOptions, summary: DemoSummary) -> None:
    """A warning (:func:`_warn`) for each option given without the one it works with: ``keep_serving`` without
    ``serve``, ``output_limit`` without ``output``."""
    if options.keep_serving > 0 and options.serve is None:
        _warn(summary, "--keep-serving ignored: it keeps the --serve live view up, and there is none")
    if options.output_limit and options.output is None:
        _warn(summary, "--output-limit ignored: it bounds the frames written to --output, and there is none")


def _check(options: DemoOptions) -> None:
    """``ValueError`` naming the flag for an out-of-range option (before anything is loaded)."""
    for flag, value in (("--requests", options.num_requests), ("--threads", options.num_threads),
                        ("--streams", options.num_streams)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if options.output_limit < 0:
        raise ValueError(f"--output-limit must be >= 0 (0 = every frame), got {options.output_limit}")
    if options.output_size is not None and min(options.output_size) < 1:
        raise ValueError(f"--output-size must be at least 1x1 pixels, got {options.output_size}")
    if options.max_frames is not None and options.max_frames < 1:  # 0 would process nothing and report success
        raise ValueError(f"--max-frames must be >= 1, got {options.max_frames}")
    if options.output is not None and str(options.output) == "":  # an unset variable: `-o "$OUT"`
        raise ValueError("--output is empty: give a video file or a folder (an empty name would write the images "
                         "into the current folder)")


def _compile_config(options: DemoOptions, summary: DemoSummary) -> dict:
    """Extra ``compile_model`` properties: ``NUM_STREAMS`` for ``num_streams``; ``INFERENCE_NUM_THREADS`` for
    ``num_threads`` on the CPU device (other devices have no such property: a warning, and it is ignored)."""
    config = {} if options.num_streams is None else {"NUM_STREAMS": int(options.num_streams)}
    if options.num_threads is None:
        return config
    if options.device.upper().split(".")[0] != "CPU":
        _warn(summary, f"--threads ignored for device {options.device}: it sets the CPU plugin's inference threads")
        return config
    return {**config, "INFERENCE_NUM_THREADS": int(options.num_threads)}


def _inference_threads(estimator) -> int | None:
    """The compiled model's ``INFERENCE_NUM_THREADS`` (``None`` where the device has no such property)."""
    try:
        return int(estimator.compiled().get_property("INFERENCE_NUM_THREADS"))
    except (RuntimeError, TypeError, ValueError):
        return None


def run_demo(options: DemoOptions) -> DemoSummary:
    """Run the demo until the input ends, Esc / q in the window, or Ctrl+C; return a :class:`DemoSummary`.

    Raises :class:`ov_inference.SourceError` or the runtime's model errors before any frame when the input or the
    model cannot be opened, and ``ValueError`` for out-of-range options; unreadable images along the way are logged
    with their path and skipped, and a video or camera that opens but delivers no frame counts as one error
    (``summary.errors``, ``summary.error_messages``); one that delivered frames and then ended early (a video short
    of its announced frame count, a camera that stopped) is a warning (``summary.warnings``). ``track`` and
    ``smooth`` apply to videos and cameras; for images they are turned off with a warning (``summary.warnings``), as
    ``loop`` is for a camera. When
    ``output_limit`` frames have been written and nothing else shows the frames (no window, no web view, no ``raw``),
    the demo stops there.
    """
    from ov_inference.estimator import PoseEstimator
    from ov_inference.pipeline import AsyncPipeline
    from ov_inference.records import frame_record

    _check(options)
    window_wanted = options.window if options.window is not None else has_display()
    if not window_wanted and options.output is None and options.serve is None and not options.raw:
        raise ValueError("no display found: pass --output FILE.mp4|FOLDER to save the annotated result, "
                         "--serve PORT for the web live view, or --raw for the poses on stdout")
    summary = DemoSummary()
    _warn_unpaired(options, summary)
    sinks, window, view, pipeline, source, frames_in = [], None, None, None, None, None
    try:  # until the first frame (compiling takes seconds: Ctrl+C lands here too), a failure releases what is open
        view = _open_view(options, summary)  # before the slow work: a busy port is reported at once
        estimator = PoseEstimator(options.model, device=options.device, input_height=options.height,
                                  precision=options.precision, config=_compile_config(options, summary),
                                  decoder_options=options.decoder_options, flip=options.flip)
        summary.model_kind = estimator.kind
        source = open_source(options.input)
        is_images = isinstance(source, ImageSource)
        if is_images and not source.sequence:  # unrelated photos; an image sequence pattern is a video's frames
            options = _for_images(options, summary)
        if options.loop and source.live:
            _warn(summary, f"--loop ignored for a live source ({source.name}): a camera or live stream does not end")
        frames_in = LoopingSource(source, lambda: open_source(options.input), loop=options.loop)
        if frames_in.loop and options.output is not None and not options.max_frames and not options.output_limit:
            log.warning("--loop with --output: the output grows until the demo is stopped (Esc, Ctrl+C); bound it "
                        "with --output-limit N or --max-frames N")
        if options.output is not None:
            local = not isinstance(options.input, int) and Path(str(options.input)).is_file()
            sinks.append(open_sink(options.output, source.fps or 25.0, source=options.input if local else None,
                                   images=source.paths if is_images else (), measure=source.live))
            summary.output = str(options.output)
        window = WindowSink() if window_wanted else None
        post = _PostProcessing(options)
        estimator.prepare(getattr(source, "frame_size", None))  # a video or camera compiles once, for its own size
        pipeline = AsyncPipeline(estimator, num_requests=options.num_requests, live=source.live, keep_frames=True)
        summary.execution_precision = estimator.execution_precision
        summary.num_requests = pipeline.num_requests
        summary.num_threads = _inference_threads(estimator)
    except BaseException:
        for opened in (pipeline, frames_in if frames_in is not None else source, window, view):
            if opened is not None:
                opened.close()
        for sink in sinks:  # nothing written yet: the folders made for the output go too
            discard_sink(sink)
        raise
    extra = [f"{estimator.kind} {summary.execution_precision}"]
    cpu = CpuLoadReader(CPU_LOAD_INTERVAL)
    meter = FpsMeter()
    latencies, decodes, people = [], [], []
    bar = None
    if options.progress and not source.live:
        total = frames_in.length
        if options.max_frames is not None:
            total = options.max_frames if total is None else min(total, options.max_frames)
        bar = Progress(total, desc="demo")  # tqdm (the demos extra), else the runtime's line on a terminal
    frames = ((item.frame.image, item) for item in itertools.islice(frames_in, options.max_frames))
    current_loop, seen = 0, 0
    quit_asked = False  # Esc / q in the window
    corner = "top-left"  # of the stats panel
    t0 = time.perf_counter()
    try:
        for result in pipeline.run(frames):
            item = result.user_data
            info = item.frame
            seen += 1
            if bar is not None:
                bar.update()
            if item.loop != current_loop:  # the input restarted: nobody carries over from its end to its start
                current_loop = item.loop
                post.reset()
            if result.error is not None or result.frame is None:
                message = info.error if info.error else f"{info.source}: {result.error}"
                if not info.error:  # a frame the source could not read was logged there, with its path
                    log.warning("skipped %s", message)
                summary.errors += 1
                summary.error_messages.append(message)
                if options.raw:
                    _print_raw(frame_record(seen - 1, info.source, [], timestamp=info.timestamp, error=message),
                               item.loop if frames_in.loop else None)
                continue
            now = time.perf_counter()
            poses = post(result.poses, info.timestamp)  # the video position, a camera's capture time: as lwpose-infer
            fps = meter.tick(now)
            latency = result.timings.get("latency_ms")
            latencies.append(latency)
            if "decode_ms" in result.timings:
                decodes.append(result.timings["decode_ms"])
            people.append(len(poses))
            if options.raw:
                height, width = result.frame.shape[:2]
                _print_raw(frame_record(seen - 1, info.source, poses, image_size=(width, height),
                                        timestamp=info.timestamp, timings=result.timings),
                           item.loop if frames_in.loop else None)
            frame, (sx, sy) = _annotatable(result.frame, options.output_size)
            shown = poses if (sx, sy) == (1.0, 1.0) else [pose.scaled(sx, sy) for pose in poses]
            load = cpu.sample()
            draw_poses(frame, shown, show_ids=options.track)
            lines = extra + ([load.text()] if load is not None else [])
            corner = stats_corner(frame.shape, shown, corner, lines)  # moves only when it would hide someone
            draw_stats(frame, fps, latency, len(poses), extra=lines, corner=corner)
            summary.frames += 1
            if sinks:
                for sink in sinks:
                    sink.write(frame, info.source if is_images else None)
                summary.output_frames += 1
                if options.output_limit and summary.output_frames >= options.output_limit:
                    for sink in sinks:
                        sink.close()
                    sinks = []
                    if window is None and view is None and not options.raw:
                        log.info("--output-limit: %d frames written to %s; nothing else to show, stopping",
                                 summary.output_frames, options.output)
                        break
                    log.info("--output-limit: %d frames written to %s; the demo goes on without writing",
                             summary.output_frames, options.output)
            if view is not None:
                view.publish(frame, fps=fps, latency_ms=latency, people=len(poses),
                             precision=summary.execution_precision, **(load.as_dict() if load is not None else {}))
            if window is not None:
                window.write(frame)
                if window.quit:
                    quit_asked = True
                    break
    except KeyboardInterrupt:
        log.info("interrupted")
        summary.interrupted = True
    finally:
        with interrupts_deferred(redeliver=False):  # a second Ctrl+C / SIGTERM must not cut the cleanup short
            summary.seconds = time.perf_counter() - t0
            if bar is not None:
                bar.close()
            pipeline.close()
            frames_in.close()
            for sink in sinks:  # an output folder made for frames that never came (all unreadable) goes too
                discard_sink(sink)
            if window is not None:
                window.close()
            summary.loops = frames_in.passes
            failure = _no_frame_error(frames_in.source)
            if failure is not None:  # as an unreadable image is: an error, and exit status 1 when nothing was shown
                summary.errors += 1
                summary.error_messages.append(failure)
            if getattr(frames_in.source, "warning", None):  # a video or camera that ended early (logged there)
                summary.warnings.append(frames_in.source.warning)
            if frames_in.stopped:
                summary.warnings.append(frames_in.stopped)
            summary.dropped = pipeline.stats.get("dropped", 0)
            summary.fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
            if latencies:
                summary.latency_ms_p50 = float(np.percentile(latencies, 50))
                summary.latency_ms_p95 = float(np.percentile(latencies, 95))
            if decodes:
                summary.decode_ms_p50 = float(np.percentile(decodes, 50))
            summary.people_mean = float(np.mean(people)) if people else 0.0
            overall = cpu.since_start()
            if overall is not None:
                summary.cpu_process_percent = round(overall.process_percent, 1)
                summary.cpu_system_percent = round(overall.system_percent, 1)
            if view is not None:
                view.end(fps=round(summary.fps, 1), latency_ms=summary.latency_ms_p50)  # the page says: input ended
        if view is not None:
            if options.keep_serving > 0 and not (summary.interrupted or quit_asked):  # quitting: stop now, as asked
                log.info("input ended; live view stays up for %.0f s at %s", options.keep_serving, view.url)
                try:
                    time.sleep(options.keep_serving)
                except KeyboardInterrupt:
                    pass
            with interrupts_deferred(redeliver=False):
                view.close()
    return summary


def _open_view(options: DemoOptions, summary: DemoSummary):
    """The web live view on ``options.serve`` (``None`` without it), its URL printed to stderr and kept in
    ``summary.url``. Its port is bound here, before the model loads: a busy port fails at once (``OSError``), and
    the port stays held by the view, so nothing can take it between a check and the serving."""
    if options.serve is None:
        return None
    from demos.serve import LiveView

    view = LiveView(options.serve, options.host)
    summary.url = view.url
    # a status message, on stderr as the log: stdout stays for --raw's JSON lines and the --json summary
    print(f"live view: {view.url}", file=sys.stderr, flush=True)
    return view


def _no_frame_error(source) -> str | None:
    """The error of a video or camera that opened but delivered no frame at all (``VideoSource.error`` with
    ``frames_read`` 0), else ``None`` (a source that delivered frames, then ended early, is not one)."""
    error = getattr(source, "error", None)
    return error if error is not None and getattr(source, "frames_read", 1) == 0 else None


def _print_raw(record: dict, loop: int | None) -> None:
    """``--raw``: one frame's record as a JSON line on stdout (``loop``: the pass over a looped input)."""
    if loop is not None:
        record["loop"] = loop
    print(dumps_strict(record), flush=True)


def _annotatable(frame: np.ndarray, size: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, tuple[float, float]]:
    """A BGR uint8 copy of the frame to draw on (the pipeline's frame may be gray / BGRA / shared), scaled to fit
    ``size`` when given (:func:`demos.output_size.resize_to_fit`), and the ``(sx, sy)`` scale factors. The frame is
    copied only when neither conversion nor resizing made a new array."""
    from ov_inference.preprocessing import to_bgr

    bgr, scale = to_bgr(frame), (1.0, 1.0)
    if size is not None:
        bgr, scale = resize_to_fit(bgr, size)
    return (bgr.copy() if bgr is frame else bgr), scale
