"""Adam with the paper's learning-rate multiplier groups, and the MultiStepLR schedule (format.md).

Groups (multipliers of the base lr; "no decay" = weight decay 0), as in the original training script:
backbone conv weights x1, depthwise weights x1 no decay, BN weights x1 no decay, BN biases x2 no decay;
CPM and initial stage conv weights x1, conv biases x2 no decay, CPM depthwise weights x1 no decay;
refinement stages conv weights x4, conv biases x8 no decay, BN weights x1 no decay, BN biases x2 no decay.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from train.checkpoint import unwrap_model
from train.hyperparams import ADAM_BETA2, BASE_LR, GAMMA, MILESTONES, WEIGHT_DECAY

__all__ = ["BASE_LR", "WEIGHT_DECAY", "ADAM_BETA2", "MILESTONES", "GAMMA", "param_groups", "make_optimizer",
           "make_scheduler", "apply_warmup", "LR_SCHEDULES", "budget_factor", "apply_budget_decay"]


def _params(module: nn.Module, predicate: Callable[[nn.Module, str], bool]) -> Iterator[nn.Parameter]:
    for m in module.modules():
        for name, p in m.named_parameters(recurse=False):
            if predicate(m, name):
                yield p


def _conv(name: str) -> Callable[[nn.Module, str], bool]:
    return lambda m, p: isinstance(m, nn.Conv2d) and m.groups == 1 and p == name


def _depthwise(name: str) -> Callable[[nn.Module, str], bool]:
    return lambda m, p: (isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels
                         and m.in_channels == m.out_channels and p == name)


def _bn(name: str) -> Callable[[nn.Module, str], bool]:
    return lambda m, p: isinstance(m, nn.BatchNorm2d) and p == name


def param_groups(model: nn.Module, base_lr: float = BASE_LR, multipliers: bool = True) -> list[dict]:
    """The paper's parameter groups for a :class:`~train.model.PoseEstimationWithMobileNet` (DDP unwrapped).

    Every trainable parameter lands in exactly one group (checked). Groups carry ``lr`` and, where decay is off,
    ``weight_decay = 0``; a ``name`` key documents each group. ``multipliers=False`` keeps the groups and their
    weight-decay rules but runs every group at ``base_lr``.
    """
    model = unwrap_model(model)
    lr = base_lr
    x2, x4, x8 = (2, 4, 8) if multipliers else (1, 1, 1)
    spec = [
        ("backbone.conv.weight", model.model, _conv("weight"), lr, None),
        ("backbone.depthwise.weight", model.model, _depthwise("weight"), lr, 0.0),
        ("backbone.bn.weight", model.model, _bn("weight"), lr, 0.0),
        ("backbone.bn.bias", model.model, _bn("bias"), lr * x2, 0.0),
        ("cpm.conv.weight", model.cpm, _conv("weight"), lr, None),
        ("cpm.conv.bias", model.cpm, _conv("bias"), lr * x2, 0.0),
        ("cpm.depthwise.weight", model.cpm, _depthwise("weight"), lr, 0.0),
        ("initial.conv.weight", model.initial_stage, _conv("weight"), lr, None),
        ("initial.conv.bias", model.initial_stage, _conv("bias"), lr * x2, 0.0),
        ("refinement.conv.weight", model.refinement_stages, _conv("weight"), lr * x4, None),
        ("refinement.conv.bias", model.refinement_stages, _conv("bias"), lr * x8, 0.0),
        ("refinement.bn.weight", model.refinement_stages, _bn("weight"), lr, 0.0),
        ("refinement.bn.bias", model.refinement_stages, _bn("bias"), lr * x2, 0.0),
    ]
    groups, seen = [], set()
    for name, module, predicate, group_lr, decay in spec:
        params = [p for p in _params(module, predicate) if p.requires_grad]
        if not params:
            continue
        group = {"name": name, "params": params, "lr": group_lr}
        if decay is not None:
            group["weight_decay"] = decay
        groups.append(group)
        for p in params:
            if id(p) in seen:
                raise AssertionError(f"parameter in two groups ({name})")
            seen.add(id(p))
    left = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if left:
        raise AssertionError(f"parameters without an lr group: {left}")
    return groups


def make_optimizer(model: nn.Module, base_lr: float = BASE_LR, weight_decay: float = WEIGHT_DECAY,
                   multipliers: bool = True, beta2: float = ADAM_BETA2) -> torch.optim.Adam:
    """Adam over :func:`param_groups` (``multipliers``: the paper's per-group lr multipliers) with default weight
    decay ``weight_decay`` and betas ``(0.9, beta2)``. Its fused implementation when every parameter is on a CPU or
    CUDA device (the same update; on this project's 2-core CPU its step takes 3.0 instead of 6.7 ms for the whole
    network)."""
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in model.parameters())
    return torch.optim.Adam(param_groups(model, base_lr, multipliers), lr=base_lr, weight_decay=weight_decay,
                            betas=(0.9, beta2), fused=fused or None)


def make_scheduler(optimizer: torch.optim.Optimizer, milestones=MILESTONES, gamma: float = GAMMA
                   ) -> torch.optim.lr_scheduler.MultiStepLR:
    """MultiStepLR stepped once per epoch (milestones in epochs)."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma)


#: ``step``: MultiStepLR at the milestones (the paper's); ``linear``: warm-up, then a linear decay to zero at the end
#: of the run's budget (:func:`apply_budget_decay`).
LR_SCHEDULES = ("step", "linear")


def budget_factor(progress: float, warmup_progress: float = 0.0) -> float:
    """The lr factor of the ``linear`` schedule at ``progress`` (fraction of the run's budget done, 0..1): 1 at the
    end of the warm-up (``warmup_progress``, the same fraction), falling linearly to 0 at 1. Budget-aware decay
    ("Budgeted Training", Li et al., ICLR 2020): a run that knows its length ends at a low rate instead of holding
    the last MultiStepLR level."""
    if progress <= warmup_progress:
        return 1.0
    return max(0.0, 1.0 - (progress - warmup_progress) / max(1.0 - warmup_progress, 1e-9))


def apply_budget_decay(optimizer: torch.optim.Optimizer, progress: float, warmup_progress: float = 0.0) -> None:
    """Set every group's rate to ``initial_lr * budget_factor(progress, warmup_progress)``; call it before each
    step, then :func:`apply_warmup` (which overrides it during the warm-up)."""
    factor = budget_factor(progress, warmup_progress)
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor


def apply_warmup(optimizer: torch.optim.Optimizer, iteration: int, warmup_iters: int) -> None:
    """Linear learning-rate warm-up: before ``warmup_iters`` iterations every group runs at
    ``initial_lr * (iteration + 1) / warmup_iters`` (``initial_lr``: the group's rate set by the scheduler's
    creation); at ``iteration == warmup_iters`` the rates go back to ``initial_lr``. Call it before each step.
    Warm-up is meant to end before the first MultiStepLR milestone (the rates are not multiplied by its gamma).
    """
    if warmup_iters <= 0 or iteration > warmup_iters:
        return
    factor = min(1.0, (iteration + 1) / warmup_iters)
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor
