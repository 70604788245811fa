"""Training side of Lightweight OpenPose: the PyTorch model, checkpoints, data, targets, loss and training loop.

Public API (see README.md, "Training")::

    from train import load_model, save_checkpoint, CocoPoseDataset, TrainConfig, train, evaluate_model
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
from train.targets import render_heatmaps, render_mask, render_pafs, render_targets
from train.augment import FLIP_PERMUTATION_18, AugmentConfig, apply_transform, flip_keypoints, sample_transform
from train.dataset import CocoPoseDataset, ImageRecord, load_coco_records, read_image
from train.loss import masked_l2, pose_loss
from train.optim import make_optimizer, make_scheduler, param_groups
from train.evaluate import detect_coco, evaluate_model, format_table, predict_maps
from train.trainer import TrainConfig, TrainResult, train
from train.synthetic import SYNTHETIC_RECIPE, SyntheticConfig, SyntheticRecipe, generate_dataset, render_scene

__all__ = [
    "PoseEstimationWithMobileNet",
    "IMAGENET_BACKBONE_BLOCKS", "CheckpointError", "LoadReport", "filter_state_dict", "load_imagenet_backbone",
    "load_model", "load_weights", "read_checkpoint", "save_checkpoint", "strip_module_prefix",
    "render_heatmaps", "render_mask", "render_pafs", "render_targets",
    "FLIP_PERMUTATION_18", "AugmentConfig", "apply_transform", "flip_keypoints", "sample_transform",
    "CocoPoseDataset", "ImageRecord", "load_coco_records", "read_image",
    "masked_l2", "pose_loss", "make_optimizer", "make_scheduler", "param_groups",
    "detect_coco", "evaluate_model", "format_table", "predict_maps",
    "TrainConfig", "TrainResult", "train",
    "SYNTHETIC_RECIPE", "SyntheticConfig", "SyntheticRecipe", "generate_dataset", "render_scene",
]
