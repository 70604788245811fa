"""The paper's optimiser constants (the original training script's) and the range check of a run's settings, in a
torch-free module so that :mod:`train.synthetic` and the quickstart can use them without importing torch;
:mod:`train.optim` and :mod:`train.trainer` use them too.
"""
from __future__ import annotations

import math

from pose_format import check_input_side

__all__ = ["BASE_LR", "WEIGHT_DECAY", "ADAM_BETA2", "MILESTONES", "GAMMA", "check_run_settings",
           "check_hyperparameters"]

#: Adam's base learning rate.
BASE_LR = 4e-5
#: L2 weight decay of the conv weights (depthwise, BN and biases are never decayed).
WEIGHT_DECAY = 5e-4
#: Adam's second-moment decay (PyTorch's default, which the original script keeps; beta1 stays at 0.9).
ADAM_BETA2 = 0.999
#: MultiStepLR milestones (epochs) and factor of the paper's schedule.
MILESTONES = (100, 200, 260)
GAMMA = 0.333


def check_run_settings(max_iters: int | None, adam_beta2: float, num_refinement_stages: int = 1) -> None:
    """Raise ``ValueError`` naming the command-line flag when ``max_iters`` (``None``: no limit) is below 1,
    ``adam_beta2`` is outside [0, 1) or ``num_refinement_stages`` is negative. The trainer checks before it builds
    anything, the quickstart before it generates any data."""
    if max_iters is not None and max_iters < 1:
        raise ValueError(f"--max-iters must be at least 1, got {max_iters}")
    if not 0.0 <= adam_beta2 < 1.0:
        raise ValueError(f"--adam-beta2 must be in [0, 1), got {adam_beta2}")
    if num_refinement_stages < 0:
        raise ValueError(f"--num-refinement-stages must be 0 or more, got {num_refinement_stages}")


def check_hyperparameters(*, lr: float, gamma: float, weight_decay: float, foreground_weight: float, ema: float,
                          target_dist: float, center_jitter: float, flip_prob: float, seed: int, crop_size: int,
                          max_rotation: float, scale_range: tuple[float, float]) -> None:
    """Raise ``ValueError`` naming the command-line flag for a training hyperparameter no run can use (a negative
    ``--gamma`` would climb the loss; ``--target-dist 0`` makes crops of one colour): the trainer and the quickstart
    check before anything is generated or read."""
    for flag, value, ok, wanted in (
            ("--lr", lr, lr > 0, "> 0"),
            ("--gamma", gamma, 0 < gamma <= 1, "in (0, 1] (a learning-rate decay factor)"),
            ("--weight-decay", weight_decay, weight_decay >= 0, ">= 0"),
            ("--foreground-weight", foreground_weight, foreground_weight >= 0, ">= 0"),
            ("--ema", ema, 0 <= ema < 1, "in [0, 1) (0: off)"),
            ("--target-dist", target_dist, target_dist > 0, "> 0 (the person's share of the crop)"),
            ("--center-jitter", center_jitter, center_jitter >= 0, ">= 0 pixels"),
            ("--flip-prob", flip_prob, 0 <= flip_prob <= 1, "a probability in [0, 1]"),
            ("--seed", seed, seed >= 0, ">= 0"),
            ("--max-rotation", max_rotation, 0 <= max_rotation <= 180, "within [0, 180] degrees")):
        if not (ok and math.isfinite(value)):
            raise ValueError(f"{flag} must be {wanted}, got {value}")
    check_input_side(crop_size, "--crop-size")
    low, high = scale_range
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise ValueError(f"--scale-min / --scale-max must be positive with min <= max, got {low} and {high}")
