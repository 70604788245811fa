"""Deployable OpenVINO runtime for Lightweight OpenPose (openvino + numpy + opencv only, never torch)."""
from ov_inference.pose import Pose
from ov_inference.decoder import DecoderOptions, decode_poses
from ov_inference.coco import evaluate_keypoints, poses_to_coco

__all__ = ["Pose", "DecoderOptions", "decode_poses", "poses_to_coco", "evaluate_keypoints"]
