"""Training side of Lightweight OpenPose: the PyTorch model, checkpoints, data, targets, loss and training loop.

Public API (see README.md, "Training")::

    from train import load_model, save_checkpoint, CocoPoseDataset, TrainConfig, train, evaluate_model

Names load on first use (PEP 562), so ``python -m train.evaluate`` and ``python -m train.synthetic`` run their
module once, without importing it first through the package.
"""
from __future__ import annotations

import importlib

_EXPORTS: dict[str, str] = {
    "PoseEstimationWithMobileNet": "train.model",
    "IMAGENET_BACKBONE_BLOCKS": "train.checkpoint",
    "CheckpointError": "train.checkpoint",
    "LoadReport": "train.checkpoint",
    "filter_state_dict": "train.checkpoint",
    "load_imagenet_backbone": "train.checkpoint",
    "load_model": "train.checkpoint",
    "load_weights": "train.checkpoint",
    "read_checkpoint": "train.checkpoint",
    "save_checkpoint": "train.checkpoint",
    "unwrap_model": "train.checkpoint",
    "cpu_state_dict": "train.checkpoint",
    "strip_module_prefix": "train.checkpoint",
    "refinement_stages_in": "train.checkpoint",
    "render_heatmaps": "train.targets",
    "render_mask": "train.targets",
    "render_pafs": "train.targets",
    "render_targets": "train.targets",
    "FLIP_PERMUTATION_18": "train.augment",
    "AugmentConfig": "train.augment",
    "apply_transform": "train.augment",
    "flip_keypoints": "train.augment",
    "sample_transform": "train.augment",
    "CocoPoseDataset": "train.dataset",
    "SKIPPED_ID_SLOTS": "train.dataset",
    "ImageRecord": "train.dataset",
    "load_coco_records": "train.dataset",
    "read_record_image": "train.dataset",
    "masked_l2": "train.loss",
    "pose_loss": "train.loss",
    "WeightAverage": "train.ema",
    "make_optimizer": "train.optim",
    "make_scheduler": "train.optim",
    "param_groups": "train.optim",
    "detect_coco": "train.evaluate",
    "evaluate_model": "train.evaluate",
    "format_table": "train.evaluate",
    "predict_maps": "train.evaluate",
    "predict_tta": "train.evaluate",
    "describe_tta": "train.evaluate",
    "TrainConfig": "train.trainer",
    "TrainResult": "train.trainer",
    "train": "train.trainer",
    "SYNTHETIC_RECIPE": "train.synthetic",
    "SyntheticConfig": "train.synthetic",
    "SyntheticRecipe": "train.synthetic",
    "generate_dataset": "train.synthetic",
    "render_scene": "train.synthetic",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'train' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
