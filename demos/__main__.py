"""``python -m demos`` (``lwpose-demo``): live multi-person pose demo on a camera, a video or images."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from ov_inference.cli_options import add_decoder_arguments, decoder_options
from pose_format import dumps_strict
from pose_format.cli_types import add_version_argument, count_type, input_height_type, seconds_type

__all__ = ["build_parser", "main"]


def _port(text: str) -> int:
    """argparse type: a TCP port, 0 (any free one) to 65535."""
    value = count_type(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 0 (any free one) to 65535, got {value}")
    return value


def _size(text: str) -> tuple[int, int]:
    """argparse type: ``WxH`` pixels (:func:`demos.output_size.parse_size`)."""
    from demos.output_size import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lwpose-demo",
        description="Lightweight OpenPose demo: draws skeletons (left/right in distinct colours), person ids with "
                    "--track, FPS, latency, people count and CPU load (Linux). Shows a window when a display exists "
                    "(Esc quits, p pauses), writes an annotated video or images with --output, serves a web live "
                    "view with --serve. Open Model Zoo demo spellings are accepted: -m, -i, -o, -d, "
                    "-t / --prob_threshold, --tsize, -nireq, -nstreams, -nthreads, -limit, --no_show, "
                    "--output_resolution, -r.",
    )
    add_version_argument(p)
    p.add_argument("--model", "-m", required=True, help="OpenVINO IR .xml (this project's or Open Model Zoo "
                   "human-pose-estimation-0001)")
    p.add_argument("--input", "-i", required=True,
                   help="camera id (0), video file, stream URL (rtsp://..., http://...), image, folder of images, a "
                        "quoted glob or an image sequence pattern ('frames/frame%%04d.png')")
    p.add_argument("--output", "-o", default=None, help="annotated video (.mp4/.avi/.mkv/.mov) or a folder for images")
    p.add_argument("--track", action="store_true", help="stable person ids across frames (video / camera; "
                   "ignored for images)")
    p.add_argument("--smooth", action="store_true", help="One Euro smoothing of keypoints (video / camera; "
                   "ignored for images)")
    p.add_argument("--serve", type=_port, default=None, metavar="PORT",
                   help="serve the annotated stream and live stats at http://HOST:PORT/")
    p.add_argument("--host", default="127.0.0.1", help="address for --serve (default 127.0.0.1, this machine only)")
    p.add_argument("--height", "--tsize", type=input_height_type, default=256,
                   help="network input height in pixels, a multiple of 8 (256 live, 368 accurate)")
    p.add_argument("--precision", choices=("f32", "bf16", "f16", "default"), default="default",
                   help="execution precision (default: the device's; FP32 IRs run in bf16 on CPUs that have it)")
    p.add_argument("--device", "-d", default="CPU", help="OpenVINO device (default CPU)")
    p.add_argument("--no-window", "--no_show", action="store_true",
                   help="never open a window, even when a display exists")
    p.add_argument("--max-frames", type=count_type(1), default=None, metavar="N",
                   help="stop after this many input frames (at least 1, as lwpose-infer)")
    p.add_argument("--loop", action="store_true",
                   help="read a video file, image, folder or glob again from the start each time it ends, until "
                        "Esc / Ctrl+C / --max-frames (tracks restart with it; ignored for a camera)")
    p.add_argument("--requests", "-nireq", type=count_type(1), default=None, metavar="N",
                   help="async infer requests in flight (default: the device's optimal number, at least 2 for files)")
    p.add_argument("--threads", "-nthreads", type=count_type(1), default=None, metavar="N",
                   help="CPU inference threads (OpenVINO INFERENCE_NUM_THREADS; CPU device only; default: the "
                        "plugin's choice)")
    p.add_argument("--streams", "-nstreams", type=count_type(1), default=None, metavar="N",
                   help="OpenVINO NUM_STREAMS: parallel inference streams (default: the performance hint's choice)")
    add_decoder_arguments(p)
    p.add_argument("--output-limit", "-limit", type=count_type(0), default=0, metavar="N",
                   help="write at most N frames to --output (0 = all, the default); without a window, --serve or "
                        "--raw the demo stops there")
    p.add_argument("--output-size", "--output_resolution", type=_size, default=None, metavar="WxH",
                   help="scale the annotated frames to fit W x H pixels, aspect ratio kept (window, --output and "
                        "--serve; default: the input's size)")
    p.add_argument("--raw", "-r", action="store_true",
                   help="print each frame's poses to stdout as one JSON line (COCO-17 keypoints x, y, visibility "
                        "and their scores, the person score, track id; frame pixels); other messages go to stderr")
    p.add_argument("--keep-serving", type=seconds_type(allow_zero=True), default=0.0, metavar="SECONDS",
                   help="with --serve, keep the page up this long after the input ends (Esc / q in the window, "
                        "Ctrl+C and SIGTERM stop at once)")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    omz = p.add_argument_group("Open Model Zoo spellings accepted for compatibility")
    omz.add_argument("-at", "--architecture_type", choices=("openpose",), default="openpose",
                     help="OMZ's model architecture: this demo runs the OpenPose family (openpose)")
    omz.add_argument("-u", "--utilization_monitors", default=None, metavar="MONITORS",
                     help="OMZ's utilization monitors: the CPU load is always shown here (value ignored)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from demos.live import DemoOptions, run_demo
    from ov_inference import SourceError
    from ov_inference.interrupts import sigterm_as_interrupt

    try:
        decoder = decoder_options(args)
    except ValueError as exc:
        build_parser().error(str(exc))
    options = DemoOptions(
        model=args.model, input=args.input, output=args.output, track=args.track, smooth=args.smooth,
        serve=args.serve, host=args.host, window=False if args.no_window else None, height=args.height,
        precision=None if args.precision == "default" else args.precision, device=args.device,
        max_frames=args.max_frames, keep_serving=args.keep_serving, progress=not args.quiet, loop=args.loop,
        num_requests=args.requests, num_threads=args.threads, output_limit=args.output_limit,
        output_size=args.output_size, raw=args.raw, num_streams=args.streams, flip=args.flip,
        decoder_options=decoder,
    )
    try:
        with sigterm_as_interrupt():  # systemd / docker stop: finish the video and the summary as Ctrl+C does
            summary = run_demo(options)
    except BrokenPipeError:  # --raw piped to a reader that stopped (`| head`): the outputs are closed, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # before the first frame (model loading, compiling)
        print("lwpose-demo: interrupted before any frame", file=sys.stderr)
        return 130
    except (SourceError, FileNotFoundError, ValueError, OSError) as exc:
        print(f"lwpose-demo: error: {exc}", file=sys.stderr)
        return 2
    if args.json and args.raw:  # stdout stays JSON lines: the summary is the last one
        print(dumps_strict({"summary": summary.as_dict()}))
    elif args.json:
        print(dumps_strict(summary.as_dict(), indent=2))
    else:
        print(_summary_line(summary), file=sys.stderr if args.raw else sys.stdout)
    if summary.interrupted:  # Ctrl+C / SIGTERM mid-run: the output is finished, but the run did not complete
        return 130
    return 1 if summary.frames == 0 and summary.errors > 0 else 0


def _summary_line(summary) -> str:
    """The human-readable run summary."""
    threads = f", {summary.num_threads} threads" if summary.num_threads else ""
    cpu = (f"; CPU {summary.cpu_process_percent:.0f}% process, {summary.cpu_system_percent:.0f}% machine"
           if summary.cpu_process_percent is not None else "")
    loops = f" ({summary.loops} passes over the input)" if summary.loops > 1 else ""
    wrote = _output_phrase(summary)
    return (f"{summary.frames} frames{loops} in {summary.seconds:.1f} s ({summary.fps:.1f} FPS end to end), "
            f"latency p50 {summary.latency_ms_p50 or 0:.1f} ms, {summary.people_mean:.2f} people per frame, "
            f"{summary.errors} skipped, {summary.dropped} dropped; execution precision {summary.execution_precision}, "
            f"{summary.num_requests} requests{threads}{cpu}{wrote}")


def _output_phrase(summary) -> str:
    """The summary's part on ``--output``: the frames written, or that nothing was (a video is opened on its first
    frame, and a folder made for the run is removed when it stays empty: neither is there then)."""
    if not summary.output:
        return ""
    if summary.output_frames:
        return f"; wrote {summary.output_frames} frames to {summary.output}"
    if os.path.exists(summary.output):  # a folder that was there before the run
        return f"; wrote no frame to {summary.output}"
    return f"; wrote no frame, {summary.output} not created"


if __name__ == "__main__":
    sys.exit(main())
