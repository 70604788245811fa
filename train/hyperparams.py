"""The paper's optimiser constants (the original training script's), in a torch-free module so that
:mod:`train.synthetic` and the quickstart can name them without importing torch; :mod:`train.optim` uses them.
"""
from __future__ import annotations

__all__ = ["BASE_LR", "WEIGHT_DECAY", "ADAM_BETA2", "MILESTONES", "GAMMA"]

#: Adam's base learning rate.
BASE_LR = 4e-5
#: L2 weight decay of the conv weights (depthwise, BN and biases are never decayed).
WEIGHT_DECAY = 5e-4
#: Adam's second-moment decay (PyTorch's default, which the original script keeps; beta1 stays at 0.9).
ADAM_BETA2 = 0.999
#: MultiStepLR milestones (epochs) and factor of the paper's schedule.
MILESTONES = (100, 200, 260)
GAMMA = 0.333
