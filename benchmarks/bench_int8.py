"""INT8 benchmark: speed of the INT8 IR against FP32 (true f32 and the CPU's default), and its AP drop.

(a) Speed, in one run on this CPU: async FPS (THROUGHPUT hint, optimal number of requests) and median sync
    latency at 256 x 456 (a 16:9 frame at the live height) for the FP32 IR compiled with
    ``INFERENCE_PRECISION_HINT=f32``, with ``bf16`` and with the device default, and for the INT8 IR with the
    device default. Configurations are measured in interleaved rounds and the median per configuration is
    kept, so background load hits all of them alike. Target: INT8 async FPS >= 1.8 x FP32 (reported against
    true f32 and against the default / bf16, with the precision that actually executed).
(b) Accuracy: with a checkpoint trained on synthetic people (``runs/**/*.pth``, newest first, or
    ``--checkpoint``), COCO AP of FP32 (f32) and INT8 on held-out synthetic images (a seed the training did not
    use) through the runtime. Convert gets a selection split of as many images of another seed, on which it
    chooses the INT8 head policy (``--int8-heads auto``); the reported drop is on the held-out split, which no choice
    has seen (a drop measured where the choice was made is at most the budget by construction).
    Target: INT8 AP within 1 point (0.01) of FP32. Without a trained checkpoint the seed fixture (random
    weights) is used for speed only and the AP figure is reported as awaiting a trained model.

The IRs come from ``convert.run_conversion`` (the same code as ``python -m convert``), INT8 calibrated on
synthetic people (a different seed again). Run from the project root:
``python benchmarks/bench_int8.py [--checkpoint C] [--json]``.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ov_inference.adapter import get_core  # noqa: E402

from convert import (RANGE_ESTIMATORS, ConversionError, ConvertOptions, QuantizeOptions, layer_profile,  # noqa: E402
                     load_network, measure_speed, run_conversion, synthetic_dataset)
from convert.__main__ import quiet_libraries  # noqa: E402
from demos.measure import evaluate_ir  # noqa: E402
from pose_format import dumps_strict, input_file_problem  # noqa: E402
from pose_format.cli_types import count_type, input_height_type, seconds_type  # noqa: E402

log = logging.getLogger("bench_int8")

SEED_CHECKPOINT = ROOT.parent / "shared" / "fixtures" / "seed_format" / "checkpoint.pth"
FPS_TARGET = 1.8
AP_DROP_TARGET = 0.01
#: Below this FP32 AP the model has not learned enough for an AP drop to mean anything.
MIN_MEANINGFUL_AP = 0.05
#: Seeds of the generated data: held-out validation, calibration and INT8 selection, unlike the training seeds (0, 1,
#: ...) and each other.
VAL_SEED, CALIB_SEED, SELECT_SEED = 9001, 9002, 9003


def find_trained_checkpoint() -> Path | None:
    """Newest ``*.pth`` under ``runs/`` (a model trained by ``python -m train``), or None."""
    found = sorted((ROOT / "runs").glob("**/*.pth"), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


def measure_all(models: dict, rounds: int, seconds: float) -> dict:
    """Interleaved speed rounds; median async FPS / latency per configuration, plus the executed precision."""
    runs: dict[str, list] = {key: [] for key in models}
    for r in range(rounds):
        for key, (model, hint) in models.items():
            runs[key].append(measure_speed(model, precision_hint=hint, seconds=seconds))
            log.info("round %d %s: %.1f FPS", r + 1, key, runs[key][-1].async_fps)
    return {key: {"async_fps": statistics.median(s.async_fps for s in speeds),
                  "latency_ms_p50": statistics.median(s.latency_ms_p50 for s in speeds),
                  "execution_precision": speeds[0].execution_precision,
                  "requests": speeds[0].requests, "input_shape": speeds[0].input_shape}
            for key, speeds in runs.items()}


def _ap_verdict(result: dict):
    if result["ap_fp32"] < MIN_MEANINGFUL_AP:
        return f"not meaningful: FP32 AP {result['ap_fp32']:.3f} < {MIN_MEANINGFUL_AP} (train longer)"
    return result["ap_drop_points"] <= 100 * AP_DROP_TARGET


def print_profile(profiles: dict) -> None:
    """Milliseconds per operation type, FP32 at the default against INT8, with the ratio per type."""
    fp32, int8 = profiles["FP32 default"], profiles["INT8 default"]
    print(f"\nLayer profile, one sync inference (kernel time, ms): FP32 executed {fp32['execution_precision']}, "
          f"INT8")
    print(f"{'operation':<18} {'FP32':>8} {'INT8':>8} {'ratio':>6}")
    for op in sorted(set(fp32["by_type"]) | set(int8["by_type"]), key=lambda o: -fp32["by_type"].get(o, 0)):
        a, b = fp32["by_type"].get(op, 0.0), int8["by_type"].get(op, 0.0)
        ratio = f"{a / b:6.2f}" if a and b else "     -"
        print(f"{op:<18} {a:>8.2f} {b:>8.2f} {ratio}")
    print(f"{'total':<18} {fp32['total_ms']:>8.2f} {int8['total_ms']:>8.2f} {fp32['total_ms'] / int8['total_ms']:6.2f}")
    print(f"convolution kernels: FP32 {', '.join(fp32['kernels'])}; INT8 {', '.join(int8['kernels'])}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, help="checkpoint (default: newest runs/**/*.pth, else the seed fixture)")
    p.add_argument("--val-images", type=count_type(1), default=400,
                   help="held-out synthetic validation images (default 400: on 100 the INT8 drop of one model "
                        "reads up to about half a point off)")
    p.add_argument("--calib-images", type=count_type(1), default=200,
                   help="synthetic calibration images (default 200)")
    p.add_argument("--height", type=input_height_type, default=256,
                   help="input height of calibration and AP images, a multiple of 8 (match the training scale; "
                        "default 256)")
    p.add_argument("--int8-heads", default="auto", choices=("auto", "int8", "last", "heads"),
                   help="heads kept in float (see python -m convert --help; default auto)")
    p.add_argument("--int8-float-cpm", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the CPM's last convolution in float (python -m convert --int8-float-cpm; default: "
                        "convert's, on)")
    p.add_argument("--activation-ranges", choices=RANGE_ESTIMATORS, default=QuantizeOptions.activation_ranges,
                   help="activation range estimator (python -m convert --activation-ranges; default %(default)s)")
    p.add_argument("--fast-bias-correction", action="store_true",
                   help="NNCF's fast bias correction instead of the full one")
    p.add_argument("--rounds", type=count_type(1), default=3, help="interleaved speed rounds (default 3)")
    p.add_argument("--seconds", type=seconds_type(allow_zero=False), default=3.0,
                   help="seconds per speed phase (default 3)")
    p.add_argument("--profile", action="store_true",
                   help="also profile FP32 (default) and INT8 layer by layer: milliseconds per operation type and "
                        "the convolution kernels that ran, to show where INT8's speed-up comes from")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout instead of "
                                                       "the tables")
    args = p.parse_args(argv)
    # checked before any image is generated or any IR converted
    problem = args.checkpoint and input_file_problem(args.checkpoint, "a checkpoint file")
    if problem:
        p.error(f"--checkpoint {args.checkpoint}: {problem}")
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.json:  # stdout holds the JSON alone: NNCF prints its INFO lines and progress bars there
        quiet_libraries(int8=True)

    checkpoint = args.checkpoint or find_trained_checkpoint()
    trained = checkpoint is not None
    checkpoint = checkpoint or SEED_CHECKPOINT
    if not checkpoint.is_file():
        p.error(f"no checkpoint under runs/ and the seed fixture is not at {SEED_CHECKPOINT}: give --checkpoint")
    try:  # a file that is no checkpoint of this network: one line now, not a traceback after the data is made
        load_network(checkpoint)
    except ConversionError as exc:
        p.error(f"--checkpoint: {exc}")
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        tmp = Path(tmp)
        select, held_out = {}, None
        if trained:
            ann, images = synthetic_dataset(tmp / "select", args.val_images, seed=SELECT_SEED, progress=not args.json)
            select = {"val_ann": ann, "val_images": images}
            held_out = synthetic_dataset(tmp / "val", args.val_images, seed=VAL_SEED, progress=not args.json)
        report = run_conversion(ConvertOptions(
            output_dir=tmp / "ir", checkpoint=checkpoint, name="model", precisions=("FP32", "INT8"),
            calib_synthetic=args.calib_images, calib_seed=CALIB_SEED, calib_height=args.height,
            int8_heads=args.int8_heads, int8_float_cpm=args.int8_float_cpm,
            activation_ranges=args.activation_ranges, fast_bias_correction=args.fast_bias_correction,
            bench_seconds=0, progress=not args.json, **select))
        if held_out is not None:
            ap = {name: evaluate_ir(tmp / "ir" / name / "model.xml", *held_out, args.height, precision=hint,
                                    progress=not args.json)
                  for name, hint in (("FP32", "f32"), ("INT8", None))}
        core = get_core()  # one Core per process: see ov_inference.adapter.get_core
        fp32 = core.read_model(tmp / "ir" / "FP32" / "model.xml")
        int8 = core.read_model(tmp / "ir" / "INT8" / "model.xml")
        speed = measure_all({"FP32 f32": (fp32, "f32"), "FP32 bf16": (fp32, "bf16"), "FP32 default": (fp32, None),
                             "INT8 default": (int8, None)}, args.rounds, args.seconds)
        profiles = ({"FP32 default": layer_profile(fp32).as_dict(), "INT8 default": layer_profile(int8).as_dict()}
                    if args.profile else None)

    int8_fps = speed["INT8 default"]["async_fps"]
    result = {
        "checkpoint": str(checkpoint), "trained_checkpoint": trained, "ap_input_height": args.height,
        "int8_heads": report["int8"]["heads"], "int8_float_convolutions": report["int8"].get("float_convolutions"),
        "int8_agreement": report["int8"].get("agreement"),
        "speed": speed,
        "int8_vs_fp32_f32": int8_fps / speed["FP32 f32"]["async_fps"],
        "int8_vs_fp32_bf16": int8_fps / speed["FP32 bf16"]["async_fps"],
        "int8_vs_fp32_default": int8_fps / speed["FP32 default"]["async_fps"],
        "fp32_default_precision": speed["FP32 default"]["execution_precision"],
        "fp32_bf16_executed_as": speed["FP32 bf16"]["execution_precision"],
    }
    if profiles:
        result["profile"] = profiles
    if trained:
        chosen_on = report["ap"]
        result.update(ap_images=ap["FP32"]["images"], ap_fp32=ap["FP32"]["AP"], ap_int8=ap["INT8"]["AP"],
                      ap_drop_points=100 * (ap["FP32"]["AP"] - ap["INT8"]["AP"]),
                      selection_images=chosen_on["images"],
                      selection_drop_points=100 * (chosen_on["FP32"] - chosen_on["INT8"]))
    result["targets"] = {
        "int8_fps_vs_f32 >= 1.8": result["int8_vs_fp32_f32"] >= FPS_TARGET,
        "int8_fps_vs_default >= 1.8": result["int8_vs_fp32_default"] >= FPS_TARGET,
        "int8_ap_drop <= 1 point": _ap_verdict(result) if trained
        else "awaits a checkpoint trained on synthetic people (runs/**/*.pth)",
    }
    if args.json:
        print(dumps_strict(result, indent=2))
        return 0
    print(f"\nINT8 benchmark: {checkpoint}{'' if trained else ' (random weights: speed only)'}; "
          f"INT8 heads kept in float: {result['int8_heads']}; convolutions in float: "
          f"{result['int8_float_convolutions'] or 'none'}")
    print(f"{'config':<14} {'executed':<9} {'async FPS':>10} {'latency ms':>11}")
    for key, s in speed.items():
        print(f"{key:<14} {s['execution_precision']:<9} {s['async_fps']:>10.1f} {s['latency_ms_p50']:>11.2f}")
    print(f"INT8 / FP32 async FPS: {result['int8_vs_fp32_f32']:.2f}x vs f32, {result['int8_vs_fp32_bf16']:.2f}x vs "
          f"bf16 hint (executed {result['fp32_bf16_executed_as']}), {result['int8_vs_fp32_default']:.2f}x vs default "
          f"(executed {result['fp32_default_precision']}); target >= {FPS_TARGET}x")
    if profiles:
        print_profile(profiles)
    if trained:
        print(f"AP on {result['ap_images']} held-out synthetic images: FP32 {result['ap_fp32']:.4f}, INT8 "
              f"{result['ap_int8']:.4f}, drop {result['ap_drop_points']:+.2f} points (target <= 1); on the "
              f"{result['selection_images']} selection images convert chose by: {result['selection_drop_points']:+.2f}")
    else:
        print("AP: awaits a checkpoint trained on synthetic people (runs/**/*.pth or --checkpoint)")
    for name, ok in result["targets"].items():
        print(f"  {name}: {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
