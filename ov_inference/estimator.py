"""PoseEstimator: a BGR frame of any size in, poses in that frame's pixel coordinates out.

Model-API style: :meth:`PoseEstimator.preprocess` (frame -> network inputs + letterbox meta) and
:meth:`PoseEstimator.postprocess` (network outputs + meta -> poses) are plain steps around the OpenVINO call, so
:class:`ov_inference.AsyncPipeline` runs the same steps with asynchronous requests.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import openvino as ov

from ov_inference.adapter import (CompiledModelCache, ModelLike, ModelSpec, check_device, compile_config,
                                  execution_precision, get_core, inspect_model, read_model)
from ov_inference.decoder import DecoderOptions, decode_poses
from ov_inference.pose import Pose
from ov_inference.preprocessing import MAX_INPUT_WIDTH, letterbox_frame
from ov_inference.tta import merge_predictions, mirror_content
from pose_format import (INPUT_HEIGHT_LIVE, MAX_INPUT_SIDE, STRIDE, LetterboxMeta, check_input_side,
                         is_whole_number)

__all__ = ["PoseEstimator", "FrameInputs", "decode_outputs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameInputs:
    """A pre-processed frame: the input ``tensor`` for the model, and the ``meta`` mapping input pixels back."""

    tensor: np.ndarray
    meta: LetterboxMeta

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the network input in pixels (the compiled-model cache key)."""
        return self.meta.input_size[1], self.meta.input_size[0]


def decode_outputs(heatmaps: np.ndarray, pafs: np.ndarray, meta: LetterboxMeta, stride: int = STRIDE,
                   decoder_options: DecoderOptions | None = None) -> list[Pose]:
    """``[C, h, w]`` heatmaps and ``[38, h, w]`` PAFs of one frame -> poses in the frame's image pixels.

    Keypoints found in the letterbox padding (more than half a map cell outside the frame's resized content) are
    dropped as missing (confidence 0, left out of the person's score; see ``valid_size`` of
    :func:`ov_inference.decode_poses`); the others are clipped into the frame, ``0 <= x <= width - 1`` and
    ``0 <= y <= height - 1``. ``decoder_options``: the decoder's :class:`ov_inference.DecoderOptions` (``None``: its
    defaults), the same keyword as :func:`ov_inference.decode_poses` and :class:`ov_inference.PoseEstimator` take.
    """
    width, height = meta.image_size
    poses = decode_poses(heatmaps, pafs, stride=stride, decoder_options=decoder_options,
                         valid_size=(width * meta.scale, height * meta.scale))
    upper = np.array([width - 1, height - 1], dtype=np.float32)
    return [pose.transformed(lambda xy: np.clip(meta.to_image(xy), 0.0, upper)) for pose in poses]


class PoseEstimator:
    """Multi-person 2D pose estimation with an OpenVINO pose model (this project's IR or OMZ's).

    ``model``: path to an ``.xml`` IR or an ``openvino.Model``; its kind is found from the model itself
    (:func:`ov_inference.adapter.inspect_model`). ``input_height``: network input height in pixels (256 live, 368
    accurate; :func:`pose_format.check_input_side`'s rule, as on the command lines: a multiple of 8 from 16 to 4096,
    and of the model's stride); frames are resized to it keeping their aspect ratio and padded on the right to a
    multiple of the stride with the model's pad value
    (:attr:`ModelSpec.stride` / ``pad_value``, from its rt_info, else :mod:`pose_format`'s 8 and 128); wider frames
    are shrunk to at most ``max_input_width`` input pixels (from the stride to 4096). ``precision``: ``"f32"``,
    ``"bf16"``, ``"f16"`` or ``None`` (device default; FP32 IRs may execute in bf16 on CPUs that have it) -
    :attr:`execution_precision` tells what actually ran. ``performance_hint``: OpenVINO's ``PERFORMANCE_HINT``
    (``LATENCY`` suits live use). The model is reshaped and compiled once per input size and kept in an LRU of
    ``cache_size`` compiled models; a size or
    ``device`` it cannot be compiled for raises :class:`ov_inference.ModelCompileError` when first used (a ``device``
    that is not a string, OpenVINO's device name, a ``TypeError`` at once).
    ``decoder_options``: the :class:`ov_inference.DecoderOptions` used for every frame (thresholds, peak bound;
    ``None``: defaults). ``flip``: test-time augmentation for accuracy over speed - every frame is inferred together
    with its horizontal mirror in one batch-2 inference (about twice the compute), the mirror's maps are flipped
    back (left/right channels and PAF limbs swapped, :mod:`ov_inference.tta`) and averaged with the frame's before
    decoding. ``core``: the ``openvino.Core`` to compile with (default and advice: the process-wide
    :func:`ov_inference.adapter.get_core`; Cores of your own must be released in the reverse order of their creation,
    see there).

    Calling the estimator on a frame (``[H, W, 3]`` BGR, gray ``[H, W]`` / ``[H, W, 1]`` or BGRA ``[H, W, 4]``, uint8)
    returns :class:`ov_inference.Pose` objects whose keypoints are in that frame's pixels. Synchronous calls use one
    infer request per compiled model: call one estimator from one thread at a time, and use
    :class:`ov_inference.AsyncPipeline` for concurrency.
    """

    def __init__(self, model: ModelLike, device: str = "CPU", input_height: int = INPUT_HEIGHT_LIVE,
                 precision: str | None = None, performance_hint: str | None = "LATENCY",
                 config: Mapping[str, Any] | None = None, cache_size: int = 8,
                 max_input_width: int = MAX_INPUT_WIDTH, core: ov.Core | None = None,
                 decoder_options: DecoderOptions | None = None, flip: bool = False):
        check_device(device)
        if not is_whole_number(cache_size):
            raise TypeError(f"cache_size must be an integer number of compiled models, got {cache_size!r}")
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1 compiled model, got {cache_size}")
        if not is_whole_number(input_height):
            raise TypeError(f"input_height must be an integer number of pixels, got {input_height!r}")
        check_input_side(input_height, "input_height")  # the command lines' rule: a multiple of 8 from 16 to 4096
        DecoderOptions.resolve(decoder_options)  # a wrong type fails here, not at the first frame
        self.decoder_options = decoder_options
        self.flip = bool(flip)
        self.core = core or get_core()
        self.model = read_model(model, self.core)
        self.spec: ModelSpec = inspect_model(self.model)
        if input_height % self.spec.stride:  # a model whose rt_info stride is not 8
            raise ValueError(f"input_height must be a multiple of the model's stride {self.spec.stride}, "
                             f"got {input_height}")
        if not is_whole_number(max_input_width):
            raise TypeError(f"max_input_width must be an integer number of pixels, got {max_input_width!r}")
        if not self.spec.stride <= max_input_width <= MAX_INPUT_SIDE:
            raise ValueError(f"max_input_width must be from {self.spec.stride} to {MAX_INPUT_SIDE} pixels, "
                             f"got {max_input_width}")
        self.device = device
        self.input_height = int(input_height)
        self.precision = precision
        self.max_input_width = max_input_width
        self.config = compile_config(precision, performance_hint, dict(config or {}))
        self.cache = CompiledModelCache(self.model, self.spec, device, self.config, cache_size, self.core,
                                        batch=2 if self.flip else 1)
        self.last_timings: dict[str, float] = {}
        self._last_size: tuple[int, int] | None = None
        log.info("loaded %s pose model (input %s, stride %d) for %s", self.spec.kind, self.spec.input_name,
                 self.spec.stride, device)

    # -- model facts ---------------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"lwpose"`` (this project's IR) or ``"omz"`` (Open Model Zoo human-pose-estimation-0001)."""
        return self.spec.kind

    @property
    def rt_info(self) -> dict[str, str]:
        """The model's ``rt_info[pose_format.RT_INFO_SECTION]`` fields (empty for OMZ)."""
        return dict(self.spec.rt_info)

    @property
    def model_precision(self) -> str | None:
        """The precision the IR stores its network in: ``"FP32"``, ``"FP16"`` or ``"INT8"`` (from its rt_info, else
        derived from its weights; :func:`ov_inference.adapter.model_precision`). What executes:
        :attr:`execution_precision`."""
        return self.spec.precision

    def default_size(self) -> tuple[int, int]:
        """``(height, width)`` input :meth:`compiled` uses before any frame: a static model's own size when its height
        is :attr:`input_height` (no reshape: a model whose topology fixes its size still starts), else the size of a
        16:9 frame at :attr:`input_height`."""
        if self.spec.static_size is not None and self.spec.static_size[0] == self.input_height:
            return self.spec.static_size
        width = -(-round(self.input_height * 16 / 9) // self.spec.stride) * self.spec.stride
        return self.input_height, width

    def prepare(self, frame_size: tuple[int, int] | None) -> None:
        """Compile for frames of ``frame_size`` = (width, height) pixels (a video's, known before its first frame)
        and make that input size the default of :meth:`compiled`, so the startup queries (execution precision,
        optimal requests) compile nothing else. ``None``, or a frame too thin to infer (under one input pixel wide
        or high once resized): nothing to do, as each such frame is refused when it runs (an error record in
        :meth:`ov_inference.AsyncPipeline.run`), not the whole source."""
        if frame_size is None:
            return
        w, h = frame_size
        try:
            prepared = self.preprocess_frame(np.zeros((h, w, 3), np.uint8))
        except ValueError:  # too thin: the frame's own ValueError comes when it is submitted
            return
        self.compiled(prepared.size)

    def compiled(self, size: tuple[int, int] | None = None) -> ov.CompiledModel:
        """The compiled model for an input ``(height, width)`` (default: the last size used, else 16:9)."""
        size = size or self._last_size or self.default_size()
        compiled = self.cache.get(*size)
        self._last_size = size  # only a size that compiled: a failed one must not stick to later calls
        return compiled

    @property
    def execution_precision(self) -> str:
        """The precision the device executes in (``INFERENCE_PRECISION_HINT`` of the compiled model), e.g. ``f32``."""
        return execution_precision(self.compiled())

    def optimal_num_requests(self, size: tuple[int, int] | None = None) -> int:
        """The compiled model's ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``."""
        return int(self.compiled(size).get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    # -- steps ---------------------------------------------------------------------------------------------------
    def preprocess_frame(self, frame: np.ndarray) -> FrameInputs:
        """Frame -> :class:`FrameInputs` (letterboxed input tensor for this model's kind, and meta)."""
        image, meta = letterbox_frame(frame, self.input_height, self.max_input_width, self.spec.stride,
                                      self.spec.pad_value)
        tensor = self.spec.make_input(image)
        if self.flip:  # the mirrored content, padded on the right like the frame: batch item 1
            tensor = np.concatenate([tensor, self.spec.make_input(mirror_content(image, meta))])
        return FrameInputs(tensor, meta)

    def preprocess(self, frame: np.ndarray) -> tuple[dict[str, np.ndarray], LetterboxMeta]:
        """Frame -> (``{input name: tensor}``, :class:`pose_format.LetterboxMeta`)."""
        prepared = self.preprocess_frame(frame)
        return {self.spec.input_name: prepared.tensor}, prepared.meta

    def split_outputs(self, outputs: Any) -> tuple[np.ndarray, np.ndarray]:
        """Network outputs -> ``([C, h, w]`` heatmaps, ``[38, h, w]`` PAFs``)``, batch dropped.

        ``outputs``: a ``(heatmaps, pafs)`` pair, or what a compiled model / infer request returns (indexable by
        output index, as ``OVDict`` is).
        """
        heatmaps, pafs = self._output_pair(outputs)
        if heatmaps.ndim == 4:
            heatmaps = heatmaps[0]
        if pafs.ndim == 4:
            pafs = pafs[0]
        return heatmaps, pafs

    def _output_pair(self, outputs: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(heatmaps, pafs)`` arrays, batch kept, from a pair or indexable outputs (see :meth:`split_outputs`)."""
        if isinstance(outputs, (tuple, list)) and len(outputs) == 2:
            heatmaps, pafs = outputs
        else:
            heatmaps, pafs = outputs[self.spec.heatmaps_index], outputs[self.spec.pafs_index]
        return np.asarray(heatmaps), np.asarray(pafs)

    def frame_maps(self, outputs: Any, meta: LetterboxMeta) -> tuple[np.ndarray, np.ndarray]:
        """Network outputs of one frame -> its ``([C, h, w]`` heatmaps, ``[38, h, w]`` PAFs``)``: the batch item,
        or with ``flip`` the frame's maps averaged with its mirror's maps flipped back."""
        heatmaps, pafs = self._output_pair(outputs)
        if self.flip and heatmaps.ndim == 4 and heatmaps.shape[0] == 2:
            return merge_predictions([(heatmaps[0], pafs[0], meta, False), (heatmaps[1], pafs[1], meta, True)],
                                     meta, self.spec.stride)
        return self.split_outputs((heatmaps, pafs))

    def postprocess(self, outputs: Any, meta: LetterboxMeta) -> list[Pose]:
        """Network outputs of one frame + its meta -> poses in the frame's image pixels."""
        heatmaps, pafs = self.frame_maps(outputs, meta)
        return decode_outputs(heatmaps, pafs, meta, self.spec.stride, self.decoder_options)

    # -- one frame, synchronously ---------------------------------------------------------------------------------
    def _infer(self, frame: np.ndarray) -> tuple[Any, LetterboxMeta]:
        """Frame -> (network outputs, meta); sets :attr:`last_timings` to ``preprocess_ms`` and ``infer_ms``."""
        t0 = time.perf_counter()
        prepared = self.preprocess_frame(frame)
        t1 = time.perf_counter()
        compiled = self.compiled(prepared.size)
        outputs = compiled({0: prepared.tensor})
        t2 = time.perf_counter()
        self.last_timings = {"preprocess_ms": (t1 - t0) * 1e3, "infer_ms": (t2 - t1) * 1e3}
        return outputs, prepared.meta

    def infer_maps(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, LetterboxMeta]:
        """Frame -> ``([C, h, w]`` heatmaps, ``[38, h, w]`` PAFs, meta)``: the raw maps, at network resolution."""
        outputs, meta = self._infer(frame)
        heatmaps, pafs = self.frame_maps(outputs, meta)
        return heatmaps, pafs, meta

    def __call__(self, frame: np.ndarray) -> list[Pose]:
        """Frame -> poses in the frame's pixel coordinates. Timings of the call in :attr:`last_timings`, ms:
        ``preprocess_ms``, ``infer_ms`` and ``decode_ms`` (network outputs -> poses, the merge of the mirrored maps
        of ``flip`` included, as in :class:`ov_inference.AsyncPipeline`'s results)."""
        outputs, meta = self._infer(frame)
        t0 = time.perf_counter()
        poses = self.postprocess(outputs, meta)
        self.last_timings["decode_ms"] = (time.perf_counter() - t0) * 1e3
        return poses

    def __repr__(self) -> str:
        return (f"PoseEstimator(kind={self.kind!r}, device={self.device!r}, input_height={self.input_height}, "
                f"precision={self.precision!r}{', flip=True' if self.flip else ''})")
