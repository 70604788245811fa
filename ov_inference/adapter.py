"""The OpenVINO side of the runtime: read and validate a pose model, tell this project's IR from Intel's Open Model
Zoo IR, read its rt_info, and reshape + compile it per input size (a small LRU of compiled models).

Two model kinds are accepted (names from :mod:`pose_format`):

- ``"lwpose"`` (this project's IR, written by ``convert``): one input ``image`` u8 NHWC BGR ``[1, H, W, 3]`` with the
  normalization folded in, outputs ``heatmaps`` ``[1, 19, H/8, W/8]`` and ``pafs`` ``[1, 38, H/8, W/8]``; the
  ``rt_info[RT_INFO_SECTION]`` section describes the model (read back by :func:`read_rt_info`).
- ``"omz"`` (``human-pose-estimation-0001``): input ``data`` f32 NCHW raw BGR ``[1, 3, H, W]`` (normalization inside),
  outputs ``Mconv7_stage2_L1`` (PAFs, 38 channels) and ``Mconv7_stage2_L2`` (heatmaps, 19 channels).

Outputs are told apart by channel count (38 PAFs vs 19 or 18 heatmaps), names only confirm. Anything else is an
:class:`UnsupportedModelError` naming what was expected and what was found.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import openvino as ov

from ov_inference.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from pose_format import (IR_HEATMAPS_NAME, IR_INPUT_NAME, IR_PAFS_NAME, IR_PRECISIONS, MODEL_TYPE, NUM_HEATMAPS,
                         NUM_KEYPOINTS,
                         NUM_PAFS, OMZ_HEATMAPS_NAME, OMZ_INPUT_NAME, OMZ_PAFS_NAME, PAD_VALUE, RT_INFO_SECTION,
                         STRIDE, rt_info_fields)

__all__ = [
    "KIND_LWPOSE", "KIND_OMZ", "PRECISIONS", "UNKNOWN_PRECISION", "PERFORMANCE_HINTS",
    "ModelFileError", "CorruptModelError", "UnsupportedModelError", "ModelCompileError",
    "ModelSpec", "CompiledModelCache",
    "get_core", "available_devices", "check_device", "read_model", "read_rt_info", "model_precision", "inspect_model",
    "compile_config",
    "execution_precision", "precision_phrase",
]

log = logging.getLogger(__name__)

KIND_LWPOSE = "lwpose"
KIND_OMZ = "omz"
#: Accepted values of ``precision`` (OpenVINO's ``INFERENCE_PRECISION_HINT``); ``None`` keeps the device default.
PRECISIONS = ("f32", "bf16", "f16")
#: What :func:`execution_precision` answers for a device that does not report the precision it executes in.
UNKNOWN_PRECISION = "unknown"
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")

ModelLike = Union[str, Path, "ov.Model"]

_EXPECTED = (
    f"this project's IR (input '{IR_INPUT_NAME}' u8 NHWC [1,H,W,3]; outputs '{IR_HEATMAPS_NAME}' "
    f"[1,{NUM_HEATMAPS},H/8,W/8] and '{IR_PAFS_NAME}' [1,{NUM_PAFS},H/8,W/8]) or Open Model Zoo "
    f"human-pose-estimation-0001 (input '{OMZ_INPUT_NAME}' f32 NCHW [1,3,H,W]; outputs '{OMZ_PAFS_NAME}' "
    f"[1,{NUM_PAFS},H/8,W/8] and '{OMZ_HEATMAPS_NAME}' [1,{NUM_HEATMAPS},H/8,W/8])"
)


class ModelFileError(FileNotFoundError):
    """A model file (the ``.xml`` or the ``.bin`` beside it) does not exist."""


class CorruptModelError(ValueError):
    """A model file exists but OpenVINO cannot read it (truncated xml, wrong-size bin, not an IR at all)."""


class UnsupportedModelError(ValueError):
    """A readable model that is not one of the two pose-model kinds this runtime runs."""


class ModelCompileError(ValueError):
    """A pose model that cannot be reshaped to an input size or compiled on a device (unknown or unusable device,
    a topology fixed to other sizes). Fatal for a run: every later frame would fail the same way."""


_core_lock = threading.Lock()
_core: ov.Core | None = None


def get_core() -> ov.Core:
    """The process-wide ``openvino.Core`` (created on first use; creating one per model wastes time and memory).

    Compile through it rather than through ``openvino.Core()`` objects of your own: each Core that compiles on CPU
    gets its own CPU plugin, which installs a new alternate signal stack on the calling thread and unmaps it when
    destroyed, restoring the previous one only if its own is still current (OpenVINO 2025-2026). Two Cores released
    in the order they were created leave the thread on unmapped memory, and the next Python signal handler run there
    (Ctrl+C, or the SIGCHLD handler torch's DataLoader installs) kills the process with a SIGSEGV that even
    ``faulthandler`` cannot report."""
    global _core
    with _core_lock:
        if _core is None:
            _core = ov.Core()
        return _core


def read_model(model: ModelLike, core: ov.Core | None = None) -> ov.Model:
    """Read an IR (``.xml`` with its ``.bin``; any format ``Core.read_model`` reads) or pass an ``ov.Model`` through.

    Raises :class:`ModelFileError` for a missing file, :class:`CorruptModelError` when OpenVINO cannot parse it.
    """
    if isinstance(model, ov.Model):
        return model
    if not isinstance(model, (str, Path)):
        raise TypeError(f"model must be a path to an .xml IR or an openvino.Model, not {type(model).__name__}")
    path = Path(model)
    if path.is_dir():
        xmls = sorted(p.name for p in path.glob("*.xml"))
        hint = f" (it holds {', '.join(xmls[:3])}{', ...' if len(xmls) > 3 else ''})" if xmls else ""
        raise ModelFileError(f"model {path} is a folder, expected the IR's .xml file{hint}")
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    if path.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:  # --model and --input swapped, most likely
        raise ModelFileError(f"model {path} is an image or video file, expected the IR's .xml file (or an .onnx "
                             f"model); give the picture or clip as the input")
    if path.suffix.lower() == ".xml":
        weights = path.with_suffix(".bin")
        if not weights.is_file():
            raise ModelFileError(f"weights file not found: {weights} (an IR needs the .bin next to {path.name})")
    try:
        return (core or get_core()).read_model(str(path))
    except RuntimeError as exc:  # OpenVINO reports every parse failure as RuntimeError
        detail = _ov_error_detail(exc)
        raise CorruptModelError(f"cannot read model {path}: {detail}") from exc


def _ov_error_detail(exc: BaseException) -> str:
    """The informative line of an OpenVINO exception (they start with 'Exception from src/...' boilerplate)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith("Exception from") and not ln.startswith("Check '")]
    return (useful or lines or [type(exc).__name__])[-1]


def read_rt_info(model: ov.Model | str | Path) -> dict[str, str]:
    """The ``rt_info[RT_INFO_SECTION]`` fields of ``model`` (an ``openvino.Model`` or the path of an IR ``.xml``,
    read with :func:`read_model`) as strings; missing section or keys are simply absent.

    Reads the keys of :func:`pose_format.rt_info_fields` plus ``precision`` and ``source_sha256`` one by one
    (``model.get_rt_info([section, key])``), and any other key the section holds.
    """
    model = read_model(model)  # a path is read; a Model is returned as it is
    keys = list(rt_info_fields()) + ["precision", "source_sha256"]
    info = model.get_rt_info()
    if RT_INFO_SECTION not in info:  # no section at all (OMZ, older IR)
        return {}
    section = info[RT_INFO_SECTION]
    if isinstance(section, dict):
        keys += [k for k in section if k not in keys]
    out: dict[str, str] = {}
    for key in keys:
        path = [RT_INFO_SECTION, key]
        try:
            if not model.has_rt_info(path):
                continue
            value = model.get_rt_info(path)
        except RuntimeError:  # OpenVINO raises, rather than answering False, on some missing paths
            continue
        out[key] = str(value.astype(str) if hasattr(value, "astype") else value)
    return out


def model_precision(model: ov.Model, rt_info: dict[str, str]) -> str | None:
    """The precision the IR stores its network in, one of :data:`pose_format.IR_PRECISIONS` (not the precision it
    executes in: see :func:`execution_precision`).

    ``rt_info``'s ``precision`` when convert wrote one (``rt_info``: :func:`read_rt_info`'s dict); else (OMZ, older
    IRs) derived from the graph: ``"INT8"`` when it holds a FakeQuantize or 8-bit integer constants (quantized or
    int8-compressed weights), else ``"FP16"`` when its weights are f16 constants (saved compressed), else ``"FP32"``
    when they are f32; ``None`` when it has no float weights at all."""
    if "precision" in rt_info:
        return rt_info["precision"]
    ops = model.get_ops()
    weights = {op.get_output_element_type(0) for op in ops if op.get_type_name() == "Constant"}
    if any(op.get_type_name() == "FakeQuantize" for op in ops) or weights & {ov.Type.i8, ov.Type.u8}:
        return IR_PRECISIONS[2]
    if ov.Type.f16 in weights:
        return IR_PRECISIONS[1]
    return IR_PRECISIONS[0] if ov.Type.f32 in weights else None


@dataclass(frozen=True)
class ModelSpec:
    """What the runtime needs to know about a pose model, found by :func:`inspect_model`.

    ``layout`` is the input layout (``"NHWC"`` u8 for ``lwpose``, ``"NCHW"`` f32 for ``omz``); ``heatmaps_index`` and
    ``pafs_index`` are output indices; ``stride`` is input pixels per map cell and ``pad_value`` the raw pixel value
    (0..255) the letterbox pads with, both from the rt_info when it has them (else :data:`pose_format.STRIDE` and
    :data:`pose_format.PAD_VALUE`), and used by the pre-processing; ``static_size`` is the model's own
    ``(height, width)`` when its input is static, else ``None``; ``rt_info`` is :func:`read_rt_info`'s dict;
    ``precision`` is the IR's storage precision (``"FP32"``, ``"FP16"``, ``"INT8"``; :func:`model_precision`).
    """

    kind: str
    input_name: str
    layout: str
    input_dtype: np.dtype
    heatmaps_index: int
    pafs_index: int
    num_heatmaps: int
    stride: int = STRIDE
    pad_value: int = PAD_VALUE
    static_size: tuple[int, int] | None = None
    rt_info: dict[str, str] = field(default_factory=dict)
    precision: str | None = None

    def input_shape(self, height: int, width: int, batch: int = 1) -> list[int]:
        """The input tensor shape for ``batch`` input images of ``height`` x ``width`` pixels."""
        return [batch, height, width, 3] if self.layout == "NHWC" else [batch, 3, height, width]

    def make_input(self, image_bgr: np.ndarray) -> np.ndarray:
        """``[H, W, 3]`` u8 letterboxed BGR image -> the input tensor (u8 NHWC, or raw-BGR f32 NCHW for OMZ)."""
        if self.layout == "NHWC":
            return np.ascontiguousarray(image_bgr[None])
        return np.ascontiguousarray(image_bgr.transpose(2, 0, 1)[None], dtype=np.float32)


def _describe(ports) -> str:
    parts = []
    for port in ports:
        names = sorted(port.get_names()) or ["<unnamed>"]
        parts.append(f"{'/'.join(names)} {port.get_element_type().get_type_name()} {port.get_partial_shape()}")
    return "[" + ", ".join(parts) + "]"


def _static_dim(pshape: ov.PartialShape, axis: int) -> int | None:
    if pshape.rank.is_dynamic or len(pshape) <= axis or pshape[axis].is_dynamic:
        return None
    return pshape[axis].get_length()


def inspect_model(model: ov.Model) -> ModelSpec:
    """Tell which kind of pose model ``model`` is and where its heatmaps and PAFs are.

    Raises :class:`UnsupportedModelError` (naming what was expected and what was found) for any other model.
    """
    found = f"found inputs {_describe(model.inputs)}, outputs {_describe(model.outputs)}"

    def unsupported(why: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"not a supported pose model ({why}): expected {_EXPECTED}; {found}")

    if len(model.inputs) != 1:
        raise unsupported(f"{len(model.inputs)} inputs")
    port = model.inputs[0]
    pshape = port.get_partial_shape()
    if pshape.rank.is_dynamic or len(pshape) != 4:
        raise unsupported("input is not 4-D")
    etype = port.get_element_type()
    names = port.get_names()
    if etype == ov.Type.u8 and _static_dim(pshape, 3) == 3:
        kind, layout, dtype, hw_axes = KIND_LWPOSE, "NHWC", np.dtype(np.uint8), (1, 2)
    elif etype == ov.Type.f32 and _static_dim(pshape, 1) == 3 and OMZ_INPUT_NAME in names:
        kind, layout, dtype, hw_axes = KIND_OMZ, "NCHW", np.dtype(np.float32), (2, 3)
    elif etype == ov.Type.f32 and _static_dim(pshape, 1) == 3:
        raise unsupported("f32 NCHW input that is not OMZ's 'data': a model without the pre-processing folded in "
                          "(e.g. the ONNX export) would get raw pixels; convert it to an IR with `python -m convert`")
    else:
        raise unsupported("input is neither u8 NHWC with 3 channels nor f32 NCHW 'data'")

    heat, pafs = [], []
    for i, out in enumerate(model.outputs):
        channels = _static_dim(out.get_partial_shape(), 1)
        if out.get_partial_shape().rank.is_dynamic or len(out.get_partial_shape()) != 4:
            continue
        if channels == NUM_PAFS:
            pafs.append(i)
        elif channels in (NUM_HEATMAPS, NUM_KEYPOINTS):
            heat.append(i)
    heat_names = {IR_HEATMAPS_NAME, OMZ_HEATMAPS_NAME}
    paf_names = {IR_PAFS_NAME, OMZ_PAFS_NAME}
    heat = _prefer_named(model, heat, heat_names)
    pafs = _prefer_named(model, pafs, paf_names)
    if len(heat) != 1 or len(pafs) != 1:
        raise unsupported(f"{len(heat)} heatmap-like outputs ({NUM_HEATMAPS} or {NUM_KEYPOINTS} channels) and "
                          f"{len(pafs)} PAF-like outputs ({NUM_PAFS} channels); need exactly one of each")

    rt = read_rt_info(model)
    if rt.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise unsupported(f"rt_info model_type is {rt['model_type']!r}, not {MODEL_TYPE!r}")
    stride = _int_field(rt, "stride", STRIDE)
    pad_value = _int_field(rt, "pad_value", PAD_VALUE)
    if stride < 1:
        raise unsupported(f"rt_info stride is {stride}, not a positive number of input pixels per map cell")
    if not 0 <= pad_value <= 255:
        raise unsupported(f"rt_info pad_value is {pad_value}, not a raw pixel value 0..255")
    h, w = (_static_dim(pshape, a) for a in hw_axes)
    static = (h, w) if h is not None and w is not None else None
    return ModelSpec(kind=kind, input_name=port.get_any_name(), layout=layout, input_dtype=dtype,
                     heatmaps_index=heat[0], pafs_index=pafs[0],
                     num_heatmaps=_static_dim(model.outputs[heat[0]].get_partial_shape(), 1),
                     stride=stride, pad_value=pad_value, static_size=static, rt_info=rt,
                     precision=model_precision(model, rt))


def _prefer_named(model: ov.Model, indices: list[int], names: set[str]) -> list[int]:
    """Among candidate outputs, keep the ones carrying an expected name when several share a channel count."""
    if len(indices) <= 1:
        return indices
    named = [i for i in indices if model.outputs[i].get_names() & names]
    return named or indices


def _int_field(rt: dict[str, str], key: str, default: int) -> int:
    """The whole number ``rt[key]`` (``"8"`` or ``"8.0"``), else ``default`` when absent; anything else (text,
    ``"8.5"``, ``"inf"``, ``"nan"``) raises :class:`UnsupportedModelError` rather than being truncated."""
    if key not in rt:
        return default
    try:
        value = float(rt[key])
    except ValueError:
        value = None
    if value is None or not value.is_integer():
        raise UnsupportedModelError(f"rt_info[{RT_INFO_SECTION}][{key}] = {rt[key]!r} is not a whole number")
    return int(value)


def available_devices(core: ov.Core | None = None) -> list[str]:
    """The devices OpenVINO can use here (``Core.available_devices``, e.g. ``["CPU", "GPU.0"]``); empty when even
    asking fails (a broken plugin)."""
    try:
        return list((core or get_core()).available_devices)
    except RuntimeError:
        return []


def check_device(device: object) -> str:
    """``device`` when it is a string, an OpenVINO device name (``"CPU"``, ``"GPU.0"``, ``"AUTO:CPU,GPU"``,
    ``"HETERO:GPU,CPU"``; whether it exists here is found when compiling, :class:`ModelCompileError`), else a
    ``TypeError`` naming the argument (``None`` ran on OpenVINO's default device, ``1`` gave its signature list)."""
    if not isinstance(device, str):
        raise TypeError(f"device must be an OpenVINO device name such as 'CPU', 'GPU.0' or 'AUTO', got {device!r}")
    return device


def compile_config(precision: str | None = None, performance_hint: str | None = "LATENCY",
                   config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``compile_model`` properties for an execution ``precision`` (f32 / bf16 / f16 / None = device default)
    and a ``performance_hint`` (LATENCY / THROUGHPUT / None), merged under any explicit ``config``."""
    props: dict[str, Any] = {}
    if precision is not None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS} or None (device default), not {precision!r}")
        props["INFERENCE_PRECISION_HINT"] = precision
    if performance_hint is not None:
        hint = str(performance_hint).upper()
        if hint not in PERFORMANCE_HINTS:
            raise ValueError(f"performance_hint must be one of {PERFORMANCE_HINTS} or None, not {performance_hint!r}")
        props["PERFORMANCE_HINT"] = hint
    props.update(config or {})
    return props


def _precision_name(value: Any) -> str:
    """An ``INFERENCE_PRECISION_HINT`` value as its short name: ``ov.Type.f32`` and ``"f32"`` both give ``"f32"``."""
    return value.get_type_name() if hasattr(value, "get_type_name") else str(value).lower()


def execution_precision(compiled: ov.CompiledModel) -> str:
    """The precision a compiled model executes in (its ``INFERENCE_PRECISION_HINT``), e.g. ``"f32"`` or ``"bf16"``;
    :data:`UNKNOWN_PRECISION` on a device that does not report it (``AUTO``, ``MULTI``, ``HETERO`` raise for it)."""
    try:
        value = compiled.get_property("INFERENCE_PRECISION_HINT")
    except RuntimeError:
        return UNKNOWN_PRECISION
    return _precision_name(value)


def precision_phrase(stored: str | None, executes: str) -> str:
    """Both precisions of a run in words, for a summary line: ``"INT8 IR executing in bf16"`` (``stored``: the IR's
    storage precision, :func:`model_precision`; ``executes``: :func:`execution_precision`); ``"executing in f32"``
    when the IR's precision is unknown (no float weights)."""
    return f"{stored + ' IR ' if stored else ''}executing in {executes}"


class CompiledModelCache:
    """Compiled models of one ``ov.Model`` per input size, least recently used evicted beyond ``capacity``.

    :meth:`get` reshapes a clone of the model to ``[batch, H, W, 3]`` (or ``[batch, 3, H, W]``) and compiles it only the
    first time a size is seen; a video keeps hitting the same entry. Thread-safe. ``batch``: images per inference
    (2 for the flip test-time augmentation of :class:`ov_inference.PoseEstimator`).
    """

    def __init__(self, model: ov.Model, spec: ModelSpec, device: str = "CPU", config: dict[str, Any] | None = None,
                 capacity: int = 4, core: ov.Core | None = None, batch: int = 1):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.model, self.spec, self.device = model, spec, check_device(device)
        self.config = dict(config or {})
        self.capacity = capacity
        self.batch = int(batch)
        self.core = core or get_core()
        self.compiles = 0
        self._cache: OrderedDict[tuple[int, int], ov.CompiledModel] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def sizes(self) -> list[tuple[int, int]]:
        """Cached ``(height, width)`` input sizes, least recently used first (a snapshot, taken under the lock
        :meth:`get` mutates the cache under)."""
        with self._lock:
            return list(self._cache)

    def get(self, height: int, width: int) -> ov.CompiledModel:
        """The model compiled for a ``height`` x ``width`` input image (input pixels)."""
        key = (int(height), int(width))
        with self._lock:
            compiled = self._cache.get(key)
            if compiled is not None:
                self._cache.move_to_end(key)
                return compiled
            compiled = self._compile(*key)
            self._cache[key] = compiled
            while len(self._cache) > self.capacity:
                evicted, _ = self._cache.popitem(last=False)
                log.debug("evicted compiled model for input %s", evicted)
            return compiled

    def _compile(self, height: int, width: int) -> ov.CompiledModel:
        stride = self.spec.stride
        if height % stride or width % stride or height < stride or width < stride:
            raise ValueError(f"input size {height}x{width} must be positive multiples of the stride {stride}")
        model = self.model.clone()
        shape = self.spec.input_shape(height, width, self.batch)
        try:
            model.reshape({model.inputs[0]: ov.PartialShape(shape)})
        except RuntimeError as exc:
            raise ModelCompileError(f"cannot reshape the {self.spec.kind} model input to {shape} ({height}x{width} "
                                    f"input pixels, for a frame of another aspect ratio): {_ov_error_detail(exc)}; "
                                    "its topology fixes the input size: convert it with a dynamic input, or feed "
                                    "frames of the aspect ratio it was made for") from exc
        for index, channels in ((self.spec.heatmaps_index, self.spec.num_heatmaps),
                                (self.spec.pafs_index, NUM_PAFS)):
            got = list(model.outputs[index].get_partial_shape())
            want = [self.batch, channels, height // stride, width // stride]
            if [d.get_length() if d.is_static else None for d in got] != want:
                raise ModelCompileError(f"output {index} has shape {model.outputs[index].get_partial_shape()} for "
                                        f"input {shape}, expected {want} (stride {stride})")
        try:
            compiled = self.core.compile_model(model, self.device, self.config)
        except RuntimeError as exc:
            raise ModelCompileError(f"cannot compile the model for device {self.device!r}: {_ov_error_detail(exc)} "
                                    f"(available devices: {', '.join(available_devices(self.core)) or 'none'})"
                                    ) from exc
        self.compiles += 1
        executes = execution_precision(compiled)
        log.info("compiled %s model for input %dx%d on %s (executes in %s)", self.spec.kind, height, width,
                 self.device, executes)
        asked = self.config.get("INFERENCE_PRECISION_HINT")
        if asked is not None and executes not in (_precision_name(asked), UNKNOWN_PRECISION) and self.compiles == 1:
            log.warning("%s does not execute in %s here: it runs in %s (the device's choice for that hint)",
                        self.device, _precision_name(asked), executes)
        return compiled
