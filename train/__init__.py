"""Training side of Lightweight OpenPose: the PyTorch model, checkpoints, data, targets, loss and training loop.

Public API (see docs/train.md)::

    from train import load_model, PoseEstimationWithMobileNet, save_checkpoint
"""
from train.model import PoseEstimationWithMobileNet
from train.checkpoint import (
    IMAGENET_BACKBONE_BLOCKS,
    CheckpointError,
    LoadReport,
    filter_state_dict,
    load_imagenet_backbone,
    load_model,
    load_weights,
    read_checkpoint,
    save_checkpoint,
    strip_module_prefix,
)
from train.targets import render_heatmaps, render_pafs

__all__ = [
    "PoseEstimationWithMobileNet",
    "IMAGENET_BACKBONE_BLOCKS", "CheckpointError", "LoadReport", "filter_state_dict", "load_imagenet_backbone",
    "load_model", "load_weights", "read_checkpoint", "save_checkpoint", "strip_module_prefix",
    "render_heatmaps", "render_pafs",
]
