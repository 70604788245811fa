"""Second baseline for the decoder benchmark: Intel's Open Model Zoo OpenPose decoder, as its demo runs it.

Intel's ``human_pose_estimation_demo`` (Open Model Zoo) decodes with ``OpenPoseDecoder`` of OpenVINO Model API
(``model_api.models.open_pose``, removed from Model API after 0.2.x). This module runs *that* code, installed
from PyPI, not a copy: ``pip install --no-deps openvino-model-api==0.2.5`` (``--no-deps``: its requirements pin
the end-of-life ``openvino-dev``, which this project must not install). Model API 0.2.5 imports
``openvino.runtime``, which current OpenVINO no longer has; :func:`load_omz_decoder` aliases it to ``openvino``
(same classes) for this process when it is missing.

What the demo does around the decoder, reproduced in :func:`load_omz_decoder`'s ``decode``:

1. the heatmaps are max-pooled 3 x 3 (stride 1, padded) and only cells equal to their pooled value are kept as
   peak candidates (``OpenPose.heatmap_nms``; the demo adds this pooling to the network graph, here it is
   ``cv2.dilate``, a few microseconds, timed with the decoder);
2. ``OpenPoseDecoder(num_joints=18)`` with its defaults (score threshold 0.1, 100 peaks per type, ``delta`` 0.5)
   on the maps at network output resolution (the demo's default ``upsample_ratio`` of 1);
3. keypoints, returned in map cells plus ``delta``, are scaled by the stride to input pixels as the demo does
   (``x * 8``: cell ``j`` at ``8 j + 4``, half a pixel from this project's ``8 j + 3.5``) and the person score is
   the decoder's ``score * (count - 1)``.
"""
from __future__ import annotations

import sys

import cv2
import numpy as np

from ov_inference.pose import Pose
from pose_format import COCO17_TO_18, NUM_KEYPOINTS, STRIDE

__all__ = ["OMZ_PACKAGE", "load_omz_decoder"]

#: The last OpenVINO Model API release with the OpenPose model wrapper and decoder.
OMZ_PACKAGE = "openvino-model-api==0.2.5"


def load_omz_decoder():
    """``(decode, None)`` where ``decode(heatmaps [19, h, w], pafs [38, h, w]) -> list[Pose]`` (input pixels), or
    ``(None, reason)`` when Model API's OpenPose decoder cannot be imported."""
    try:
        import openvino.runtime  # noqa: F401
    except ImportError:
        import openvino

        sys.modules["openvino.runtime"] = openvino
        sys.modules["openvino.runtime.opset8"] = openvino.opset8
    try:
        from model_api.models.open_pose import OpenPoseDecoder
    except ImportError as exc:
        return None, (f"Open Model Zoo decoder not installed ({exc}); for this baseline: "
                      f".venv/bin/pip install --no-deps {OMZ_PACKAGE}")
    decoder = OpenPoseDecoder(num_joints=NUM_KEYPOINTS)
    kernel = np.ones((3, 3), np.uint8)

    def decode(heatmaps: np.ndarray, pafs: np.ndarray) -> list[Pose]:
        heat = np.ascontiguousarray(heatmaps[None], dtype=np.float32)
        pooled = np.stack([cv2.dilate(m, kernel) for m in heat[0]])[None]
        nms = heat * (heat == pooled)
        poses17, scores = decoder(heat, nms, np.ascontiguousarray(pafs[None], dtype=np.float32))
        out = []
        for person, score in zip(poses17, scores):
            kp = np.zeros((NUM_KEYPOINTS, 3), np.float32)
            kp[list(COCO17_TO_18)] = person
            kp[:, :2] *= STRIDE
            kp[kp[:, 2] <= 0] = 0.0
            out.append(Pose(kp, float(score)))
        return out

    return decode, None
