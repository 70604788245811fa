"""The whole conversion: source -> ONNX -> IR FP32 / FP16 / INT8, verified, reported, then moved into place.

Everything is written into a staging folder inside the output folder and moved into ``output_dir`` only when
every step (verification included) succeeded, so a failure never leaves a half-written output behind.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from pose_format import (INPUT_HEIGHT_LIVE, RT_INFO_SECTION, STRIDE, check_input_side, dumps_strict,
                         input_file_problem, letterbox, sha256_file, write_text_atomic)

from convert.calibration import (SampleSet, coco_images, folder_images, load_samples, people_image_ids,
                                 synthetic_dataset)
from convert.errors import ConversionError, VerificationError
from convert.ir import PRECISIONS, build_ir, move_into_place, reshaped, save_ir
from convert.leftovers import OWNER_PATTERN, dead_runs, owner, remove_dead_runs
from convert.onnx_export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
from convert.quantize import HEAD_POLICIES, QuantizeOptions, quantize_int8, quantize_with_accuracy_control
from convert.report import calibration_text
from convert.speed import measure_speed
from convert.verify import (F32_CONFIG, FP32_TOLERANCE, agreement, all_finite, coco_ap, compile_model, infer_ir,
                            infer_onnx, infer_torch, max_abs_diff)
from ov_inference.output_paths import make_folders, remove_empty_folders

log = logging.getLogger(__name__)

#: ``int8_heads`` choices: a fixed :data:`convert.quantize.HEAD_POLICIES` entry, or ``auto`` (try them in order).
HEAD_CHOICES = ("auto",) + HEAD_POLICIES

#: defaults of the INT8 :class:`ConvertOptions` fields that are None when not given: :func:`check_options` refuses
#: one given where it does not apply (even at its default value), then fills these in (:func:`with_int8_defaults`)
INT8_DEFAULTS = {"calib_size": 300, "calib_seed": 1, "int8_heads": "auto", "preset": QuantizeOptions.preset,
                 "activation_ranges": QuantizeOptions.activation_ranges, "model_type": QuantizeOptions.model_type,
                 "min_peak_f1": 0.9, "max_drop": 0.01}


@dataclass
class ConvertOptions:
    """What ``python -m convert`` does; see ``--help`` for each option. Sizes are input pixels."""

    output_dir: Path
    checkpoint: Path | None = None
    onnx: Path | None = None
    name: str | None = None
    precisions: tuple[str, ...] = ("FP32", "FP16")
    height: int | None = None
    width: int | None = None
    #: dynamic H and W asked for explicitly (``--dynamic``): an error where they cannot be (a static ONNX input);
    #: False: dynamic unless ``height``/``width`` or the ONNX file fix the size
    dynamic: bool = False
    #: refinement stages loaded from the checkpoint: the first N (None: every stage the file holds)
    num_refinement_stages: int | None = None
    allow_unsafe_checkpoint: bool = False
    all_stages: bool = False
    #: ONNX opset of the export from a checkpoint (None: :data:`convert.onnx_export.DEFAULT_OPSET`)
    opset: int | None = None
    calib_images: Path | None = None
    calib_coco: Path | None = None
    calib_synthetic: int | None = None
    #: this and the other fields of :data:`INT8_DEFAULTS`: None when not given (the default)
    calib_size: int | None = None
    calib_seed: int | None = None
    calib_height: int | None = None
    int8_heads: str | None = None
    preset: str | None = None
    activation_ranges: str | None = None
    fast_bias_correction: bool = QuantizeOptions.fast_bias_correction
    model_type: str | None = None
    ignored: tuple[str, ...] = ()
    #: keep the CPM's last convolution in float (:func:`convert.quantize.cpm_output_convolution`); None: not given,
    #: the default (:attr:`float_cpm`)
    int8_float_cpm: bool | None = None
    #: the INT8 budget without a validation set (None: not given)
    min_peak_f1: float | None = None
    accuracy_control: bool = False
    #: the INT8 budget with a validation set (None: not given)
    max_drop: float | None = None
    val_ann: Path | None = None
    val_images: Path | None = None
    val_size: int | None = None
    verify_images: Path | None = None
    verify_count: int = 8
    bench_seconds: float = 2.0
    progress: bool = True

    @property
    def float_cpm(self) -> bool:
        """Whether INT8 keeps the CPM's last convolution in float: ``int8_float_cpm``, else QuantizeOptions' default."""
        return QuantizeOptions.float_cpm if self.int8_float_cpm is None else self.int8_float_cpm

    @property
    def static(self) -> bool:
        return self.height is not None

    @property
    def sample_height(self) -> int:
        """Input height of calibration/validation/verification samples: the IR's static height, else
        ``calib_height``, else the live height (256)."""
        return self.height or self.calib_height or INPUT_HEIGHT_LIVE


#: ConvertOptions fields that are file or folder paths (the API accepts ``str`` for them too)
PATH_FIELDS = ("output_dir", "checkpoint", "onnx", "calib_images", "calib_coco", "val_ann", "val_images",
               "verify_images")


def check_options(opt: ConvertOptions) -> ConvertOptions:
    """Reject inconsistent options before any work is done; returns them with ``name``, a checkpoint's ``opset`` and
    the :data:`INT8_DEFAULTS` it uses filled in, and every :data:`PATH_FIELDS` entry given as a ``str`` turned into a
    :class:`~pathlib.Path`. An option given where it does not apply is an error, even at its default value."""
    opt = replace(opt, **{f: Path(getattr(opt, f)) for f in PATH_FIELDS if getattr(opt, f) is not None})
    if (opt.checkpoint is None) == (opt.onnx is None):
        raise ConversionError("give exactly one source: --checkpoint FILE or --onnx FILE")
    source = Path(opt.checkpoint or opt.onnx)
    what = "checkpoint" if opt.checkpoint else "ONNX file"
    problem = input_file_problem(source, f"a {what}")
    if problem:
        raise ConversionError(f"{what} {source}: {problem}")
    if (opt.height is None) != (opt.width is None):
        raise ConversionError("give both --height and --width for a static input, or neither (dynamic)")
    if opt.dynamic and opt.static:
        raise ConversionError("give either --dynamic or --height / --width, not both")
    if opt.onnx is not None:
        opt = _fit_onnx_size(opt, source)
    bad = [p for p in opt.precisions if p not in PRECISIONS]
    if bad or not opt.precisions:
        raise ConversionError(f"unknown precision(s) {bad}; choose from {', '.join(PRECISIONS)}")
    for flag, size in (("--height", opt.height), ("--width", opt.width)):
        if size is not None:
            check_input_side(size, flag, ConversionError)
    if Path(opt.output_dir).exists() and not Path(opt.output_dir).is_dir():
        raise ConversionError(f"--output-dir {opt.output_dir} exists and is not a folder")
    existing = next((p for p in Path(opt.output_dir).absolute().parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConversionError(f"--output-dir {opt.output_dir}: {existing} is a file, not a folder")
    if opt.name is not None and (not opt.name or opt.name in (".", "..") or any(c in opt.name for c in "/\\")
                                 or opt.name.startswith(".")):
        raise ConversionError(f"--name {opt.name!r} must be a plain file name (no folder, not hidden), e.g. lwpose")
    if opt.onnx is not None:
        given = [flag for flag, on in (("--num-refinement-stages", opt.num_refinement_stages is not None),
                                       ("--all-stages", opt.all_stages), ("--opset", opt.opset is not None),
                                       ("--allow-unsafe-checkpoint", opt.allow_unsafe_checkpoint)) if on]
        if given:
            raise ConversionError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to --checkpoint "
                                  "sources only; an ONNX file is converted as it is")
    if opt.num_refinement_stages is not None and opt.num_refinement_stages < 0:
        raise ConversionError(f"--num-refinement-stages must be 0 or more, got {opt.num_refinement_stages}")
    if opt.opset is not None and not MIN_OPSET <= opt.opset <= MAX_OPSET:
        raise ConversionError(f"--opset {opt.opset} is not supported: use {MIN_OPSET} to {MAX_OPSET}")
    for flag, value in (("--verify-count", opt.verify_count), ("--val-size", opt.val_size)):
        if value is not None and value < 1:
            raise ConversionError(f"{flag} must be at least 1, got {value}")
    if not (math.isfinite(opt.bench_seconds) and opt.bench_seconds >= 0):
        raise ConversionError(f"--bench-seconds must be 0 (skip) or a finite number of seconds, got "
                              f"{opt.bench_seconds}")
    if opt.calib_seed is not None and opt.calib_seed < 0:
        raise ConversionError(f"--calib-seed must be 0 or more, got {opt.calib_seed}")
    if opt.calib_synthetic is not None and opt.calib_synthetic < 1:
        raise ConversionError(f"--calib-synthetic must be >= 1 images, got {opt.calib_synthetic}")
    if opt.int8_heads not in (None,) + HEAD_CHOICES:
        raise ConversionError(f"unknown --int8-heads {opt.int8_heads!r}; choose from {', '.join(HEAD_CHOICES)}")
    sources = [name for name, given in (("--calib-images", opt.calib_images is not None and opt.calib_coco is None),
                                        ("--calib-coco", opt.calib_coco is not None),
                                        ("--calib-synthetic", opt.calib_synthetic is not None)) if given]
    int8_only = sources + [f"--{f.replace('_', '-')}" for f in INT8_DEFAULTS if getattr(opt, f) is not None] + (
        ["--int8-float-cpm" if opt.int8_float_cpm else "--no-int8-float-cpm"] if opt.int8_float_cpm is not None
        else []) + (["--ignore"] if opt.ignored else []) + (
        ["--fast-bias-correction"] if opt.fast_bias_correction != QuantizeOptions.fast_bias_correction else [])
    if "INT8" not in opt.precisions and int8_only:
        raise ConversionError(f"{', '.join(int8_only)} only appl{'ies' if len(int8_only) == 1 else 'y'} to INT8: "
                              "add INT8 to --precision")
    if "INT8" in opt.precisions:
        if len(sources) != 1:
            raise ConversionError("INT8 needs one calibration source: --calib-images DIR, "
                                  "--calib-coco ANN --calib-images DIR, or --calib-synthetic N")
        if opt.calib_coco and not opt.calib_images:
            raise ConversionError("--calib-coco needs --calib-images (the folder of its images)")
        if opt.calib_size is not None and opt.calib_size < 1:
            raise ConversionError(f"--calib-size must be >= 1, got {opt.calib_size}")
    if opt.calib_height is not None:
        check_input_side(opt.calib_height, "--calib-height", ConversionError)
    if opt.static and opt.calib_height not in (None, opt.height):
        raise ConversionError("--calib-height is for dynamic IRs; a static IR is calibrated at its --height")
    if (opt.val_ann is None) != (opt.val_images is None):
        raise ConversionError("give both --val-ann and --val-images, or neither")
    if opt.val_size is not None and opt.val_ann is None:
        raise ConversionError("--val-size applies to a validation set: add --val-ann and --val-images")
    if opt.accuracy_control and ("INT8" not in opt.precisions or opt.val_ann is None):
        raise ConversionError("--accuracy-control needs --precision INT8 and a validation set "
                              "(--val-ann, --val-images)")
    if opt.max_drop is not None and opt.val_ann is None:
        raise ConversionError("--max-drop is the AP budget: it needs a validation set (--val-ann, --val-images); "
                              "without one the INT8 budget is --min-peak-f1")
    if opt.min_peak_f1 is not None and opt.val_ann is not None:
        raise ConversionError("--min-peak-f1 is the budget without a validation set: with one the INT8 budget is the "
                              "AP drop, --max-drop")
    if opt.min_peak_f1 is not None and not 0 <= opt.min_peak_f1 <= 1:
        raise ConversionError(f"--min-peak-f1 is a keypoint-peak F1 in [0, 1], got {opt.min_peak_f1}")
    if opt.max_drop is not None and not 0 < opt.max_drop < 1:
        raise ConversionError(f"--max-drop is an absolute AP drop in (0, 1), got {opt.max_drop}")
    name = opt.name or source.stem
    return with_int8_defaults(replace(opt, name=name, opset=opt.opset or (DEFAULT_OPSET if opt.checkpoint else None)))


def int8_fields_used(opt: ConvertOptions) -> set[str]:
    """The :data:`INT8_DEFAULTS` fields a conversion with ``opt`` uses: none without INT8; of the two budgets,
    ``max_drop`` (AP drop) with a validation set, ``min_peak_f1`` without one."""
    if "INT8" not in opt.precisions:
        return set()
    return set(INT8_DEFAULTS) - {"min_peak_f1" if opt.val_ann is not None else "max_drop"}


def with_int8_defaults(opt: ConvertOptions) -> ConvertOptions:
    """``opt`` with each :data:`INT8_DEFAULTS` field it uses (:func:`int8_fields_used`) that is None (not given) set
    to its default; the others stay None, so that checked options pass :func:`check_options` again."""
    return replace(opt, **{f: INT8_DEFAULTS[f] for f in int8_fields_used(opt) if getattr(opt, f) is None})


def onnx_input_sides(path: Path) -> tuple[int | None, int | None] | None:
    """``(height, width)`` of an ONNX file's NCHW image input, each a fixed number or None (dynamic); None for an input
    that is not ``[1, 3, H, W]`` or a file the ONNX library cannot read (:func:`convert.ir.read_onnx` reports those
    later)."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # noqa: BLE001 - not an ONNX file: read_onnx names the problem
        return None
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        return None
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4 or dims[0].dim_value not in (0, 1) or dims[1].dim_value not in (0, 3):
        return None  # not an NCHW [1, 3, H, W] input: read_onnx names the problem
    return tuple(int(d.dim_value) if d.HasField("dim_value") else None for d in dims[2:])


def _fit_onnx_size(opt: ConvertOptions, source: Path) -> ConvertOptions:
    """``opt`` with the static size of ONNX file ``source`` when its input fixes both sides (e.g. the original repo's
    1x3x256x456) and no size is given; :class:`ConversionError` when a side the file fixes contradicts ``opt``
    (``--dynamic``, another ``--height`` / ``--width``, or no size for a file that fixes one side only)."""
    sides = onnx_input_sides(source)
    if sides is None or sides == (None, None):
        return opt
    for what, side in zip(("height", "width"), sides):  # no IR can be made at a size of another stride
        if side is not None:
            check_input_side(side, f"{source}: the fixed input {what}", ConversionError)
    shown = "x".join("?" if side is None else str(side) for side in sides)
    if None in sides:  # e.g. a fixed height and a dynamic width: static IRs of that height
        kind = "partly static"
        given, free = ("--height", "--width") if sides[0] is not None else ("--width", "--height")
        fix = f"give {given} {sides[0] or sides[1]} and {free} N"
    else:
        kind, fix = "static", f"omit {'it' if opt.dynamic else 'them'}"
    if opt.dynamic or (opt.static and any(side not in (None, given)
                                          for side, given in zip(sides, (opt.height, opt.width)))):
        asked = "--dynamic" if opt.dynamic else f"--height {opt.height} --width {opt.width}"
        other = "a dynamic input" if opt.dynamic else "another size"
        raise ConversionError(f"{source} has a {kind} {shown} input: {asked} cannot apply ({fix}, or convert the "
                              f"checkpoint / a dynamic ONNX for {other})")
    if opt.static:
        return opt
    if None in sides:
        raise ConversionError(f"{source} has a {kind} {shown} input: its IRs are static; {fix} (or convert the "
                              "checkpoint / a dynamic ONNX for a dynamic input)")
    log.warning("%s has a static %s input: the IRs are static at that size (export a dynamic ONNX, or convert the "
                "checkpoint, for IRs of any size)", source, shown)
    return replace(opt, height=sides[0], width=sides[1])


def _calibration_items(opt: ConvertOptions, scratch: Path):
    if opt.calib_synthetic:
        ann, images = synthetic_dataset(scratch / "calib-synthetic", opt.calib_synthetic, seed=opt.calib_seed,
                                        progress=opt.progress)
        return coco_images(ann, images)
    if opt.calib_coco:
        return coco_images(opt.calib_coco, opt.calib_images)
    return folder_images(opt.calib_images)


def _verify_inputs(opt: ConvertOptions, validation: SampleSet | None, calibration: SampleSet | None):
    """Real images for the fidelity checks: --verify-images, else validation, else calibration images."""
    width = opt.width
    if opt.verify_images:
        found = load_samples(folder_images(opt.verify_images), height=opt.sample_height, width=width,
                             limit=opt.verify_count, progress=False, what="verification")
        return found.inputs(), str(opt.verify_images)
    for name, found in (("validation", validation), ("calibration", calibration)):
        if found is not None:
            inputs = found.inputs()[:opt.verify_count]
            if opt.static:  # letterboxed at each image's own width, as the runtime runs them: refit to the IR's size
                inputs = [letterbox(x[0], opt.height, opt.width)[0][None] for x in inputs]
            return inputs, f"{name} images"
    raise ConversionError("no real images to verify on: give --verify-images DIR (or a calibration/validation set)")


def _runtime_ap(model, config: dict | None, validation: SampleSet, gt) -> float:
    """COCO AP of IR ``model`` compiled with ``config`` on the validation samples, run as the runtime runs it: a static
    IR reshaped to each image's own letterbox size (:func:`convert.ir.reshaped`), not padded to its width."""
    return coco_ap(compile_model(reshaped(model), config), validation.samples, gt)


def _quantize(opt, fp32_model, calibration, validation, gt, reference, verify_inputs, fp32_ap, report):
    """INT8 model per ``opt.int8_heads`` (auto: first policy within budget), plus the candidates' figures."""
    options = QuantizeOptions(heads="int8", preset=opt.preset, model_type=opt.model_type, ignored=opt.ignored,
                              float_cpm=opt.float_cpm, activation_ranges=opt.activation_ranges,
                              fast_bias_correction=opt.fast_bias_correction)
    settings = {"preset": options.preset, "model_type": options.model_type, "float_cpm": options.float_cpm,
                "activation_ranges": options.ranges, "ignored": list(options.ignored),
                "bias_correction": "fast" if options.fast_bias_correction else "full"}
    if opt.accuracy_control:
        heads = "int8" if opt.int8_heads == "auto" else opt.int8_heads
        options = replace(options, heads=heads)

        def validate(compiled, items):
            return coco_ap(compiled, list(items), gt), None

        model = quantize_with_accuracy_control(
            fp32_model, calibration.inputs(), validation.samples, validate, max_drop=opt.max_drop, options=options,
            to_input=lambda sample: sample.input)
        report["int8"] = {"method": "accuracy_control", "heads": heads, **settings, "max_drop": opt.max_drop}
        return model
    policies = HEAD_POLICIES if opt.int8_heads == "auto" else (opt.int8_heads,)
    candidates, chosen = [], None
    for heads in policies:
        model = quantize_int8(fp32_model, calibration.inputs(), replace(options, heads=heads))
        compiled = compile_model(model)
        agree = agreement(reference, infer_finite(compiled, verify_inputs, f"the INT8 IR (heads={heads})"))
        entry = {"heads": heads, **agree.as_dict()}
        if gt is not None:
            entry["AP"] = coco_ap(compiled, validation.samples, gt)
            entry["AP_drop"] = fp32_ap - entry["AP"]
            ok = entry["AP_drop"] <= opt.max_drop
        else:
            ok = agree.peak_f1 >= opt.min_peak_f1
        entry["within_budget"] = bool(ok)
        candidates.append((entry, model))
        log.info("INT8 heads=%s: peak F1 %.3f%s -> %s", heads, agree.peak_f1,
                 f", AP drop {entry['AP_drop']:+.4f}" if gt is not None else "", "accepted" if ok else "rejected")
        if ok:
            chosen = (entry, model)
            break
    if chosen is None:
        key = (lambda c: c[0]["AP"]) if gt is not None else (lambda c: c[0]["peak_f1"])
        chosen = max(candidates, key=key)
        if opt.int8_heads == "auto":
            log.warning("no INT8 head policy met the budget; keeping the best one (heads=%s)", chosen[0]["heads"])
    report["int8"] = {"method": "quantize", "heads": chosen[0]["heads"], **settings, "selection": opt.int8_heads,
                      "criterion": f"AP drop <= {opt.max_drop}" if gt is not None else f"peak F1 >= {opt.min_peak_f1}",
                      "candidates": [c[0] for c in candidates]}
    return chosen[1]


def install_outputs(staging: Path, out: Path, name: str, keep: Path | None = None) -> None:
    """Move a finished conversion of model ``name`` from ``staging`` into ``out``, all or nothing.

    Other models' files in ``out`` are kept. Files of *this* model that the new conversion did not produce (the
    INT8 IR of an earlier run that asked for INT8, an ONNX file when converting from ONNX) are removed, so that
    ``out`` never mixes IRs of two different sources under one name; ``report.json`` describes the last run.
    ``keep``: a file never removed (the conversion's source, when it lies in ``out``). The files replaced or removed
    are first moved aside, into a backup folder (:data:`BACKUP_NAME`) with the install's plan (:data:`PLAN_FILE`):
    when a move fails (a folder where a file goes, a full disk) they are put back, the new ones taken out, and ``out``
    is as it was; after ``kill -9`` the next conversion into ``out`` does that (:func:`recover_killed_installs`).
    """
    out.mkdir(parents=True, exist_ok=True)
    produced = sorted((path.relative_to(staging) for path in staging.rglob("*") if path.is_file()),
                      key=lambda r: (r.suffix == ".xml", r.name == "report.json", str(r)))  # .bin, .xml, report
    blocked = [out / rel for rel in produced if (out / rel).is_dir()] + [
        out / rel.parents[-2] for rel in produced if len(rel.parts) > 1 and (out / rel.parents[-2]).is_file()]
    if blocked:
        raise ConversionError(f"cannot write into {out}: {blocked[0]} is in the way (a "
                              f"{'folder' if blocked[0].is_dir() else 'file'} where the conversion writes the "
                              "other kind); nothing was changed")
    stale = [out / folder / f"{name}{suffix}" for folder in PRECISIONS for suffix in (".xml", ".bin")]
    stale.append(out / f"{name}.onnx")
    keep = keep.resolve() if keep is not None else None
    aside = [path for path in stale if path.is_file() and path.relative_to(out) not in produced
             and path.resolve() != keep]
    aside += [out / rel for rel in produced if (out / rel).is_file()]
    backup = Path(tempfile.mkdtemp(prefix=f".{name}.replaced-{owner()}-", dir=out))
    plan = {"staging": str(staging.absolute()), "produced": [str(rel) for rel in produced],
            "new_folders": sorted({str(rel.parent) for rel in produced if not (out / rel.parent).exists()})}
    try:
        write_text_atomic(backup / PLAN_FILE, json.dumps(plan))
        for path in aside:
            saved = backup / path.relative_to(out)
            saved.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, saved)
        for rel in produced:
            move_into_place(staging / rel, out / rel)
    except BaseException as exc:  # a failed move, or Ctrl+C / SIGTERM between two moves: put everything back
        roll_back_install(out, backup, plan)
        _discard_backup(backup)
        if isinstance(exc, OSError):
            raise ConversionError(f"cannot write into {out}: {exc}; nothing was changed") from exc
        raise
    _discard_backup(backup)
    for path in aside:
        if path.relative_to(out) not in produced:
            log.info("removed %s: an earlier conversion's file that this run did not replace", path)
            if path.parent != out:
                with contextlib.suppress(OSError):  # its precision folder, when that left it empty
                    path.parent.rmdir()


#: a backup folder's name: ``.<name>.replaced-<pid>@<host>-<random>``, the install (:func:`install_outputs`) that
#: moved ``out``'s files aside into it, each at its path relative to ``out``
BACKUP_NAME = re.compile(r"\..+\.replaced-" + OWNER_PATTERN + r"-\w+")
#: in a backup folder, the install's plan (JSON): ``staging`` (its staging folder), ``produced`` (the files it moves
#: from there into ``out``) and ``new_folders`` (those it makes for them); there while the install is unfinished
PLAN_FILE = ".plan.json"


def roll_back_install(out: Path, backup: Path, plan: dict) -> None:
    """Undo an unfinished install into ``out`` with backup folder ``backup``: the new files back into the staging
    folder, the files moved aside back into ``out``, the folders made for the new files removed when empty. Safe to
    repeat after being interrupted: a new file is either in ``out`` or in the staging folder, a replaced one either
    in the backup folder or back in ``out``."""
    staging = Path(plan["staging"])
    for rel in plan["produced"]:
        if (out / rel).is_file() and not (staging / rel).exists():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(out / rel, staging / rel)
    for saved in sorted(path for path in backup.rglob("*") if path.is_file() and path.name != PLAN_FILE):
        (out / saved.relative_to(backup)).parent.mkdir(parents=True, exist_ok=True)
        os.replace(saved, out / saved.relative_to(backup))
    for folder in sorted(plan["new_folders"], reverse=True):  # FP16/ and the like
        with contextlib.suppress(OSError):
            (out / folder).rmdir()


def _discard_backup(backup: Path) -> None:
    """Remove a backup folder whose install is finished or undone: its plan first, so that an interrupted removal
    is not taken for an unfinished install."""
    (backup / PLAN_FILE).unlink(missing_ok=True)
    shutil.rmtree(backup, ignore_errors=True)


def recover_killed_installs(out: Path) -> None:
    """Put ``out`` back as it was before each install that ``kill -9`` or a power cut interrupted, so that it never
    stays part old, part new: the backup folders (:data:`BACKUP_NAME`) in ``out`` of dead processes of this machine
    (:func:`convert.leftovers.dead_runs`). One with a plan is rolled back (:func:`roll_back_install`) then removed;
    one without (killed before moving anything, or after all its moves) is removed. A running conversion's backup,
    and another machine's, are kept."""
    for backup, pid in dead_runs(out, BACKUP_NAME):
        plan_file = backup / PLAN_FILE
        if plan_file.is_file():
            roll_back_install(out, backup, json.loads(plan_file.read_text()))
            log.warning("put back the files of %s that a conversion killed while installing its own had replaced "
                        "(process %s)", out, pid)
        _discard_backup(backup)


def run_conversion(opt: ConvertOptions) -> dict:
    """Convert, verify and write ``opt.output_dir``; returns the report (also written as ``report.json``).

    Raises :class:`ConversionError` for bad input and :class:`VerificationError` when the FP32 IR or the ONNX
    file differs from PyTorch by more than :data:`convert.verify.FP32_TOLERANCE`; nothing is written then.
    """
    opt = check_options(opt)
    out = opt.output_dir
    created: list[Path] = []
    staging = scratch = None
    installed = False
    try:  # the folders are made inside: Ctrl+C / SIGTERM just after one was made still removes it
        try:  # staged inside the output folder: the same file system as the files it replaces (a mount point too)
            created = make_folders(out)
            recover_killed_installs(out)  # before removing the staging folders: they hold the new files it takes out
            remove_stale_staging(out)
            staging = Path(tempfile.mkdtemp(prefix=f".{opt.name}.staging-{owner()}-", dir=out))
        except OSError as exc:
            raise ConversionError(f"cannot write --output-dir {out}: {exc.strerror or exc}") from exc
        scratch = make_scratch()
        report = _convert(opt, staging, scratch)
        (staging / "report.json").write_text(dumps_strict(report, indent=2))
        install_outputs(staging, out, opt.name, keep=opt.onnx)
        installed = True
        log.info("wrote %s", out)
        return report
    finally:
        for folder in (staging, scratch):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        if not installed:  # the folders this run created for its output, when they stayed empty
            remove_empty_folders(created)


#: a staging folder's name: ``.<name>.staging-<pid>@<host>-<random>``, the conversion that made it
STAGING_NAME = re.compile(r"\..+\.staging-" + OWNER_PATTERN + r"-\w+")
#: start of a scratch folder's name in the temporary folder (``tempfile.gettempdir()``)
SCRATCH_PREFIX = "lwpose-convert-"
#: a scratch folder's name: ``lwpose-convert-<pid>@<host>-<random>``, the conversion that made it
SCRATCH_NAME = re.compile(re.escape(SCRATCH_PREFIX) + OWNER_PATTERN + r"-\w+")


def remove_stale_staging(out: Path) -> None:
    """Remove the staging folders in ``out`` of conversions that died without cleaning up (``kill -9``, a power
    cut): those made on this machine by a process that no longer exists. A running conversion's, and those of
    another machine sharing the folder (whose processes cannot be seen from here), are kept."""
    remove_dead_runs(out, STAGING_NAME, "staging")


def remove_stale_scratch() -> None:
    """Remove the scratch folders (:data:`SCRATCH_NAME`) in the temporary folder of conversions that died without
    cleaning up, as :func:`remove_stale_staging` does for staging folders; other programs' folders are not touched."""
    with contextlib.suppress(OSError):  # an unlistable temporary folder: mkdtemp reports it
        remove_dead_runs(Path(tempfile.gettempdir()), SCRATCH_NAME, "scratch")


def make_scratch() -> Path:
    """A new scratch folder (:data:`SCRATCH_NAME`) in the temporary folder, after :func:`remove_stale_scratch`;
    :class:`ConversionError` naming the temporary folder when none can be made there (a ``TMPDIR`` that is a file or
    a missing folder, a full disk)."""
    remove_stale_scratch()
    where = ""
    try:
        where = tempfile.gettempdir()  # OSError when no candidate (TMPDIR, /tmp, ...) is usable: the message lists them
        return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{owner()}-", dir=where))
    except OSError as exc:
        raise ConversionError(f"cannot make a scratch folder in the temporary folder {where}: {exc.strerror or exc}; "
                              "point TMPDIR at a writable folder") from exc


def _convert(opt: ConvertOptions, staging: Path, scratch: Path) -> dict:
    from convert.checkpoint import load_network
    from convert.onnx_export import export_onnx
    from ov_inference.coco import coco_ground_truth

    # The checkpoint, then the data: a bad source or bad calibration/validation input fails before the slow steps.
    network = None
    if opt.checkpoint:
        network = load_network(opt.checkpoint, opt.num_refinement_stages, allow_unsafe=opt.allow_unsafe_checkpoint)
    gt = validation = calibration = None
    if opt.val_ann:
        # every image of the file, people or not: detections on an empty image are false positives, as in COCO
        validation = load_samples(coco_images(opt.val_ann, opt.val_images, with_people=False),
                                  height=opt.sample_height, limit=opt.val_size,
                                  progress=opt.progress, what="validation")
        gt = coco_ground_truth(opt.val_ann)
        _check_validation_people(opt, validation, gt.dataset)
    if "INT8" in opt.precisions:
        calibration = load_samples(_calibration_items(opt, scratch), height=opt.sample_height,
                                   limit=opt.calib_size, seed=opt.calib_seed, progress=opt.progress)
    verify_inputs, verify_source = _verify_inputs(opt, validation, calibration) if (
        opt.verify_images or validation or calibration) else (None, None)

    report: dict = {"name": opt.name, "input": "dynamic" if not opt.static else [1, opt.height, opt.width, 3],
                    "outputs": {}}
    if network is not None:
        onnx_path = export_onnx(network, staging / f"{opt.name}.onnx", height=opt.height, width=opt.width,
                                all_stages=opt.all_stages, opset=opt.opset)
        report["outputs"]["ONNX"] = f"{opt.name}.onnx"
        extra = {"num_refinement_stages": str(network.num_refinement_stages)}
    else:
        onnx_path = opt.onnx
        extra = {}
    source = Path(opt.checkpoint or opt.onnx)
    report["source"] = {"path": str(source), "sha256": sha256_file(source), "kind": "checkpoint" if network else "onnx"}
    fp32 = build_ir(onnx_path, height=opt.height, width=opt.width, source_sha256=report["source"]["sha256"],
                    source_name=source.name, **extra)
    _check_ignored_names(fp32, opt.ignored)

    if verify_inputs is None:
        verify_inputs, verify_source = _noise_inputs(opt), "seeded noise (no real images given)"
        log.warning("no real images given: verifying on seeded noise; pass --verify-images DIR for a real check")
    report["fidelity"], ir_f32 = _check_fidelity(fp32, onnx_path, network, verify_inputs, verify_source)

    models = {}
    if "FP32" in opt.precisions:
        models["FP32"] = fp32
    fp32_ap = None
    if gt is not None:
        fp32_ap = _runtime_ap(fp32, F32_CONFIG, validation, gt)
    if "FP16" in opt.precisions:
        fp16 = fp32.clone()
        fp16.set_rt_info("FP16", [RT_INFO_SECTION, "precision"])
        path = save_ir(fp16, staging / "FP16" / f"{opt.name}.xml", "FP16")
        models["FP16"] = _read(path)
        fp16_maps = infer_finite(compile_model(models["FP16"], F32_CONFIG), verify_inputs, "the FP16 IR")
        report["fidelity"]["fp16_vs_fp32"] = max_abs_diff(fp16_maps, ir_f32)
    if "INT8" in opt.precisions:
        int8 = _quantize(opt, reshaped(fp32), calibration, validation, gt, ir_f32, verify_inputs, fp32_ap, report)
        if opt.static:  # quantized as the runtime reshapes it, written at its static size
            int8 = reshaped(int8, opt.height, opt.width)
        int8.set_rt_info("INT8", [RT_INFO_SECTION, "precision"])
        models["INT8"] = int8
        int8_maps = infer_finite(compile_model(int8), verify_inputs, "the INT8 IR")
        report["int8"]["agreement"] = agreement(ir_f32, int8_maps).as_dict()
        report["int8"]["calibration"] = calibration_details(opt, calibration)
        report["int8"]["float_convolutions"] = float_convolutions(int8)
        for key, value in int8_rt_info(report["int8"]).items():
            int8.set_rt_info(value, [RT_INFO_SECTION, key])
    for precision, model in models.items():
        if precision != "FP16":
            save_ir(model, staging / precision / f"{opt.name}.xml", precision)
        report["outputs"][precision] = f"{precision}/{opt.name}.xml"

    if gt is not None:
        report["ap"] = {"images": len(validation.samples), "FP32": fp32_ap}
        for precision in ("FP16", "INT8"):
            if precision in models:
                config = F32_CONFIG if precision == "FP16" else None
                report["ap"][precision] = _runtime_ap(models[precision], config, validation, gt)
    if "INT8" in models:
        report["int8"].update(_int8_verdict(opt, report))
    if opt.bench_seconds > 0:
        report["speed"] = _speeds(models, fp32, opt.bench_seconds)
    return report


#: the INT8 settings of the report (``report["int8"]``) that the INT8 IR's rt_info repeats as ``int8_<setting>``
INT8_RT_INFO = ("method", "heads", "preset", "model_type", "float_cpm", "activation_ranges", "bias_correction",
                "ignored", "max_drop")


def calibration_source(opt: ConvertOptions) -> str:
    """The calibration source of ``opt`` as the options that give it, e.g. ``--calib-synthetic 300``."""
    if opt.calib_synthetic:
        return f"--calib-synthetic {opt.calib_synthetic}"
    if opt.calib_coco:
        return f"--calib-coco {opt.calib_coco} --calib-images {opt.calib_images}"
    return f"--calib-images {opt.calib_images}"


def calibration_details(opt: ConvertOptions, calibration: SampleSet) -> dict:
    """The report's ``int8.calibration``: the images used and skipped, the source, the subset's limit
    (``--calib-size``) and seed, and the input height they were letterboxed to: enough to repeat the calibration."""
    return {"images": len(calibration.samples), "skipped": len(calibration.skipped),
            "source": calibration_source(opt), "limit": opt.calib_size, "seed": opt.calib_seed,
            "height": opt.sample_height}


def int8_rt_info(int8: dict) -> dict[str, str]:
    """The INT8 IR's own rt_info fields (strings) from its report entry ``int8``: each :data:`INT8_RT_INFO` setting it
    has as ``int8_<setting>``, ``int8_float_convolutions`` (how many) and ``int8_calibration`` (one line), so that
    the IR says how it was quantized without its report."""
    fields = {f"int8_{key}": ",".join(value) if isinstance(value, list) else str(value)
              for key, value in int8.items() if key in INT8_RT_INFO}
    fields["int8_float_convolutions"] = str(len(int8["float_convolutions"]))
    fields["int8_calibration"] = calibration_text(int8["calibration"])
    return fields


def _check_validation_people(opt: ConvertOptions, validation: SampleSet, dataset: dict) -> None:
    """COCO AP needs annotated people (:func:`convert.calibration.people_image_ids`) among the validation images
    used: without any it is 0 (or pycocotools' -1) whatever the model does, and every INT8 AP budget looks met.
    ``dataset``: the validation annotations as read (the ground truth's dataset dict)."""
    people = people_image_ids(dataset)
    if not people & {s.image_id for s in validation.samples}:
        raise ConversionError(f"no annotated person in the {len(validation.samples)} validation images used "
                              f"({opt.val_ann}): COCO AP cannot be measured on them"
                              + (" (a larger --val-size?)" if people and opt.val_size else ""))


def _check_ignored_names(model, names: tuple[str, ...]) -> None:
    """``--ignore`` names must be operations of the IR (NNCF would fail on them only after calibration)."""
    if not names:
        return
    known = {op.get_friendly_name() for op in model.get_ops()}
    missing = [name for name in names if name not in known]
    if missing:
        convs = sorted(op.get_friendly_name() for op in model.get_ops()
                       if op.get_type_name() in ("Convolution", "GroupConvolution"))
        raise ConversionError(f"--ignore {', '.join(missing)}: no such operation in the IR; its {len(convs)} "
                              f"convolutions are named like {', '.join(convs[-3:])} (the names of an FP32 IR's "
                              "operations: openvino.Core().read_model(xml).get_ops())")


def _int8_verdict(opt: ConvertOptions, report: dict) -> dict:
    """Whether the written INT8 IR is within the accuracy budget: the AP drop on the validation set when there is
    one (``--max-drop``), else the keypoint-peak F1 against FP32 on the verification images (``--min-peak-f1``)."""
    if "ap" in report:
        if report["ap"]["FP32"] <= 0:  # nothing to lose: a drop of 0 whatever INT8 does
            log.warning("the FP32 IR scores AP %s on the %d validation images: the INT8 AP-drop budget is met "
                        "without a test; validate a model that detects people there", report["ap"]["FP32"],
                        report["ap"]["images"])
        drop = report["ap"]["FP32"] - report["ap"]["INT8"]
        return {"ap_drop": drop, "within_budget": bool(drop <= opt.max_drop),
                "budget": f"AP drop <= {opt.max_drop}"}
    agree = report["int8"]["agreement"]
    if agree["reference_peaks"] == 0:  # F1 is 1.0 when neither side has a peak: INT8 was not put to the test
        log.warning("the FP32 IR finds no keypoint peak on the %d verification images (%s): the INT8 peak-F1 budget "
                    "is met without a test; verify on images with people (--verify-images DIR) or give a validation "
                    "set (--val-ann, --val-images)", report["fidelity"]["count"], report["fidelity"]["images"])
    return {"within_budget": bool(agree["peak_f1"] >= opt.min_peak_f1), "budget": f"peak F1 >= {opt.min_peak_f1}"}


def float_convolutions(model) -> list[str]:
    """Names of the (group) convolutions of a quantized model that run in float: their data input does not come
    from a FakeQuantize (looking through layout-only operations such as Concat and Transpose)."""
    passthrough = {"Concat", "Transpose", "Reshape", "Pad", "MaxPool", "Split", "VariadicSplit", "StridedSlice"}

    def quantized(node) -> bool:
        kind = node.get_type_name()
        if kind == "FakeQuantize":
            return True
        if kind not in passthrough:
            return False
        data = [node.input_value(0).get_node()] if kind != "Concat" else \
            [node.input_value(i).get_node() for i in range(node.get_input_size())]
        return all(quantized(d) for d in data)

    return [op.get_friendly_name() for op in model.get_ops()
            if op.get_type_name() in ("Convolution", "GroupConvolution")
            and not quantized(op.input_value(0).get_node())]


def _check_fidelity(fp32, onnx_path, network, inputs, source: str):
    """PyTorch vs ONNX vs IR FP32 (f32 execution) on ``inputs``; raises :class:`VerificationError` above tolerance.

    Returns the fidelity figures and the IR FP32 maps (the reference for FP16 and INT8).
    """
    fidelity = {"images": source, "count": len(inputs), "tolerance": FP32_TOLERANCE, "execution_precision": "f32"}
    ir_f32 = infer_ir(compile_model(fp32, F32_CONFIG), inputs)
    _check_stride(inputs, ir_f32)
    onnx_maps = infer_onnx(compile_model(_onnx_model(onnx_path), F32_CONFIG), inputs)
    fidelity["onnx_vs_ir_fp32"] = max_abs_diff(onnx_maps, ir_f32)
    if network is not None:
        torch_maps = infer_torch(network, inputs)
        fidelity["torch_vs_onnx"] = max_abs_diff(torch_maps, onnx_maps)
        fidelity["torch_vs_ir_fp32"] = max_abs_diff(torch_maps, ir_f32)
    diffs = {k: v for k, v in fidelity.items() if "_vs_" in k}
    listed = ", ".join(f"{k} {v:.3g}" for k, v in diffs.items())
    if not all(math.isfinite(v) for v in diffs.values()):
        raise VerificationError(f"FP32 conversion cannot be verified: NaN or infinite outputs ({listed}); the "
                                "checkpoint's weights may hold NaN (a diverged training run?); nothing was written")
    worst = max(diffs.values())
    if worst > FP32_TOLERANCE:
        raise VerificationError(f"FP32 conversion is not faithful: max abs difference {worst:.3g} > {FP32_TOLERANCE:g} "
                                f"({listed}); nothing was written")
    log.info("fidelity OK: %s", ", ".join(f"{k} {v:.3g}" for k, v in diffs.items()))
    return fidelity, ir_f32


def infer_finite(compiled, inputs, what: str):
    """:func:`convert.verify.infer_ir` of ``compiled`` on ``inputs``; :class:`VerificationError` naming ``what`` when a
    value is NaN or infinite (a broken FP16 or INT8 model: its figures against FP32 would be NaN, and a NaN heatmap has
    no peak, so its peak F1 is 1.0 where FP32 has none either)."""
    maps = infer_ir(compiled, inputs)
    if not all_finite(maps):
        raise VerificationError(f"{what} gives NaN or infinite outputs on the {len(inputs)} verification images "
                                "although the FP32 IR does not: the conversion is broken; nothing was written")
    return maps


def _check_stride(inputs, maps) -> None:
    """The maps must be the input's size over :data:`pose_format.STRIDE`, as the IR's rt_info says (a foreign ONNX
    file with 19- and 38-channel outputs at another stride is not this network)."""
    for x, m in zip(inputs, maps):
        want = (x.shape[1] // STRIDE, x.shape[2] // STRIDE)
        got = {name: tuple(v.shape[-2:]) for name, v in m.items()}
        if any(size != want for size in got.values()):
            raise ConversionError(f"the model's maps are {got} for a {x.shape[1]}x{x.shape[2]} input, expected "
                                  f"{want} (stride {STRIDE}): not a Lightweight OpenPose network")


def _speeds(models: dict, fp32, seconds: float) -> dict:
    """Latency / async FPS of FP32 (f32 hint and device default) and of the other precisions (device default)."""
    runs = [("FP32", "f32", fp32), ("FP32", None, fp32)]
    runs += [(p, None, models[p]) for p in ("FP16", "INT8") if p in models]
    return {f"{p} ({hint or 'default'})": measure_speed(m, precision_hint=hint, seconds=seconds).as_dict()
            for p, hint, m in runs}


def _read(path: Path):
    from ov_inference.adapter import get_core

    return get_core().read_model(path)


def _onnx_model(onnx_path):
    from convert.ir import read_onnx

    return read_onnx(onnx_path)


def _noise_inputs(opt: ConvertOptions):
    """Seeded noise images for the fidelity checks when no real image is given: 2, or ``verify_count`` if fewer."""
    import numpy as np

    rng = np.random.default_rng(0)
    h = opt.sample_height
    w = opt.width or 384
    return [rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8) for _ in range(min(2, opt.verify_count))]
