"""Tensor names and rt_info fields of the IRs the runtime accepts."""
from __future__ import annotations

from pose_format.geometry import NORM_MEAN, NORM_SCALE, PAD_VALUE, STRIDE
from pose_format.keypoints import KEYPOINT_NAMES, LIMBS
from pose_format.version import __version__

#: This project's IR: input ``image`` u8 NHWC BGR (normalization inside), outputs ``heatmaps`` / ``pafs``.
IR_INPUT_NAME = "image"
IR_HEATMAPS_NAME = "heatmaps"
IR_PAFS_NAME = "pafs"
#: Intel's Open Model Zoo ``human-pose-estimation-0001``: input ``data`` f32 NCHW raw BGR.
OMZ_INPUT_NAME = "data"
OMZ_PAFS_NAME = "Mconv7_stage2_L1"
OMZ_HEATMAPS_NAME = "Mconv7_stage2_L2"

#: rt_info section written by convert and read by ov_inference: ``model.get_rt_info([RT_INFO_SECTION, key])``.
RT_INFO_SECTION = "lwpose"
MODEL_TYPE = "lightweight_openpose"
#: The IR storage precisions convert writes (``rt_info[RT_INFO_SECTION]["precision"]``): f32 weights, f16 weights,
#: or quantized (FakeQuantize) convolutions.
IR_PRECISIONS = ("FP32", "FP16", "INT8")


def rt_info_fields() -> dict[str, str]:
    """The format facts as the string fields convert writes into an IR's rt_info (precision and source added there)."""
    return {
        "model_type": MODEL_TYPE,
        "stride": str(STRIDE),
        "keypoint_names": ",".join(KEYPOINT_NAMES),
        "limbs": " ".join(f"{a}-{b}" for a, b in LIMBS),
        "norm_mean": str(NORM_MEAN),
        "norm_scale": str(NORM_SCALE),
        "pad_value": str(PAD_VALUE),
        "input_layout": "NHWC",
        "color_order": "BGR",
        "package_version": __version__,
    }
