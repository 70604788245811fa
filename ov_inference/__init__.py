"""Deployable OpenVINO runtime for Lightweight OpenPose (openvino + numpy + opencv only, never torch).

- :class:`PoseEstimator`: a frame in, :class:`Pose` objects in the frame's pixels out (this project's IR or OMZ's).
- :class:`AsyncPipeline`: asynchronous requests, results in submission order, back-pressure or live frame dropping.
- :func:`decode_poses`: heatmaps + PAFs -> poses in network-input pixels.
- :func:`merge_predictions`: test-time augmentation, maps of several input scales and flips averaged on one grid.
- :class:`PoseTracker` / :class:`PoseSmoother`: stable person ids and One Euro keypoint smoothing (optional).
- :func:`open_source`: frames from an image, a folder, a video or a camera, with per-frame error records;
  :func:`read_image` / :func:`read_annotated_image`: one image file (brought to its COCO annotation's size).
"""
from ov_inference.pose import Pose
from ov_inference.decoder import DecoderOptions, decode_poses
from ov_inference.coco import coco_ground_truth, evaluate_keypoints, poses_to_coco
from ov_inference.tta import (MULTISCALE_SCALES, MapPrediction, content_width, flip_maps_back, merge_predictions,
                              mirror_content, resample_maps, scaled_height)
from ov_inference.adapter import (CorruptModelError, ModelCompileError, ModelFileError, ModelSpec,
                                  UnsupportedModelError, available_devices, inspect_model, read_model, read_rt_info)
from ov_inference.preprocessing import letterbox_frame, to_bgr
from ov_inference.estimator import PoseEstimator
from ov_inference.pipeline import AsyncPipeline, PipelineResult
from ov_inference.tracking import PoseTracker
from ov_inference.smoothing import OneEuroFilter, PoseSmoother
from ov_inference.sources import Frame, SourceError, open_source, read_annotated_image, read_image
from ov_inference.records import RecordWriter, frame_record

__all__ = [
    "Pose", "DecoderOptions", "decode_poses", "poses_to_coco", "evaluate_keypoints", "coco_ground_truth",
    "CorruptModelError", "ModelCompileError", "ModelFileError", "ModelSpec", "UnsupportedModelError",
    "available_devices", "inspect_model", "read_model",
    "read_rt_info", "letterbox_frame", "to_bgr", "PoseEstimator", "AsyncPipeline", "PipelineResult",
    "PoseTracker", "OneEuroFilter", "PoseSmoother", "Frame", "SourceError", "open_source", "read_image",
    "read_annotated_image",
    "RecordWriter", "frame_record",
    "MULTISCALE_SCALES", "MapPrediction", "content_width", "scaled_height", "flip_maps_back", "resample_maps",
    "merge_predictions", "mirror_content",
]
