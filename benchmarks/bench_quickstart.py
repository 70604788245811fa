"""Quickstart benchmark: the README's first command from a cold cache, against the issue's targets.

Runs :func:`demos.quickstart.run_quickstart` with a fresh cache folder (so data generation, training and conversion
all run, as on a fresh machine) and the published checkpoint hidden from it, then prints:

- total wall time (target <= 15 minutes on a 2-core machine) and each step's time;
- async FPS of the INT8 IR over the FP32 IR executing true f32 and at the device default (target >= 1.8), measured in
  the same run in interleaved rounds;
- the INT8 AP drop against FP32 on held-out synthetic images, in points (target <= 1).

Run from the project root: ``python benchmarks/bench_quickstart.py [--json out.json] [--out DIR] [--keep]``.
Extra quickstart options may follow ``--`` (e.g. ``-- --train-minutes 5``).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Options after -- go to the quickstart (python -m demos.quickstart --help); "
                                       "they are checked before anything runs.")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="also write the figures as JSON to FILE (a path, unlike the --json switch of bench_decoder, "
                        "bench_pipeline and bench_int8, which print JSON on stdout); the text lines are printed "
                        "either way")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_quickstart", help="report folder")
    p.add_argument("--keep", action="store_true", help="keep the cold cache folder (printed) instead of deleting it")
    args = p.parse_args(argv)
    if args.json is not None:
        blocked = next((q for q in args.json.parents if q.exists()), None)
        if args.json.is_dir():
            p.error(f"--json {args.json}: is a folder, expected a file path")
        if blocked is not None and not blocked.is_dir():
            p.error(f"--json {args.json}: {blocked} is a file, not a folder")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from demos.quickstart import MIN_MEANINGFUL_AP, build_parser, check_args, config_from_args, run_quickstart
    from pose_format import dumps_strict

    # the quickstart's own checks, before the cold cache is made and anything generated or trained: the cache folder
    # does not exist yet, so a stand-in is checked (and replaced unless --runs-dir was given after --)
    stand_in = Path(tempfile.gettempdir()) / "lwpose-bench-quickstart-runs"
    qs_args = build_parser().parse_args(["--out", str(args.out), "--runs-dir", str(stand_in), "--quiet", *extra])
    try:
        check_args(qs_args)
    except ValueError as exc:
        p.error(f"{exc}" + ("" if str(exc).startswith("--out ") and "--out" not in extra else
                             " (a quickstart option, after --)"))

    runs = Path(tempfile.mkdtemp(prefix="lwpose-bench-quickstart-"))
    os.environ["XDG_CACHE_HOME"] = str(runs / "xdg")  # no published checkpoint: the synthetic chain
    if qs_args.runs_dir == stand_in:
        qs_args.runs_dir = runs
    try:
        report = run_quickstart(config_from_args(qs_args))
    finally:
        if args.keep:
            print(f"cold cache kept in {runs}")
        else:
            shutil.rmtree(runs, ignore_errors=True)

    p8, p32, pdef = (report["precisions"][k] for k in ("int8", "fp32", "fp32_default"))
    figures = {
        "total_minutes": report["total_s"] / 60,
        "steps_s": {s["name"]: s["seconds"] for s in report["steps"]},
        "int8_fps": p8["fps"], "fp32_f32_fps": p32["fps"], "fp32_default_fps": pdef["fps"],
        "fp32_default_execution_precision": pdef["execution_precision"],
        "int8_execution_precision": p8["execution_precision"],
        "int8_over_fp32_f32": p8["fps"] / p32["fps"], "int8_over_fp32_default": p8["fps"] / pdef["fps"],
        "ap_pytorch": report["precisions"]["pytorch"]["ap"], "ap_fp32": p32["ap"], "ap_int8": p8["ap"],
        "int8_ap_drop_points": 100 * (p32["ap"] - p8["ap"]),
        "decode_ms_p50": report["decode"]["decode_ms_p50"],
        "report": str(qs_args.out / "report.md"),
    }
    figures["targets"] = {
        "total_minutes <= 15": figures["total_minutes"] <= 15,
        "int8_over_fp32_f32 >= 1.8": figures["int8_over_fp32_f32"] >= 1.8,
        "int8_over_fp32_default >= 1.8": figures["int8_over_fp32_default"] >= 1.8,
        "int8_ap_drop_points <= 1": (figures["int8_ap_drop_points"] <= 1.0
                                     if figures["ap_fp32"] >= MIN_MEANINGFUL_AP else None),
    }
    print(f"quickstart from a cold cache: {figures['total_minutes']:.1f} min")
    for name, seconds in figures["steps_s"].items():
        print(f"  {name:<40} {seconds:7.1f} s")
    print(f"async FPS: INT8 {p8['fps']:.1f} ({p8['execution_precision']}), FP32 {p32['fps']:.1f} (f32), "
          f"FP32 default {pdef['fps']:.1f} ({pdef['execution_precision']})")
    print(f"INT8 / FP32 f32 = {figures['int8_over_fp32_f32']:.2f}, INT8 / FP32 default = "
          f"{figures['int8_over_fp32_default']:.2f}")
    print(f"AP: PyTorch {figures['ap_pytorch']:.3f}, FP32 {figures['ap_fp32']:.3f}, INT8 {figures['ap_int8']:.3f} "
          f"(drop {figures['int8_ap_drop_points']:.2f} points); decode p50 {figures['decode_ms_p50']:.2f} ms")
    for name, ok in figures["targets"].items():
        print(f"  {'N/A ' if ok is None else 'PASS' if ok else 'FAIL'} {name}")
    for note in report.get("notes", []):
        print(f"note: {note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(dumps_strict(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
