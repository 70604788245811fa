"""``python -m convert`` / ``lwpose-convert``: checkpoint or ONNX -> OpenVINO IR FP32 / FP16 / INT8, verified."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from convert.errors import ConversionError, VerificationError
from convert.ir import PRECISIONS
from convert.onnx_export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
from convert.pipeline import HEAD_CHOICES, INT8_DEFAULTS, ConvertOptions, run_conversion
from convert.quantize import HEADS_IN_FLOAT, MODEL_TYPES, PRESETS, RANGE_ESTIMATORS
from convert.report import format_table
from pose_format.cli_types import add_version_argument, folder_type
from pose_format.extras import extra_hint, require_extra

#: Modules of the ``convert`` extra (kept equal to setup.cfg's by a test): ``--help`` and ``--version`` work without
#: them, a conversion imports them all before it starts, so that a missing one (nncf, needed only for INT8, or tqdm,
#: at the first progress bar) stops it at once, not when the run reaches it.
EXTRA_MODULES = ("torch", "nncf", "onnx", "onnxscript", "pycocotools", "tqdm")
#: What to do when one of them is missing (the runtime-only install).
EXTRAS_HINT = extra_hint("Converting", "convert")


class _Parser(argparse.ArgumentParser):
    """argparse with bad arguments as exit code 1, this command's code for bad input (2 is a fidelity failure)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="lwpose-convert", description=__doc__.split("\n")[0].split(": ", 1)[-1],
        epilog="Writes D/FP32/<name>.xml, D/FP16/<name>.xml, D/INT8/<name>.xml, D/<name>.onnx and D/report.json; "
               "exits 1 on bad input, 2 when the FP32 IR differs from PyTorch by more than 1e-4 (nothing written) "
               "and 3 when the INT8 IR was written but is outside the accuracy budget (--max-drop with a validation "
               "set, else --min-peak-f1).")
    add_version_argument(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="PyTorch checkpoint (published layout or a bare state dict)")
    src.add_argument("--onnx", type=Path, help="ONNX file of this network (float normalized NCHW input)")
    p.add_argument("--output-dir", type=folder_type, required=True, help="output folder D")
    p.add_argument("--name", help="model file name (default: the source's file name without suffix)")
    p.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["FP32", "FP16"],
                   help="IRs to write (default: FP32 FP16; INT8 needs a calibration source)")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--dynamic", action="store_true", help="dynamic H and W (the default; an error for an ONNX "
                       "file whose input size is fixed)")
    shape.add_argument("--height", type=int, help="static input height, pixels (multiple of 8; with --width)")
    p.add_argument("--width", type=int, help="static input width, pixels (multiple of 8; with --height)")
    p.add_argument("--num-refinement-stages", type=int, default=None,
                   help="refinement stages to convert, the first N of the checkpoint (default: every stage it holds)")
    p.add_argument("--allow-unsafe-checkpoint", action="store_true",
                   help="load a trusted checkpoint that weights_only=True refuses (full unpickling can run code)")
    p.add_argument("--all-stages", action="store_true", help="the ONNX file keeps every stage's outputs "
                   "(the IRs always expose the last stage only)")
    p.add_argument("--opset", type=int,
                   help=f"opset of the ONNX export ({MIN_OPSET} to {MAX_OPSET}, default {DEFAULT_OPSET}; --checkpoint "
                        "sources only)")
    cal = p.add_argument_group("INT8 calibration")
    cal.add_argument("--calib-images", type=Path, help="folder of calibration images (or the images of --calib-coco)")
    cal.add_argument("--calib-coco", type=Path, help="COCO keypoint annotations: calibrate on its images with people")
    cal.add_argument("--calib-synthetic", type=int, metavar="N",
                     help="calibrate on N generated synthetic-people images")
    cal.add_argument("--calib-size", type=int,
                     help=f"calibration images used, at most (default {INT8_DEFAULTS['calib_size']})")
    cal.add_argument("--calib-seed", type=int,
                     help=f"seed for subset choice / synthetic images (default {INT8_DEFAULTS['calib_seed']})")
    cal.add_argument("--calib-height", type=int,
                     help="dynamic IR: input height of calibration / validation / verification images (default 256)")
    cal.add_argument("--int8-heads", choices=HEAD_CHOICES,
                     help="output heads kept in float: " + ", ".join(f"{k} ({v})" for k, v in HEADS_IN_FLOAT.items())
                          + ", auto (first of these within the budget; default)")
    cal.add_argument("--int8-float-cpm", action=argparse.BooleanOptionalAction, default=None,
                     help="keep the CPM's last convolution in float (the default: the layer INT8 hurts most here; "
                          "about 4 %% slower); --no-int8-float-cpm quantizes it too")
    cal.add_argument("--preset", choices=PRESETS,
                     help="NNCF preset: mixed (asymmetric activations, the more accurate here at the same speed) or "
                          f"performance (default {INT8_DEFAULTS['preset']})")
    cal.add_argument("--activation-ranges", choices=RANGE_ESTIMATORS,
                     help="how activation quantization ranges come from the calibration statistics: minmax (the "
                          "extremes over all images; keeps confident keypoint peaks unclipped), mean_minmax (NNCF's "
                          "default: the mean of each image's extremes), histogram, or auto (minmax with the CPM "
                          f"convolution in float, else mean_minmax; default {INT8_DEFAULTS['activation_ranges']})")
    cal.add_argument("--fast-bias-correction", action="store_true",
                     help="NNCF's fast bias correction instead of the full one (a few seconds faster to quantize; "
                          "the full one lost less AP on the models measured)")
    cal.add_argument("--model-type", choices=MODEL_TYPES,
                     help=f"NNCF model type (default {INT8_DEFAULTS['model_type']})")
    cal.add_argument("--ignore", action="append", default=[], metavar="NODE",
                     help="extra IR node name to keep in float (repeatable)")
    cal.add_argument("--min-peak-f1", type=float,
                     help="the INT8 budget without a validation set: INT8 vs FP32 keypoint-peak F1 needed (auto heads "
                          f"and the verdict; default {INT8_DEFAULTS['min_peak_f1']})")
    val = p.add_argument_group("accuracy (COCO AP)")
    val.add_argument("--accuracy-control", action="store_true",
                     help="NNCF quantize_with_accuracy_control with COCO AP on the validation set as the metric")
    val.add_argument("--max-drop", type=float,
                     help="the INT8 budget with a validation set: largest absolute AP drop accepted (auto heads, "
                          f"--accuracy-control and the verdict; default {INT8_DEFAULTS['max_drop']})")
    val.add_argument("--val-ann", type=Path, help="COCO keypoint annotations of the validation set")
    val.add_argument("--val-images", type=Path, help="folder of the validation images")
    val.add_argument("--val-size", type=int, help="validation images used, at most (default all)")
    ver = p.add_argument_group("verification")
    ver.add_argument("--verify-images", type=Path,
                     help="folder of real images for the fidelity checks "
                          "(default: validation, else calibration images)")
    ver.add_argument("--verify-count", type=int, default=8, help="fidelity images used, at most (default 8)")
    ver.add_argument("--bench-seconds", type=float, default=2.0,
                     help="seconds per latency/throughput measurement; 0 skips them (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    return p


def options_from_args(args: argparse.Namespace) -> ConvertOptions:
    if args.width is not None and args.height is None:
        raise ConversionError("--width needs --height")
    return ConvertOptions(
        output_dir=args.output_dir, checkpoint=args.checkpoint, onnx=args.onnx, name=args.name,
        precisions=tuple(dict.fromkeys(args.precision)), height=args.height, width=args.width, dynamic=args.dynamic,
        num_refinement_stages=args.num_refinement_stages, allow_unsafe_checkpoint=args.allow_unsafe_checkpoint,
        all_stages=args.all_stages, opset=args.opset,
        calib_images=args.calib_images, calib_coco=args.calib_coco, calib_synthetic=args.calib_synthetic,
        calib_size=args.calib_size, calib_seed=args.calib_seed, calib_height=args.calib_height,
        int8_heads=args.int8_heads, int8_float_cpm=args.int8_float_cpm, preset=args.preset,
        activation_ranges=args.activation_ranges, fast_bias_correction=args.fast_bias_correction,
        model_type=args.model_type, ignored=tuple(args.ignore), min_peak_f1=args.min_peak_f1,
        accuracy_control=args.accuracy_control, max_drop=args.max_drop, val_ann=args.val_ann,
        val_images=args.val_images, val_size=args.val_size, verify_images=args.verify_images,
        verify_count=args.verify_count, bench_seconds=args.bench_seconds, progress=not args.quiet)


def quiet_libraries(int8: bool) -> None:
    """--quiet for the libraries too: NNCF's rich progress bars and INFO lines (NNCF resets its logger's level when
    imported, so it is imported first when INT8 is asked for), and the exporters' FutureWarnings."""
    import warnings

    warnings.simplefilter("ignore", FutureWarning)
    try:
        import rich

        rich.get_console().quiet = True
    except ImportError:  # pragma: no cover - rich comes with nncf
        pass
    if int8:
        import nncf

        nncf.set_log_level(logging.WARNING)
    logging.getLogger("nncf").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    require_extra("lwpose-convert", EXTRA_MODULES, EXTRAS_HINT)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from ov_inference.interrupts import sigterm_as_interrupt

    try:
        if args.quiet:
            quiet_libraries(int8="INT8" in args.precision)
        with sigterm_as_interrupt():  # kill, timeout, docker stop: the staging and scratch folders are removed
            report = run_conversion(options_from_args(args))
    except KeyboardInterrupt:
        print("lwpose-convert: interrupted; nothing was written", file=sys.stderr)
        return 130
    except VerificationError as exc:
        logging.getLogger("convert").error("%s", exc)
        return 2
    except ConversionError as exc:
        logging.getLogger("convert").error("%s", exc)
        return 1
    print(format_table(report))
    int8 = report.get("int8", {})
    if int8 and not int8.get("within_budget", True):
        tips = []
        if int8.get("method") != "accuracy_control" and int8.get("selection") not in ("auto", "heads"):
            tips.append("--int8-heads heads")  # keeping the output heads in float is the usual cure
        if not int8.get("float_cpm"):
            tips.append("--int8-float-cpm")
        if int8.get("method") != "accuracy_control" and report.get("ap") is not None:
            tips.append("--accuracy-control")
        tips.append("more / more representative calibration images")
        logging.getLogger("convert").error(
            "the INT8 IR was written to %s but is outside the accuracy budget (%s): try %s",
            Path(args.output_dir) / report["outputs"]["INT8"], int8.get("budget"), ", ".join(tips))
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
