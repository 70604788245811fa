"""PyTorch network -> ONNX file (opset >= 17, exported on CPU, checked with the ONNX checker)."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

from pose_format import IR_HEATMAPS_NAME, IR_INPUT_NAME, IR_PAFS_NAME

from convert.errors import ConversionError

log = logging.getLogger(__name__)

#: Lowest ONNX opset accepted; the default is the one torch's exporter implements natively (no down-conversion).
MIN_OPSET = 17
DEFAULT_OPSET = 18
#: Highest opset checked to export with torch 2.13's exporter (and to convert with OpenVINO).
MAX_OPSET = 23
#: Example input size used to trace a dynamic-shape export (a multiple of the stride, the fixture's size).
EXAMPLE_HEIGHT, EXAMPLE_WIDTH = 256, 384


def output_names(num_stages: int, all_stages: bool) -> list[str]:
    """ONNX output names: ``heatmaps``, ``pafs`` for the last stage; earlier stages (``all_stages``) first,
    as ``stage<i>_heatmaps`` / ``stage<i>_pafs``."""
    names: list[str] = []
    if all_stages:
        for i in range(num_stages - 1):
            names += [f"stage{i}_{IR_HEATMAPS_NAME}", f"stage{i}_{IR_PAFS_NAME}"]
    return names + [IR_HEATMAPS_NAME, IR_PAFS_NAME]


def _stage_outputs_module(network, all_stages: bool):
    import torch

    class StageOutputs(torch.nn.Module):
        """Returns the network's maps as a tuple: the last stage only, or every stage."""

        def __init__(self):
            super().__init__()
            self.network = network

        def forward(self, image):
            maps = self.network(image)
            return tuple(maps) if all_stages else (maps[-2], maps[-1])

    return StageOutputs().eval()


def export_onnx(network, path: str | Path, *, height: int | None = None, width: int | None = None,
                all_stages: bool = False, opset: int = DEFAULT_OPSET) -> Path:
    """Export ``network`` (a :class:`train.model.PoseEstimationWithMobileNet`) to ONNX at ``path``.

    The ONNX input ``image`` is float32 ``[1, 3, H, W]`` planar BGR normalized as ``(pixel - 128) / 256`` (the
    network's own input; the IR folds the normalization in later). H and W are dynamic unless both ``height``
    and ``width`` (input pixels, multiples of 8) are given. Outputs: see :func:`output_names`.
    """
    import onnx
    import torch

    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConversionError(f"ONNX opset {opset} is not supported: use {MIN_OPSET} to {MAX_OPSET}")
    if (height is None) != (width is None):
        raise ConversionError("give both --height and --width for a static shape, or neither for a dynamic one")
    path = Path(path)
    network = network.to("cpu").eval()
    static = height is not None
    example = torch.zeros(1, 3, height or EXAMPLE_HEIGHT, width or EXAMPLE_WIDTH)
    num_stages = len(network(example)) // 2 if all_stages else 1
    names = output_names(num_stages, all_stages)
    dynamic_shapes = None if static else {"image": {2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}}
    for noisy in ("onnxscript", "onnx_ir"):  # their INFO lines are exporter internals, not progress
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
    # "torchvision is not installed. Skipping torchvision::nms": this network has no torchvision ops
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    registration.setLevel(max(logging.ERROR, registration.level))
    with torch.no_grad(), warnings.catch_warnings():
        # torch's exporter deep-copies its own call graph through a deprecated pytree path; nothing a user can act on
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                category=FutureWarning)
        torch.onnx.export(_stage_outputs_module(network, all_stages), (example,), str(path),
                          input_names=[IR_INPUT_NAME], output_names=names, opset_version=opset,
                          dynamic_shapes=dynamic_shapes, external_data=False, verbose=False)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:  # the exporter falls back to its own opset when it cannot convert to the one asked for
        raise ConversionError(f"ONNX opset {opset} is not available from this exporter (it wrote opset {written}): "
                              f"use {MIN_OPSET} to {MAX_OPSET}")
    log.info("exported ONNX %s (opset %d, %s input, outputs %s)", path, opset,
             f"{height}x{width}" if static else "dynamic", names)
    return path
