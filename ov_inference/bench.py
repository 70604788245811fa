"""``python -m ov_inference.bench`` (also ``lwpose-bench``): network vs full-pipeline speed, measured in one run.

Measures, on the same compiled model and the same video:

- ``network_fps``: the network alone, the same pre-processed input fed to ``num_requests`` async requests
  (measured before and after the pipelines; the mean is reported, so drift on a shared machine shows in both);
- ``pipeline_fps``: the full pipeline asynchronously (:meth:`ov_inference.AsyncPipeline.run`: read the video,
  pre-process, infer, decode), and ``sync_fps``: the same steps one after another with one request;
- ``decode_ms_p50`` / ``decode_ms_p95`` (decoding one frame's maps into poses) and ``latency_ms_p50`` (frame
  submitted to poses decoded, async pipeline);
- ``frames`` (the frames the pipelines ran over) next to ``frames_requested`` (``--frames``): a video shorter than
  ``--frames`` is used whole, with a warning;
- live mode: the video's frames arrive at 30 FPS like a camera's; ``live_latency_ms_p50`` (arrival to poses) next
  to ``live_infer_ms_p50`` shows latency staying near one inference while stale frames are dropped.

Target: ``pipeline_fps >= 0.85 * network_fps`` on 1280x720 video; the ratio is printed. Without ``--input`` a
1280x720 clip of moving figures is synthesized into a temporary video file first. Timings on a shared machine are
noisy: compare the ratios, which come from one run.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from ov_inference.adapter import PERFORMANCE_HINTS, PRECISIONS, precision_phrase
from ov_inference.estimator import PoseEstimator
from ov_inference.interrupts import sigterm_as_interrupt
from ov_inference.pipeline import AsyncPipeline
from ov_inference.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoSource
from pose_format import INPUT_HEIGHT_LIVE, dumps_strict
from pose_format.cli_types import add_version_argument, count_type, input_height_type

__all__ = ["synthesize_clip", "check_video", "measure_network", "measure_pipeline", "measure_live", "measure_sync",
           "run_benchmark", "main"]

log = logging.getLogger(__name__)

TARGET_RATIO = 0.85
#: The fewest frames a measurement runs over: a ratio over one frame means nothing (an image is refused likewise).
MIN_FRAMES = 2


def synthesize_clip(path: str | Path, frames: int = 120, width: int = 1280, height: int = 720, fps: float = 30.0,
                    seed: int = 0) -> Path:
    """Write a ``width`` x ``height`` clip of moving stick figures on a textured background (mp4v) and return it."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot write a video to {path}")
    background = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 9)
    people = [(rng.uniform(0.1, 0.9) * width, rng.uniform(0.3, 0.7) * height, rng.uniform(-6, 6),
               tuple(int(c) for c in rng.integers(40, 255, 3))) for _ in range(5)]
    for t in range(frames):
        frame = background.copy()
        for x0, y0, vx, color in people:
            x = (x0 + vx * t) % width
            s = height / 8
            swing = np.sin(t / 4 + x0) * s / 2
            head, neck, hip = (x, y0 - 1.6 * s), (x, y0 - s), (x, y0 + 0.5 * s)
            pts = {"head": head, "neck": neck, "hip": hip, "lh": (x - s / 2 + swing, y0), "rh": (x + s / 2 - swing, y0),
                   "lf": (x - s / 3 + swing, y0 + 1.8 * s), "rf": (x + s / 3 - swing, y0 + 1.8 * s)}
            for a, b in (("neck", "hip"), ("neck", "lh"), ("neck", "rh"), ("hip", "lf"), ("hip", "rf")):
                cv2.line(frame, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), color, 12)
            cv2.circle(frame, (int(head[0]), int(head[1])), int(s / 3), color, -1)
        writer.write(frame)
    writer.release()
    return path


def check_video(video: str | Path) -> Path:
    """``video`` as a path, checked before anything is loaded: raises ``FileNotFoundError`` when it is missing, a
    folder or a camera id, and ``ValueError`` when it is an image (OpenCV would read it as a one-frame video, and a
    ratio measured over one frame means nothing)."""
    if not str(video).strip():  # Path("") is the current folder
        raise FileNotFoundError("the video is empty: give a video file, or leave out --input")
    path = Path(video)
    if not path.is_file():
        what = ("is a folder; the benchmark reads a video file" if path.is_dir() else
                "is not a file; the benchmark reads a video file, not a camera" if str(video).isdigit() else None)
        raise FileNotFoundError(f"video {path} {what}" if what else f"video not found: {path}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS or (suffix not in VIDEO_EXTENSIONS and cv2.haveImageReader(str(path))):
        raise ValueError(f"{path} is an image, not a video: the benchmark times the pipeline over a video's frames "
                         "(give a video file, or leave out --input for a synthesized 1280x720 clip)")
    return path


def _first_frame(video: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise OSError(f"cannot read a frame from {video}")
    return frame


def measure_network(estimator: PoseEstimator, frame: np.ndarray, num_requests: int, frames: int) -> float:
    """Frames per second of the network alone: one pre-processed input, ``num_requests`` async requests."""
    import openvino as ov

    prepared = estimator.preprocess_frame(frame)
    queue = ov.AsyncInferQueue(estimator.compiled(prepared.size), num_requests)
    for _ in range(num_requests):  # warm-up
        queue.start_async({0: prepared.tensor})
    queue.wait_all()
    t0 = time.perf_counter()
    for _ in range(frames):
        queue.start_async({0: prepared.tensor})
    queue.wait_all()
    return frames / (time.perf_counter() - t0)


def measure_pipeline(estimator: PoseEstimator, video: Path, num_requests: int, frames: int) -> dict[str, object]:
    """The async pipeline over the first ``frames`` frames of ``video`` (read in the pipeline's producer thread)."""
    pipeline = AsyncPipeline(estimator, num_requests=num_requests, keep_frames=False)
    source = VideoSource(str(video))

    def limited():
        for item in source:
            if item.index >= frames:
                break
            yield item.image, item.index

    decode, latency, count = [], [], 0
    t0 = time.perf_counter()
    try:
        for result in pipeline.run(limited()):
            count += 1
            if "decode_ms" in result.timings:
                decode.append(result.timings["decode_ms"])
                latency.append(result.timings["latency_ms"])
    finally:
        source.close()
    elapsed = time.perf_counter() - t0
    return {"fps": count / elapsed, "frames": count, "decode_ms": decode, "latency_ms": latency}


def measure_live(estimator: PoseEstimator, video: Path, frames: int, fps: float = 30.0) -> dict[str, object]:
    """Live mode: frames of ``video`` arrive at ``fps`` like a camera; stale ones are dropped. Latency is from a
    frame's arrival to its decoded poses; ``infer_ms`` is the request time of the frames that ran."""
    pipeline = AsyncPipeline(estimator, live=True, keep_frames=False)
    source = VideoSource(str(video))

    def paced():
        start = time.perf_counter()
        for item in source:
            if item.index >= frames:
                break
            delay = start + item.index / fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            yield item.image, item.index

    latency, infer = [], []
    try:
        for result in pipeline.run(paced()):
            if "infer_ms" in result.timings:
                latency.append(result.timings["latency_ms"])
                infer.append(result.timings["infer_ms"])
    finally:
        source.close()
    return {"latency_ms": latency, "infer_ms": infer, "dropped": pipeline.stats["dropped"],
            "submitted": pipeline.stats["submitted"], "num_requests": pipeline.num_requests}


def measure_sync(estimator: PoseEstimator, video: Path, frames: int) -> dict[str, object]:
    """Read, pre-process, infer (one synchronous request) and decode, one frame after another."""
    source = VideoSource(str(video))
    decode, count = [], 0
    t0 = time.perf_counter()
    try:
        for item in source:
            if item.index >= frames:
                break
            estimator(item.image)
            decode.append(estimator.last_timings["decode_ms"])
            count += 1
    finally:
        source.close()
    return {"fps": count / (time.perf_counter() - t0), "frames": count, "decode_ms": decode}


def run_benchmark(model: str | Path, video: str | Path | None = None, frames: int = 150,
                  input_height: int = INPUT_HEIGHT_LIVE, device: str = "CPU", precision: str | None = None,
                  performance_hint: str = "LATENCY", num_requests: int | None = None,
                  cv2_threads: int | None = 1) -> dict[str, object]:
    """Run every measurement in one process and return the figures (see the module docstring); ``ValueError`` for
    fewer than :data:`MIN_FRAMES` frames."""
    if frames < MIN_FRAMES:
        raise ValueError(f"frames must be >= {MIN_FRAMES} (a ratio over one frame means nothing), got {frames}")
    video_path = None if video is None else check_video(video)  # before the model is read
    if cv2_threads is not None:
        cv2.setNumThreads(cv2_threads)  # OpenVINO already uses every core; OpenCV's own pool only competes
    estimator = PoseEstimator(model, device=device, input_height=input_height, precision=precision,
                              performance_hint=performance_hint)
    with tempfile.TemporaryDirectory(prefix="lwpose-bench-") as tmp:
        if video_path is None:
            estimator.compiled()  # the synthetic clip's 16:9 size: a bad --device fails before the clip is made
            video_path = synthesize_clip(Path(tmp) / "clip.mp4", frames=frames)
        first = _first_frame(video_path)
        size = estimator.preprocess_frame(first).size
        estimator.compiled(size)
        requests = AsyncPipeline(estimator, num_requests=num_requests).num_requests  # the ordered mode's default
        # warm the compiled model and the decoder before timing
        measure_sync(estimator, video_path, 3)
        net_before = measure_network(estimator, first, requests, frames)
        pipe = measure_pipeline(estimator, video_path, requests, frames)
        sync = measure_sync(estimator, video_path, frames)
        net_after = measure_network(estimator, first, requests, frames)
        live = measure_live(estimator, video_path, frames)
    if pipe["frames"] < frames:
        log.warning("the video has only %d frame(s), fewer than --frames %d: the pipeline was timed over %d frame(s) "
                    "(the network alone over %d); give a longer video or a smaller --frames for a fair comparison",
                    pipe["frames"], frames, pipe["frames"], frames)
    network_fps = (net_before + net_after) / 2
    decode = np.asarray(pipe["decode_ms"] + sync["decode_ms"], dtype=np.float64)
    latency = np.asarray(pipe["latency_ms"], dtype=np.float64)
    return {
        "model": str(model), "kind": estimator.kind, "model_precision": estimator.model_precision, "device": device,
        "video": str(video) if video is not None else f"synthetic {first.shape[1]}x{first.shape[0]}",
        "frame_size": [int(first.shape[1]), int(first.shape[0])], "input_size": [size[1], size[0]],
        "frames": int(pipe["frames"]), "frames_requested": int(frames), "num_requests": int(requests),
        "performance_hint": performance_hint,
        "execution_precision": estimator.execution_precision, "cpu_count": os.cpu_count(),
        "network_fps": round(network_fps, 2),
        "network_fps_before": round(net_before, 2), "network_fps_after": round(net_after, 2),
        "pipeline_fps": round(float(pipe["fps"]), 2),
        "sync_fps": round(float(sync["fps"]), 2),
        "pipeline_over_network": _ratio(pipe["fps"], network_fps),
        "pipeline_over_sync": _ratio(pipe["fps"], sync["fps"]),
        "target_ratio": TARGET_RATIO,
        "decode_ms_p50": round(float(np.percentile(decode, 50)), 3) if decode.size else None,
        "decode_ms_p95": round(float(np.percentile(decode, 95)), 3) if decode.size else None,
        "latency_ms_p50": round(float(np.percentile(latency, 50)), 2) if latency.size else None,
        "live_latency_ms_p50": _p50(live["latency_ms"]), "live_infer_ms_p50": _p50(live["infer_ms"]),
        "live_dropped": live["dropped"], "live_frames": live["submitted"], "live_num_requests": live["num_requests"],
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` to 3 decimals, from the unrounded figures (a very slow model's ``sync_fps``
    rounds to 0.00); ``None`` when the denominator is 0 (nothing was timed)."""
    return round(float(numerator) / denominator, 3) if denominator > 0 else None


def _p50(values: list[float]) -> float | None:
    return round(float(np.percentile(values, 50)), 2) if values else None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lwpose-bench",
                                description="Network alone vs full pipeline (read, pre-process, infer, decode), "
                                            "sync and async, in one run.")
    add_version_argument(p)
    p.add_argument("--model", "-m", required=True, help="model .xml")
    p.add_argument("--input", "-i", help="video file, not an image (default: a synthesized 1280x720 clip)")
    p.add_argument("--frames", "-n", type=count_type(MIN_FRAMES), default=150,
                   help=f"frames per measurement, at least {MIN_FRAMES} (default 150; a shorter --input video is used "
                        "whole, with a warning)")
    p.add_argument("--height", type=input_height_type, default=INPUT_HEIGHT_LIVE,
                   help="network input height in pixels, a multiple of 8 and >= 16 (default 256)")
    p.add_argument("--device", default="CPU", help="OpenVINO device (default CPU)")
    p.add_argument("--precision", choices=(*PRECISIONS, "default"), default="default",
                   help="execution precision hint (default: the device's choice)")
    p.add_argument("--hint", choices=PERFORMANCE_HINTS, default="LATENCY", help="OpenVINO performance hint")
    p.add_argument("--requests", type=count_type(1), default=None,
                   help="infer requests (default: the device's optimal)")
    p.add_argument("--cv2-threads", type=int, default=1, help="OpenCV threads (default 1; -1 keeps OpenCV's own)")
    p.add_argument("--json", action="store_true",
                   help="print the figures as one JSON object on stdout instead of the text lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with sigterm_as_interrupt():  # kill / timeout stop it as Ctrl-C does: the synthesized clip is removed
            figures = run_benchmark(args.model, args.input, args.frames, args.height, args.device,
                                    None if args.precision == "default" else args.precision, args.hint,
                                    args.requests, None if args.cv2_threads < 0 else args.cv2_threads)
    except (OSError, ValueError) as exc:  # model errors, ModelCompileError (bad --device) included
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no figures", file=sys.stderr)
        return 130
    if args.json:
        print(dumps_strict(figures))
        return 0
    ratio = figures["pipeline_over_network"]
    print(f"model {figures['model']} ({figures['kind']}), {figures['device']}, "
          f"{precision_phrase(figures['model_precision'], figures['execution_precision'])}, "
          f"{figures['num_requests']} request(s), hint {figures['performance_hint']}")
    print(f"video {figures['video']} -> input {figures['input_size'][0]}x{figures['input_size'][1]}, "
          f"{figures['frames']} frames" + (f" (fewer than --frames {figures['frames_requested']}: the video is "
                                           "shorter)" if figures["frames"] < figures["frames_requested"] else ""))
    print(f"{'network_fps':>16}: {figures['network_fps']:8.2f}   (before {figures['network_fps_before']}, "
          f"after {figures['network_fps_after']})")
    print(f"{'pipeline_fps':>16}: {figures['pipeline_fps']:8.2f}   async: read + pre-process + infer + decode")
    print(f"{'sync_fps':>16}: {figures['sync_fps']:8.2f}")
    print(f"{'decode_ms':>16}: p50 {figures['decode_ms_p50']}  p95 {figures['decode_ms_p95']}")
    print(f"{'latency_ms_p50':>16}: {figures['latency_ms_p50']}   (ordered mode: includes waiting for a request)")
    print(f"{'live (30 FPS)':>16}: latency p50 {figures['live_latency_ms_p50']} ms for inference p50 "
          f"{figures['live_infer_ms_p50']} ms, {figures['live_dropped']} of {figures['live_frames']} stale frames "
          f"dropped, {figures['live_num_requests']} request(s)")
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"pipeline / network = {ratio:.3f} ({verdict} the {TARGET_RATIO} target); "
          f"async / sync = {_ratio_text(figures['pipeline_over_sync'])}")
    return 0


def _ratio_text(ratio: float | None) -> str:
    """A ratio for the text lines: 2 decimals, ``n/a`` when unknown."""
    return "n/a" if ratio is None else f"{ratio:.2f}"


if __name__ == "__main__":
    sys.exit(main())
