"""``python -m ov_inference`` (also ``lwpose-infer``): poses for an image, a folder, a video or a camera.

Writes one JSON record per frame (see :mod:`ov_inference.records`) and optionally an annotated video. Files run in
the pipeline's ordered mode with a progress bar; a camera runs in live mode (stale frames dropped) until Ctrl-C or
``--max-frames``. Unreadable images become error records (path named) and the rest is processed; results already
computed are written even when the run stops on an error or Ctrl-C. A model that cannot be reshaped or compiled
(unknown device, fixed topology) stops the run with one clear error; a camera that delivers no frame, or stops
mid-run, is reported in the summary (``source_error``, ``ended_early``) and by the exit code (:data:`EXIT_CODES`).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

import cv2

from ov_inference.adapter import PRECISIONS, PERFORMANCE_HINTS, precision_phrase
from ov_inference.cli_options import add_decoder_arguments, decoder_options
from ov_inference.estimator import PoseEstimator
from ov_inference.interrupts import interrupts_deferred, sigterm_as_interrupt
from ov_inference.output_paths import missing_folders, remove_empty_folders
from ov_inference.pipeline import AsyncPipeline
from ov_inference.progress import Progress
from ov_inference.records import RecordWriter, frame_record
from ov_inference.smoothing import PoseSmoother
from ov_inference.sources import SourceError, VideoSource, open_source, redact_url
from ov_inference.tracking import PoseTracker
from ov_inference.video_out import MAX_FPS, MIN_FPS, VideoSink, check_video_path
from pose_format import INPUT_HEIGHT_LIVE
from pose_format.cli_types import add_version_argument, input_height_type

log = logging.getLogger("ov_inference")

#: Frame rate (Hz) ``--smooth`` assumes for a source without one (a folder of frames, a camera reporting none).
SMOOTH_FALLBACK_FPS = 30.0

#: Exit codes of the command (also in ``--help``).
EXIT_OK, EXIT_ERROR, EXIT_NO_FRAMES, EXIT_ENDED_EARLY, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
EXIT_CODES = f"""exit codes:
  {EXIT_OK}    done (a video file shorter than its announced length is still done: "ended_early" in the summary)
  {EXIT_ERROR}    bad arguments; model missing, corrupt, not a pose model, or that cannot be reshaped / compiled
       (e.g. an unknown --device); input that cannot be opened; output that cannot be written
  {EXIT_NO_FRAMES}    the input opened but delivered no frame (a camera that sends nothing, an unreadable video stream),
       or every frame is an error record (a folder of images all unreadable or too thin to infer)
  {EXIT_ENDED_EARLY}    a camera stopped delivering frames mid-run (the frames received are written; "ended_early" and
       "source_error" in the summary)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C or SIGTERM); the frames done are written"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lwpose-infer",
        description="Multi-person 2D pose estimation with an OpenVINO IR (this project's or Open Model Zoo's "
                    "human-pose-estimation-0001) on images, folders, videos or a camera.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version_argument(p)
    p.add_argument("--model", "-m", required=True, help="path to the model .xml (its .bin beside it)")
    p.add_argument("--input", "-i", required=True,
                   help="an image, a folder of images, a quoted glob of images ('photos/*.jpg'), an image sequence "
                        "pattern ('frames/frame%%04d.png'), a video file, a stream URL (rtsp://..., http://...), or a "
                        "camera id (0, 1, ...)")
    p.add_argument("--output-json", "-o", metavar="F",
                   help="per-frame results: F.jsonl (JSON lines, written as they come), '-' (JSON lines on "
                        "stdout) or F.json (one document)")
    p.add_argument("--output-video", metavar="F", help="annotated video (e.g. out.mp4)")
    p.add_argument("--track", action="store_true",
                   help="give people stable ids across frames (for a folder: its images, in name order with numbers "
                        "by value, are the frames of one sequence, e.g. extracted video frames; lwpose-demo treats "
                        "them as unrelated photos)")
    p.add_argument("--smooth", action="store_true",
                   help="One Euro smoothing of keypoints (implies --track; a folder is one sequence, as above)")
    p.add_argument("--device", default="CPU", help="OpenVINO device (default: CPU)")
    p.add_argument("--height", type=input_height_type, default=INPUT_HEIGHT_LIVE,
                   help="network input height in pixels, a multiple of 8 (256 live, 368 accurate; default 256)")
    p.add_argument("--precision", choices=(*PRECISIONS, "default"), default="default",
                   help="execution precision (INFERENCE_PRECISION_HINT); default: the device's own choice")
    p.add_argument("--hint", choices=PERFORMANCE_HINTS, default="LATENCY", help="OpenVINO performance hint")
    p.add_argument("--requests", type=int, default=None,
                   help="infer requests in flight (default: the device's optimal number)")
    add_decoder_arguments(p)
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--fps", type=float, default=None,
                   help=f"frame rate of the output video, {MIN_FPS:g} to {MAX_FPS:g} (default: the input's; for a "
                        "camera, the rate frames come out at, measured, as stale frames are dropped)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--no-progress", action="store_true", help="no progress bar")
    shown.add_argument("--progress", action="store_true",
                       help="a progress line even when stderr is not a terminal (without tqdm, the built-in "
                            "line is otherwise shown on terminals only)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return p


def _error_phrase(errors: int, unreadable: int) -> str:
    """``"2 unreadable"`` when every error is a read error, else ``"3 errors (1 unreadable)"``."""
    if errors == unreadable:
        return f"{errors} unreadable"
    return f"{errors} errors" + (f" ({unreadable} unreadable)" if unreadable else "")


def _no_frames_error(source: str, frames: int, errors: int, unreadable: int) -> str:
    """Why a run whose ``frames`` records all carry an error produced nothing (exit :data:`EXIT_NO_FRAMES`):
    ``"none of the 2 image(s) of photos/ could be read"``, or, when some were read but could not be inferred (too
    thin, inference failed), ``"none of the 2 frame(s) of photos/ could be inferred (2 errors (1 unreadable))"``."""
    if unreadable == frames:
        return f"none of the {frames} image(s) of {source} could be read"
    return f"none of the {frames} frame(s) of {source} could be inferred ({_error_phrase(errors, unreadable)})"


def _requests_used(pipeline: AsyncPipeline) -> list[dict]:
    """The summary's ``requests_per_input_size``: ``[{"input_size": [width, height], "num_requests": n}, ...]`` in
    pixels, one entry per input size the run compiled for (a folder of other aspect ratios has several, each with
    its own request count; ``meta.num_requests`` is the first's)."""
    return [{"input_size": [width, height], "num_requests": n}
            for (height, width), n in pipeline.requests_by_size.items()]


def _count_phrase(counts: set[int]) -> str:
    """``"2"``, or ``"2 to 4"`` when the counts differ."""
    return str(min(counts)) if len(counts) == 1 else f"{min(counts)} to {max(counts)}"


def _smoother(source) -> PoseSmoother:
    """The ``--smooth`` filter, stepping at the source's frame rate (Hz) between frames without a timestamp; a video,
    camera or image sequence pattern whose rate is unknown (reported as 0, NaN or inf, or none at all) gets
    :data:`SMOOTH_FALLBACK_FPS` and a warning."""
    if source.fps is None and source.sequence:
        log.warning("%s reports no usable frame rate: --smooth assumes %g FPS between frames without a timestamp",
                    source.name, SMOOTH_FALLBACK_FPS)
    return PoseSmoother(freq=source.fps or SMOOTH_FALLBACK_FPS)


def _warn_unused_options(args: argparse.Namespace) -> None:
    """A warning for each option that would have no effect, as ``lwpose-demo`` warns of its unpaired options: ``--fps``
    without ``--output-video``, and a run with neither ``--output-json`` nor ``--output-video`` (its poses are
    computed, counted in the closing line, and not written anywhere)."""
    if args.fps is not None and args.output_video is None:
        log.warning("--fps ignored: it sets the frame rate of --output-video, and there is none")
    if args.output_json is None and args.output_video is None:
        log.warning("no --output-json or --output-video: the poses are not written anywhere (only the closing line "
                    "is printed)")


def _output_folders_to_create(args: argparse.Namespace) -> list[Path]:
    """The folders of ``--output-json`` / ``--output-video`` that do not exist yet, deepest first: the output check
    creates them before the model loads, and a run that writes nothing into them (a missing model, a bad input or
    device) takes them back."""
    outputs = [path for path in (args.output_json, args.output_video) if path not in (None, "-")]
    folders = {folder for path in outputs for folder in missing_folders(Path(path).parent)}
    return sorted(folders, key=lambda folder: len(folder.parts), reverse=True)


def run(args: argparse.Namespace) -> int:
    from ov_inference.draw import draw_poses, draw_stats

    if args.output_json not in (None, "-"):  # outputs fail before anything is loaded, not after the run
        RecordWriter.check_path(args.output_json, source=args.input, model=args.model)
    if args.output_video is not None:
        check_video_path(args.output_video, source=args.input)
    precision = None if args.precision == "default" else args.precision
    decoder = decoder_options(args)  # ValueError: exit 2
    estimator = PoseEstimator(args.model, device=args.device, input_height=args.height, precision=precision,
                              performance_hint=args.hint, decoder_options=decoder, flip=args.flip)
    source = open_source(args.input)
    try:
        estimator.prepare(source.frame_size)  # a video compiles once, for its own size
        pipeline = AsyncPipeline(estimator, num_requests=args.requests, live=source.live)  # compiles: device errors
        meta = {"model": str(args.model), "kind": estimator.kind, "model_precision": estimator.model_precision,
                "device": args.device,
                "input_height": args.height, "precision": estimator.execution_precision,
                "input": redact_url(str(args.input)), "num_requests": pipeline.num_requests,
                "keypoint_order": "COCO-17", "coordinates": "frame pixels", "flip": estimator.flip,
                "decoder": dataclasses.asdict(decoder)}
        writer = RecordWriter(args.output_json, meta)
    except BaseException:
        source.close()
        raise
    tracker = PoseTracker() if (args.track or args.smooth) else None
    smoother = _smoother(source) if args.smooth else None
    video = None
    if args.output_video:  # live: written at the rate frames come out (stale ones are dropped), unless --fps says
        video = VideoSink(args.output_video, args.fps or source.fps, measure=source.live and not args.fps)
    progress = Progress(source.length if args.max_frames is None else min(args.max_frames, source.length or 1 << 30),
                        enabled=not args.no_progress, force=args.progress)
    frames = errors = unreadable = people = 0  # frames: writer.count after each record
    status = "completed"
    t0 = time.perf_counter()
    fps = None
    try:
        for result in pipeline.run((f.image, f) for f in source):
            item = result.user_data
            error = item.error or result.error
            poses = result.poses
            stamp = item.timestamp if source.live or isinstance(source, VideoSource) else None  # seconds
            if tracker is not None:
                tracker.update(poses, stamp)
            if smoother is not None:
                poses = smoother(poses, stamp)
            size = None if item.image is None else (item.image.shape[1], item.image.shape[0])
            writer.write(frame_record(item.index, item.source, poses, image_size=size, timestamp=item.timestamp,
                                      timings=result.timings, error=error))
            frames = writer.count  # one count of frames done: the records written
            errors += error is not None
            unreadable += item.error is not None
            people += len(poses)
            fps = frames / max(time.perf_counter() - t0, 1e-9)
            if video is not None and item.image is not None:
                canvas = draw_poses(item.image.copy(), poses, show_ids=tracker is not None)
                draw_stats(canvas, fps, result.timings.get("latency_ms"), len(poses))
                video.write(canvas)
            progress.update(len(poses))
            if args.max_frames is not None and frames >= args.max_frames:
                break
    except KeyboardInterrupt:
        status = "interrupted"
        log.warning("interrupted: keeping the %d frames done", frames)
    except BaseException as exc:
        status = f"failed: {exc}"
        raise
    finally:
        with interrupts_deferred(redeliver=False):  # a second Ctrl-C / SIGTERM must not leave outputs unfinished
            progress.close()
            pipeline.close()  # its requests end and are freed here, not while the interpreter shuts down
            source.close()
            if video is not None:
                video.close()
            elapsed = time.perf_counter() - t0
            frames = writer.count  # again: an interrupt between the last write and the line after it
            ended_early = bool(getattr(source, "ended_early", False))
            source_error = getattr(source, "error", None)
            limited = args.max_frames is not None and frames >= args.max_frames  # stopped there: the rest is unread
            if status == "completed" and source_error is not None:
                status = "no frames" if getattr(source, "frames_read", 1) == 0 else "ended early"
            elif status == "completed" and frames and errors == frames and not limited:  # none gave poses
                status = "no frames"
                source_error = _no_frames_error(args.input, frames, errors, unreadable)
            summary = {"status": status, "frames": frames, "errors": errors, "unreadable": unreadable,
                       "people": people, "fps": round(frames / elapsed, 2) if elapsed > 0 else None,
                       "dropped": pipeline.stats["dropped"], "ended_early": ended_early, "source_error": source_error,
                       "requests_per_input_size": _requests_used(pipeline)}
            requests = set(pipeline.requests_by_size.values()) or {pipeline.num_requests}
            writer.close(summary)
            if args.output_json != "-":
                print(f"{frames} frames ({_error_phrase(errors, unreadable)}), {people} people, {summary['fps']} FPS, "
                      f"{estimator.kind} model, {precision_phrase(meta['model_precision'], meta['precision'])} with "
                      f"{_count_phrase(requests)} request(s)"
                      + (f"; {summary['dropped']} stale frames dropped" if summary["dropped"] else ""),
                      file=sys.stderr)
            if status in ("no frames", "ended early"):
                print(f"error: {source_error}" if status == "no frames" else f"warning: {source_error}",
                      file=sys.stderr)
    return {"interrupted": EXIT_INTERRUPTED, "no frames": EXIT_NO_FRAMES, "ended early": EXIT_ENDED_EARLY}.get(
        status, EXIT_OK)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    for flag, value in (("--max-frames", args.max_frames), ("--requests", args.requests)):
        if value is not None and not value > 0:
            print(f"error: {flag} must be positive, got {value:g}", file=sys.stderr)
            return EXIT_ERROR
    if args.fps is not None and not MIN_FPS <= args.fps <= MAX_FPS:  # nan and inf too (inf hangs OpenCV's writer)
        print(f"error: --fps must be within {MIN_FPS:g}..{MAX_FPS:g} frames per second, got {args.fps:g}",
              file=sys.stderr)
        return EXIT_ERROR
    if args.output_json not in (None, "-") and args.output_video is not None and \
            Path(args.output_json).resolve() == Path(args.output_video).resolve():
        print(f"error: --output-json and --output-video are the same file {args.output_video}", file=sys.stderr)
        return EXIT_ERROR
    _warn_unused_options(args)
    cv2.setNumThreads(1)  # OpenVINO already uses every core: OpenCV's own thread pool would only compete with it
    created = _output_folders_to_create(args)
    try:
        with sigterm_as_interrupt():  # kill, timeout, docker stop: handled as Ctrl-C
            return run(args)
    except BrokenPipeError:  # records piped to a reader that stopped (e.g. `-o - | head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:  # before the first frame (while the model loads or compiles)
        print("interrupted before any frame", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (FileNotFoundError, SourceError, ValueError, OSError) as exc:  # ModelCompileError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        remove_empty_folders(created)  # those the output check made for a run that wrote nothing in them



if __name__ == "__main__":
    sys.exit(main())
