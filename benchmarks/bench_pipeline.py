"""Runtime pipeline benchmark: async ``pipeline_fps`` vs ``network_fps`` (target ratio >= 0.85 on 1280x720 video).

Runs :func:`ov_inference.bench.run_benchmark` (network alone with async requests, full pipeline async and sync,
decode and latency percentiles, all in one process) for each requested execution precision, ``--rounds`` times,
and reports the median ratio per precision. Without ``--model`` it converts the published-layout fixture checkpoint
(``../shared/fixtures/seed_format/checkpoint.pth``, random weights) to this project's FP32 IR in a temporary folder
(needs the ``convert`` extra); ``--omz`` uses Intel's ``human-pose-estimation-0001`` IR instead. Without ``--input``
a 1280x720 clip is synthesized. Timings on a shared machine are noisy: the ratios come from one run each.

Run from the project root: ``python benchmarks/bench_pipeline.py [--model M.xml] [--precision default f32] [--json]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ov_inference.adapter import PRECISIONS  # noqa: E402
from ov_inference.bench import MIN_FRAMES, TARGET_RATIO, check_video, run_benchmark  # noqa: E402
from pose_format import dumps_strict, input_file_problem  # noqa: E402
from pose_format.cli_types import count_type  # noqa: E402

SHARED = ROOT.parent / "shared"
SEED_CHECKPOINT = SHARED / "fixtures" / "seed_format" / "checkpoint.pth"
OMZ_XML = SHARED / "models" / "omz_hpe_0001" / "human-pose-estimation-0001.xml"


def measure(args: argparse.Namespace) -> dict:
    """Every precision's rounds of :func:`ov_inference.bench.run_benchmark` (the seed checkpoint converted
    first when no model is given) as the report dict."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        if args.model is not None:
            model = args.model
        elif args.omz:
            model = OMZ_XML
        else:
            from convert import checkpoint_to_ir

            model = checkpoint_to_ir(SEED_CHECKPOINT, Path(tmp) / "FP32" / "seed.xml")
        report = {"model": str(model), "model_precision": None, "target_ratio": TARGET_RATIO, "video": None,
                  "frame_size": None, "precisions": {}}
        for precision in args.precision:
            rounds = [run_benchmark(model, args.input, args.frames,
                                    precision=None if precision == "default" else precision)
                      for _ in range(args.rounds)]
            report["video"], report["frame_size"] = rounds[0]["video"], rounds[0]["frame_size"]
            report["model_precision"] = rounds[0]["model_precision"]
            ratios = [r["pipeline_over_network"] for r in rounds]
            report["precisions"][precision] = {
                "execution_precision": rounds[0]["execution_precision"],
                "num_requests": rounds[0]["num_requests"],
                "ratio_median": statistics.median(ratios),
                "meets_target": statistics.median(ratios) >= TARGET_RATIO,
                **{key: _median([r[key] for r in rounds]) for key in
                   ("network_fps", "pipeline_fps", "sync_fps", "decode_ms_p50", "decode_ms_p95", "latency_ms_p50")},
                "rounds": rounds,
            }
    return report


def _median(values: list[float | None]) -> float | None:
    """The median of the rounds' figures that are known (a round with no frame decoded has ``None``), ``None``
    when no round has one."""
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _cell(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec`` for the table, ``-`` (aligned as ``spec`` says) when unknown."""
    return format(value, spec) if value is not None else format("-", spec.split(".")[0])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, help="IR .xml (default: the seed checkpoint converted to FP32)")
    which.add_argument("--omz", action="store_true",
                       help="use the OMZ human-pose-estimation-0001 IR (random weights) instead of --model")
    p.add_argument("--input", type=Path, help="video file, not an image (default: synthesized 1280x720 clip)")
    p.add_argument("--frames", type=count_type(MIN_FRAMES), default=150,
                   help=f"frames per measurement, at least {MIN_FRAMES} (default 150)")
    p.add_argument("--rounds", type=count_type(1), default=3,
                   help="repetitions per precision (median ratio reported; default 3)")
    p.add_argument("--precision", nargs="+", default=["default", "f32"], choices=("default", *PRECISIONS),
                   help="execution precisions to measure: default (device choice), " + ", ".join(PRECISIONS)
                        + " (one given twice is measured once)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    args = p.parse_args(argv)
    args.precision = list(dict.fromkeys(args.precision))  # `default default` measured twice would overwrite itself
    # every input is checked here, before the seed checkpoint is converted or anything is timed
    problem = args.model and input_file_problem(args.model, "an IR .xml file")
    if problem:
        p.error(f"--model {args.model}: {problem}")
    if args.omz and not OMZ_XML.is_file():
        p.error(f"--omz: the OMZ IR is not at {OMZ_XML}")
    if args.model is None and not args.omz and not SEED_CHECKPOINT.is_file():
        p.error(f"the seed checkpoint to convert is not at {SEED_CHECKPOINT}: give --model M.xml or --omz")
    if args.input is not None:
        try:
            check_video(args.input)
        except (OSError, ValueError) as exc:
            p.error(f"--input: {exc}")

    try:
        report = measure(args)
    except (OSError, ValueError) as exc:  # a model that cannot be read or compiled, a video that cannot be read
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(dumps_strict(report))
        return 0
    width, height = report["frame_size"]
    frames = report["precisions"][args.precision[0]]["rounds"][0]["frames"]
    print(f"model {report['model']}; {args.rounds} rounds of {frames} frames, {width}x{height} video "
          f"({'synthesized' if args.input is None else args.input}); medians")
    header = (f"{'precision':>10} {'executes':>8} {'req':>3} {'network':>8} {'pipeline':>8} {'sync':>7} "
              f"{'ratio':>6} {'decode p50/p95 ms':>18} {'latency p50':>11}")
    print(header)
    for name, row in report["precisions"].items():
        print(f"{name:>10} {row['execution_precision']:>8} {row['num_requests']:>3} {row['network_fps']:8.2f} "
              f"{row['pipeline_fps']:8.2f} {row['sync_fps']:7.2f} {row['ratio_median']:6.3f} "
              f"{_cell(row['decode_ms_p50'], '>8.2f')}/{_cell(row['decode_ms_p95'], '<8.2f')} "
              f"{_cell(row['latency_ms_p50'], '>10.1f')}  "
              f"{'meets' if row['meets_target'] else 'MISSES'} {TARGET_RATIO}"
              f"  (ratios {[r['pipeline_over_network'] for r in row['rounds']]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
