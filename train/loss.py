"""Masked L2 loss over all stages (the paper's loss)."""
from __future__ import annotations

import torch

from pose_format import NUM_KEYPOINTS

__all__ = ["masked_l2", "pose_loss", "heatmap_weights"]


def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum(mask * (pred - target)^2) / 2 / batch`` for ``[N, C, h, w]`` maps; ``mask`` broadcasts (``[N, 1, h, w]``).

    Computed in float32 whatever the prediction's dtype (so autocast outputs do not lose the small residuals).
    """
    diff = pred.float() - target.float()
    return (diff * diff * mask.float()).sum() / 2 / pred.shape[0]


def heatmap_weights(heatmaps: torch.Tensor, mask: torch.Tensor, foreground_weight: float) -> torch.Tensor:
    """Per-cell loss weights ``[N, 19, h, w]``: ``mask * (1 + foreground_weight * fg)``.

    ``fg`` is the target itself on the 18 keypoint channels and ``1 - target`` (the largest keypoint Gaussian) on
    the background channel, so the cells around keypoints weigh up to ``1 + foreground_weight`` times the rest.
    """
    fg = heatmaps.float().clone()
    fg[:, NUM_KEYPOINTS:] = 1 - fg[:, NUM_KEYPOINTS:]
    return mask.float() * (1 + foreground_weight * fg)


def pose_loss(outputs: list[torch.Tensor], heatmaps: torch.Tensor, pafs: torch.Tensor,
              mask: torch.Tensor, foreground_weight: float = 0.0) -> tuple[torch.Tensor, list[float]]:
    """Sum over stages of the masked heatmap and PAF losses.

    ``outputs`` is the network's ``[heatmaps_0, pafs_0, heatmaps_1, pafs_1, ...]``. ``foreground_weight`` > 0
    weighs the heatmap cells around keypoints more (:func:`heatmap_weights`; 0: the paper's loss). Returns the
    total (for ``backward``) and the per-stage values as floats (heatmaps and PAFs summed) for logging.
    """
    if len(outputs) % 2:
        raise ValueError(f"expected heatmap/PAF pairs, got {len(outputs)} outputs")
    hm_mask = heatmap_weights(heatmaps, mask, foreground_weight) if foreground_weight else mask
    per_stage = []
    total = outputs[0].new_zeros((), dtype=torch.float32)
    for i in range(0, len(outputs), 2):
        stage = masked_l2(outputs[i], heatmaps, hm_mask) + masked_l2(outputs[i + 1], pafs, mask)
        per_stage.append(float(stage.detach()))
        total = total + stage
    return total, per_stage
