"""Tiny OpenVINO models shaped like the two pose-model kinds (built with openvino.opset), shared by the runtime tests.

``tiny_pose_model`` is this project's IR in miniature: input ``image`` u8 NHWC, an 8x8 average pool (stride 8) and
1x1 convolutions to ``heatmaps`` [1, 19, H/8, W/8] and ``pafs`` [1, 38, H/8, W/8]. Heatmap channel 0 is the cell's
mean intensity / 255, so a test can tell which frame a map came from; inference takes microseconds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from pose_format import (IR_HEATMAPS_NAME, IR_INPUT_NAME, IR_PAFS_NAME, OMZ_HEATMAPS_NAME, OMZ_INPUT_NAME,
                         OMZ_PAFS_NAME, RT_INFO_SECTION, rt_info_fields)


def _conv1x1(x, weights: np.ndarray):
    return ops.convolution(x, ops.constant(weights.astype(np.float32)), [1, 1], [0, 0], [0, 0], [1, 1])


def tiny_pose_model(kind: str = "lwpose", heat_channels: int = 19, paf_channels: int = 38,
                    rt_info: dict[str, str] | None = None, input_name: str | None = None, stride: int = 8,
                    cells_wide: int | None = None) -> ov.Model:
    """A minute pose-shaped model of ``kind`` "lwpose" (u8 NHWC ``image``) or "omz" (f32 NCHW ``data``).

    ``stride``: the pooling size (input pixels per map cell). ``cells_wide``: a fixed Reshape to ``[1, 3, -1, N]``
    after pooling, so the model reshapes only to inputs ``N`` cells wide (others fail, like an IR with shapes
    baked into its topology)."""
    if kind == "lwpose":
        param = ops.parameter([1, -1, -1, 3], ov.Type.u8, name=input_name or IR_INPUT_NAME)
        x = ops.transpose(ops.convert(param, ov.Type.f32), ops.constant(np.array([0, 3, 1, 2], np.int64)))
        names = (IR_HEATMAPS_NAME, IR_PAFS_NAME)
    else:
        param = ops.parameter([1, 3, 64, 96], ov.Type.f32, name=input_name or OMZ_INPUT_NAME)
        x = param
        names = (OMZ_HEATMAPS_NAME, OMZ_PAFS_NAME)
    pooled = ops.avg_pool(x, [stride, stride], [0, 0], [0, 0], [stride, stride], exclude_pad=True)
    if cells_wide is not None:
        pooled = ops.reshape(pooled, ops.constant(np.array([1, 3, -1, cells_wide], np.int64)), False)
    w_heat = np.zeros((heat_channels, 3, 1, 1))
    w_heat[0] = 1.0 / (3 * 255)
    w_pafs = np.full((paf_channels, 3, 1, 1), 1e-3)
    heat, pafs = _conv1x1(pooled, w_heat), _conv1x1(pooled, w_pafs)
    heat.output(0).get_tensor().set_names({names[0]})
    pafs.output(0).get_tensor().set_names({names[1]})
    outputs = [pafs, heat] if kind == "omz" else [heat, pafs]
    model = ov.Model(outputs, [param], f"tiny_{kind}")
    if kind == "lwpose":
        fields = dict(rt_info_fields(), precision="FP32", source_sha256="0" * 64) if rt_info is None else rt_info
        for key, value in fields.items():
            model.set_rt_info(value, [RT_INFO_SECTION, key])
    return model


def not_a_pose_model() -> ov.Model:
    """An image classifier-like model: u8 NHWC input, one [1, 5] output."""
    param = ops.parameter([1, 32, 32, 3], ov.Type.u8, name="image")
    x = ops.reduce_mean(ops.convert(param, ov.Type.f32), ops.constant(np.array([1, 2], np.int64)), keep_dims=False)
    out = ops.matmul(x, ops.constant(np.ones((3, 5), np.float32)), False, False)
    return ov.Model([out], [param], "classifier")


def save(model: ov.Model, path: Path) -> Path:
    """Save an IR (``path`` .xml + .bin) and return the .xml path."""
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def test_tiny_models_have_the_advertised_shapes():
    model = tiny_pose_model()
    model.reshape({0: [1, 64, 96, 3]})
    assert [list(o.get_shape()) for o in model.outputs] == [[1, 19, 8, 12], [1, 38, 8, 12]]
    omz = tiny_pose_model("omz")
    assert [list(o.get_shape()) for o in omz.outputs] == [[1, 38, 8, 12], [1, 19, 8, 12]]
