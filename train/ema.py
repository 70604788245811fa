"""Exponential moving average (EMA) of a network's weights, for validation and the saved checkpoints.

After each optimizer step, every floating-point tensor of the state dict (weights, biases, BatchNorm running
statistics) moves toward the trained network's: ``avg = avg * d + current * (1 - d)`` with
``d = min(decay, (1 + n) / (10 + n))`` at update ``n`` (so the first updates follow the network closely and the
average does not start from the random initialisation). Integer buffers (BatchNorm's batch counter) are copied.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from train.checkpoint import unwrap_model

__all__ = ["WeightAverage"]


class WeightAverage:
    """EMA of ``model``'s weights in ``self.module`` (a frozen eval-mode copy with the same layout)."""

    def __init__(self, model: nn.Module, decay: float, updates: int = 0):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = updates
        self.module = copy.deepcopy(unwrap_model(model)).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay that the next :meth:`update` applies."""
        n = self.updates + 1
        return min(self.decay, (1 + n) / (10 + n))

    def _pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor], list[tuple]]:
        # The state dicts' tensors alias the live parameters and buffers (updated in place by the optimizer and by
        # BatchNorm), so the lists are built once per trained model and reused by every update.
        if getattr(self, "_cached_for", None) is not model:
            avg, cur, ints = [], [], []
            for (name, a), b in zip(self.module.state_dict().items(), unwrap_model(model).state_dict().values()):
                if a.shape != b.shape:
                    raise ValueError(f"{name}: the averaged network has shape {tuple(a.shape)}, the trained one "
                                     f"{tuple(b.shape)}")
                if a.dtype.is_floating_point:
                    avg.append(a)
                    cur.append(b)
                else:
                    ints.append((a, b))
            self._lists = (avg, cur, ints)
            self._cached_for = model
        return self._lists

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average one step toward ``model``'s current weights."""
        d = self.current_decay()
        self.updates += 1
        avg, cur, ints = self._pairs(model)
        torch._foreach_lerp_(avg, cur, 1.0 - d)
        for a, b in ints:
            a.copy_(b)
