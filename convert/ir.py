"""ONNX -> OpenVINO IR with the pre-processing folded in and the format facts in rt_info.

The IR's input ``image`` is u8 NHWC BGR ``[1, H, W, 3]`` (raw pixels of a letterboxed image, padded with
:data:`pose_format.PAD_VALUE`); the conversion to f32, ``(x - NORM_MEAN) / NORM_SCALE`` and NHWC -> NCHW are
inside the model. Outputs: ``heatmaps`` ``[1, 19, H/8, W/8]`` and ``pafs`` ``[1, 38, H/8, W/8]`` of the last stage.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from pose_format import (IR_HEATMAPS_NAME, IR_INPUT_NAME, IR_PAFS_NAME, IR_PRECISIONS, NORM_MEAN, NORM_SCALE,
                         NUM_HEATMAPS, NUM_PAFS, RT_INFO_SECTION, check_input_side, rt_info_fields, sha256_file)

from convert.errors import ConversionError
from convert.leftovers import OWNER_PATTERN, owner, remove_dead_runs
from ov_inference.output_paths import make_folders, remove_empty_folders

log = logging.getLogger(__name__)

PRECISIONS = IR_PRECISIONS
#: start of the name of :func:`checkpoint_to_ir`'s scratch folder, made beside the IR
IR_SCRATCH_PREFIX = ".lwpose-convert-"
#: its whole name: ``.lwpose-convert-<pid>@<host>-<random>``, the process that made it
IR_SCRATCH_NAME = re.compile(re.escape(IR_SCRATCH_PREFIX) + OWNER_PATTERN + r"-\w+")


def read_onnx(onnx_path: str | Path):
    """Read an ONNX file of this network into an ``ov.Model`` whose outputs are exactly ``heatmaps`` and ``pafs``.

    Outputs are found by name, else (a foreign export) as the last 19-channel and last 38-channel outputs; either
    way they must be 4-D with 19 / 38 channels (another pose model's ``heatmaps`` is refused).
    Earlier stages of an all-stages export are dropped: the runtime needs only the last stage.
    """
    import openvino as ov

    path = Path(onnx_path)
    if not path.is_file():
        raise ConversionError(f"ONNX file not found: {path}")
    try:
        model = ov.convert_model(str(path))
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"cannot read ONNX file {path}: {exc}") from exc
    if len(model.inputs) != 1:
        raise ConversionError(f"{path}: expected one input, found {[i.get_any_name() for i in model.inputs]}")
    shape = model.inputs[0].get_partial_shape()
    if (shape.rank.is_dynamic or shape.rank.get_length() != 4 or not shape[0].compatible(ov.Dimension(1))
            or not shape[1].compatible(ov.Dimension(3))):
        raise ConversionError(f"{path}: input {model.inputs[0].get_any_name()!r} is {shape}, expected planar BGR "
                              "NCHW [1, 3, H, W] (this network's input)")
    by_name = {name: out for out in model.outputs for name in out.get_names()}
    picked = {}
    for name, channels in ((IR_HEATMAPS_NAME, NUM_HEATMAPS), (IR_PAFS_NAME, NUM_PAFS)):
        out = by_name.get(name)
        if out is None:
            candidates = [o for o in model.outputs if _has_channels(o, channels)]
            if not candidates:
                raise ConversionError(f"{path}: no output named {name!r} and no {channels}-channel output")
            out = candidates[-1]
        elif not _has_channels(out, channels):
            raise ConversionError(f"{path}: output {name!r} is {out.get_partial_shape()}, expected "
                                  f"[1, {channels}, H/8, W/8]: not a Lightweight OpenPose network")
        picked[name] = out
    results = []
    for name in (IR_HEATMAPS_NAME, IR_PAFS_NAME):
        out = picked[name]
        out.get_tensor().set_names({name})
        results.append(out)
    model = ov.Model(results, model.get_parameters(), "lightweight_openpose")
    model.inputs[0].get_tensor().set_names({IR_INPUT_NAME})
    return model


def _has_channels(output, channels: int) -> bool:
    """Whether ``output`` is a 4-D map with exactly ``channels`` channels (a number the file fixes)."""
    shape = output.get_partial_shape()
    return (shape.rank.is_static and shape.rank.get_length() == 4 and shape[1].is_static
            and shape[1].get_length() == channels)


def add_preprocessing(model, height: int | None = None, width: int | None = None):
    """Fold u8 NHWC BGR input, ``(x - 128) / 256`` and the layout change into ``model`` (``[1, 3, H, W]`` f32).

    ``height``/``width`` (input pixels) make the input static; ``None`` keeps them dynamic.
    """
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    check_static_size(height, width)
    model.reshape({model.inputs[0]: ov.PartialShape([1, 3, height or -1, width or -1])})
    ppp = PrePostProcessor(model)
    inp = ppp.input(0)
    inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    inp.model().set_layout(ov.Layout("NCHW"))
    inp.preprocess().convert_element_type(ov.Type.f32).mean(NORM_MEAN).scale(NORM_SCALE)
    model = ppp.build()
    model.inputs[0].get_tensor().set_names({IR_INPUT_NAME})
    return model


def reshaped(model, height: int | None = None, width: int | None = None):
    """A clone of IR ``model`` (u8 NHWC input) with the input ``[1, height, width, 3]``; ``None`` sides dynamic.

    The runtime (:class:`ov_inference.PoseEstimator`) reshapes even a static IR to each frame's own letterbox size, so
    a static IR is calibrated and its AP measured on ``reshaped(model)`` with the samples the runtime would make.
    """
    import openvino as ov

    clone = model.clone()
    try:
        clone.reshape({clone.inputs[0]: ov.PartialShape([1, height or -1, width or -1, 3])})
    except RuntimeError as exc:  # as the runtime would fail on a frame of another aspect ratio
        raise ConversionError(f"the IR's input cannot be reshaped to [1, {height or '?'}, {width or '?'}, 3] "
                              f"(its topology fixes the size; the runtime could not run it either): {exc}") from None
    return clone


def check_static_size(height: int | None, width: int | None) -> None:
    """Raise :class:`ConversionError` unless ``height`` and ``width`` (input pixels) are both None (a dynamic input)
    or both valid input sides (:func:`pose_format.check_input_side`)."""
    if (height is None) != (width is None):
        raise ConversionError("give both height and width for a static shape, or neither for a dynamic one")
    if height is not None:
        for name, value in (("height", height), ("width", width)):
            check_input_side(value, f"input {name}", ConversionError)


def write_rt_info(model, *, precision: str, source_sha256: str, **extra: str) -> None:
    """Write every :func:`pose_format.rt_info_fields` key plus ``precision``, ``source_sha256`` and ``extra``
    under ``rt_info[RT_INFO_SECTION]`` (all values strings)."""
    if precision not in PRECISIONS:
        raise ConversionError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    fields = dict(rt_info_fields(), precision=precision, source_sha256=source_sha256,
                  **{k: str(v) for k, v in extra.items()})
    for key, value in fields.items():
        model.set_rt_info(str(value), [RT_INFO_SECTION, key])


def save_ir(model, xml_path: str | Path, precision: str) -> Path:
    """Save ``model`` as ``xml_path`` (+ ``.bin``); FP16 compresses the weights, FP32 and INT8 keep f32 weights."""
    import openvino as ov

    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(xml_path), compress_to_fp16=(precision == "FP16"))
    return xml_path


def build_ir(onnx_path: str | Path, *, height: int | None = None, width: int | None = None,
             source_sha256: str, precision: str = "FP32", **extra: str):
    """ONNX file -> ``ov.Model`` with pre-processing and rt_info (not yet saved)."""
    model = add_preprocessing(read_onnx(onnx_path), height, width)
    write_rt_info(model, precision=precision, source_sha256=source_sha256, **extra)
    return model


def move_into_place(staged: Path, final: Path) -> Path:
    """Move a fully written file or folder ``staged`` onto ``final`` (replacing it), as late as possible."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.is_dir():
        shutil.rmtree(final)
    os.replace(staged, final)
    return final


def checkpoint_to_ir(checkpoint: str | Path, output_xml: str | Path, *, height: int | None = None,
                     width: int | None = None, precision: str = "FP32",
                     num_refinement_stages: int | None = None) -> Path:
    """Convert a PyTorch checkpoint to this project's IR (FP32 or FP16) at ``output_xml``; returns its path.

    Goes checkpoint -> ONNX -> IR in a temporary folder; ``output_xml`` and its ``.bin`` appear only when all
    succeeded. ``num_refinement_stages``: the first N refinement stages of the file (default None: every stage it
    holds). INT8 needs calibration data: use :func:`convert.run_conversion` (``python -m convert``).
    """
    from convert.checkpoint import load_network
    from convert.onnx_export import export_onnx

    if precision not in ("FP32", "FP16"):
        raise ConversionError(f"checkpoint_to_ir makes FP32 or FP16 IRs, not {precision!r}; "
                              "INT8 needs calibration data: use `python -m convert --precision INT8 ...`")
    checkpoint, output_xml = Path(checkpoint), Path(output_xml)
    if output_xml.suffix != ".xml":  # OpenVINO saves only to a lower-case .xml, and only after the whole export
        raise ConversionError(f"output_xml {output_xml} must end in .xml (its weights go to the .bin beside it)")
    folder = next((p for p in (output_xml, output_xml.with_suffix(".bin")) if p.is_dir()), None)
    if folder is not None:  # move_into_place would delete it, with whatever it holds
        raise ConversionError(f"{folder} is a folder: the IR's files go there; nothing was changed")
    check_static_size(height, width)
    network = load_network(checkpoint, num_refinement_stages)
    try:
        created = make_folders(output_xml.parent)
    except OSError as exc:  # e.g. a file where a folder of the path goes
        raise ConversionError(f"cannot write {output_xml}: {exc.strerror or exc}") from exc
    try:
        remove_dead_runs(output_xml.parent, IR_SCRATCH_NAME, "scratch")
        with tempfile.TemporaryDirectory(dir=output_xml.parent, prefix=f"{IR_SCRATCH_PREFIX}{owner()}-") as tmp:
            onnx_path = export_onnx(network, Path(tmp) / "model.onnx", height=height, width=width)
            model = build_ir(onnx_path, height=height, width=width, source_sha256=sha256_file(checkpoint),
                             precision=precision, source_name=checkpoint.name,
                             num_refinement_stages=network.num_refinement_stages)
            staged = save_ir(model, Path(tmp) / "ir" / output_xml.name, precision)
            move_into_place(staged.with_suffix(".bin"), output_xml.with_suffix(".bin"))
            move_into_place(staged, output_xml)
    except BaseException:  # an error, Ctrl+C: the folders made for the output go too
        remove_empty_folders(created)
        raise
    log.info("wrote %s IR %s", precision, output_xml)
    return output_xml
