"""The paper's optimiser constants (the original training script's) and the range check of a run's settings, in a
torch-free module so that :mod:`train.synthetic` and the quickstart can use them without importing torch;
:mod:`train.optim` and :mod:`train.trainer` use them too.
"""
from __future__ import annotations

__all__ = ["BASE_LR", "WEIGHT_DECAY", "ADAM_BETA2", "MILESTONES", "GAMMA", "check_run_settings"]

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
