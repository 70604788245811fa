"""``python -m demos`` (``lwpose-demo``): live multi-person pose demo on a camera, a video or images."""
from __future__ import annotations

import argparse
import json
import logging
import sys

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lwpose-demo",
        description="Lightweight OpenPose demo: draws skeletons (left/right in distinct colours), person ids with "
                    "--track, FPS, latency and people count. Shows a window when a display exists (Esc quits, "
                    "p pauses), writes an annotated video or images with --output, serves a web live view with --serve.",
    )
    p.add_argument("--model", required=True, help="OpenVINO IR .xml (this project's or Open Model Zoo "
                   "human-pose-estimation-0001)")
    p.add_argument("--input", required=True, help="camera id (0), video file, image, folder of images or a quoted glob")
    p.add_argument("--output", default=None, help="annotated video (.mp4/.avi/.mkv/.mov) or a folder for images")
    p.add_argument("--track", action="store_true", help="stable person ids across frames (video / camera; "
                   "ignored for images)")
    p.add_argument("--smooth", action="store_true", help="One Euro smoothing of keypoints (video / camera; "
                   "ignored for images)")
    p.add_argument("--serve", type=int, default=None, metavar="PORT",
                   help="serve the annotated stream and live stats at http://HOST:PORT/")
    p.add_argument("--host", default="127.0.0.1", help="address for --serve (default 127.0.0.1, this machine only)")
    p.add_argument("--height", type=int, default=256, help="network input height in pixels, a multiple of 8 "
                   "(256 live, 368 accurate)")
    p.add_argument("--precision", choices=("f32", "bf16", "f16", "default"), default="default",
                   help="execution precision (default: the device's; FP32 IRs run in bf16 on CPUs that have it)")
    p.add_argument("--device", default="CPU", help="OpenVINO device (default CPU)")
    p.add_argument("--no-window", action="store_true", help="never open a window, even when a display exists")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many input frames")
    p.add_argument("--keep-serving", type=float, default=0.0, metavar="SECONDS",
                   help="with --serve, keep the page up this long after the input ends")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from demos.live import DemoOptions, run_demo
    from ov_inference import SourceError

    if args.height < 8 or args.height % 8:
        build_parser().error(f"--height must be a positive multiple of 8, got {args.height}")
    options = DemoOptions(
        model=args.model, input=args.input, output=args.output, track=args.track, smooth=args.smooth,
        serve=args.serve, host=args.host, window=False if args.no_window else None, height=args.height,
        precision=None if args.precision == "default" else args.precision, device=args.device,
        max_frames=args.max_frames, keep_serving=args.keep_serving, progress=not args.quiet,
    )
    try:
        summary = run_demo(options)
    except (SourceError, FileNotFoundError, ValueError, OSError) as exc:
        print(f"lwpose-demo: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} FPS end to end), "
              f"latency p50 {summary.latency_ms_p50 or 0:.1f} ms, {summary.people_mean:.2f} people per frame, "
              f"{summary.errors} skipped, {summary.dropped} dropped; execution precision {summary.execution_precision}"
              + (f"; wrote {summary.output}" if summary.output else ""))
    return 1 if summary.frames == 0 and summary.errors > 0 else 0


if __name__ == "__main__":
    sys.exit(main())
