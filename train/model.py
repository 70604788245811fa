"""Lightweight OpenPose network: MobileNet-v1 backbone, CPM, initial stage and refinement stages.

Module and attribute names follow the published checkpoint exactly (``model.0.0.weight``, ``cpm.align.0.weight``,
``initial_stage.heatmaps.1.0.bias``, ``refinement_stages.0.trunk.0.initial.0.weight``): do not rename them.
Input: float ``[N, 3, H, W]`` planar BGR normalized as ``(pixel - 128) / 256`` with H, W multiples of 8.
Output: list ``[heatmaps_0, pafs_0, heatmaps_1, pafs_1, ...]``, each ``[N, 19 | 38, H / 8, W / 8]``.
"""
from __future__ import annotations

import torch
from torch import nn

from pose_format import NUM_HEATMAPS, NUM_PAFS


def conv(in_ch: int, out_ch: int, kernel_size: int = 3, padding: int = 1, bn: bool = True, dilation: int = 1,
         stride: int = 1, relu: bool = True, bias: bool = True) -> nn.Sequential:
    """Conv (+ BatchNorm) (+ ReLU)."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation, bias=bias)]
    if bn:
        layers.append(nn.BatchNorm2d(out_ch))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise ``nn.Conv2d`` (same parameters and checkpoint keys) with faster training paths on CPU.

    oneDNN's backward pass of depthwise convolutions is slow in two cases this network has, measured on this
    project's AVX-512 CPU at batch 8, 128x128 crops (forward + backward):

    - stride 2 under bf16 autocast: 6.5 ms (64 channels, 64x64) vs 0.8 ms in float32, so these run in float32;
    - dilation 2: 8.5 ms (512 channels, 16x16) vs 0.5 ms undilated, so with even map sides it runs as the
      equivalent undilated convolution of the four 2x2 phase sub-maps stacked on the batch (exact: the zero
      padding of each phase is the zero padding of the whole map).

    Both paths apply only when gradients are on, so inference and ONNX export see a plain convolution.
    """

    def __init__(self, channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1, dilation: int = 1):
        super().__init__(channels, channels, kernel_size, stride, padding, dilation=dilation, groups=channels,
                         bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled() or x.device.type != "cpu" or torch.jit.is_tracing() or torch.jit.is_scripting():
            return super().forward(x)
        if self.stride != (1, 1) and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        n, c, h, w = x.shape
        if self.dilation == (2, 2) and self.stride == (1, 1) and self.padding == (2, 2) and h % 2 == 0 and w % 2 == 0:
            # phase (i, j) holds pixels (2y + i, 2x + j); permutes keep the channels innermost (NHWC in memory)
            nhwc = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c).permute(2, 4, 0, 1, 3, 5)
            phases = nhwc.reshape(4 * n, h // 2, w // 2, c).permute(0, 3, 1, 2)
            y = nn.functional.conv2d(phases, self.weight, None, 1, 1, 1, self.groups)
            y = y.permute(0, 2, 3, 1).reshape(2, 2, n, h // 2, w // 2, c).permute(2, 3, 0, 4, 1, 5)
            return y.reshape(n, h, w, c).permute(0, 3, 1, 2)
        return super().forward(x)


def conv_dw(in_ch: int, out_ch: int, kernel_size: int = 3, padding: int = 1, stride: int = 1,
            dilation: int = 1) -> nn.Sequential:
    """Depthwise-separable MobileNet block with BatchNorm and ReLU."""
    return nn.Sequential(
        DepthwiseConv2d(in_ch, kernel_size, stride, padding, dilation),
        nn.BatchNorm2d(in_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_ch, out_ch, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def conv_dw_no_bn(in_ch: int, out_ch: int, kernel_size: int = 3, padding: int = 1, stride: int = 1,
                  dilation: int = 1) -> nn.Sequential:
    """Depthwise-separable block without BatchNorm, ELU activations (used in the CPM)."""
    return nn.Sequential(
        nn.Conv2d(in_ch, in_ch, kernel_size, stride, padding, dilation=dilation, groups=in_ch, bias=False),
        nn.ELU(inplace=True),
        nn.Conv2d(in_ch, out_ch, 1, 1, 0, bias=False),
        nn.ELU(inplace=True),
    )


class Cpm(nn.Module):
    """Convolutional pose machine adapter: 512 backbone channels -> ``out_ch`` features."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.align = conv(in_ch, out_ch, kernel_size=1, padding=0, bn=False)
        self.trunk = nn.Sequential(*(conv_dw_no_bn(out_ch, out_ch) for _ in range(3)))
        self.conv = conv(out_ch, out_ch, bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.align(x)
        return self.conv(x + self.trunk(x))


class InitialStage(nn.Module):
    """First prediction stage: shared trunk, then heatmap and PAF heads."""

    def __init__(self, num_channels: int, num_heatmaps: int, num_pafs: int):
        super().__init__()
        self.trunk = nn.Sequential(*(conv(num_channels, num_channels, bn=False) for _ in range(3)))
        self.heatmaps = nn.Sequential(
            conv(num_channels, 512, kernel_size=1, padding=0, bn=False),
            conv(512, num_heatmaps, kernel_size=1, padding=0, bn=False, relu=False),
        )
        self.pafs = nn.Sequential(
            conv(num_channels, 512, kernel_size=1, padding=0, bn=False),
            conv(512, num_pafs, kernel_size=1, padding=0, bn=False, relu=False),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.trunk(x)
        return [self.heatmaps(features), self.pafs(features)]


class RefinementStageBlock(nn.Module):
    """1x1 projection plus a residual pair of 3x3 convs (the second dilated by 2)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.initial = conv(in_ch, out_ch, kernel_size=1, padding=0, bn=False)
        self.trunk = nn.Sequential(conv(out_ch, out_ch), conv(out_ch, out_ch, dilation=2, padding=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        initial = self.initial(x)
        return initial + self.trunk(initial)


class RefinementStage(nn.Module):
    """Refinement stage: five residual blocks, then heatmap and PAF heads."""

    def __init__(self, in_ch: int, out_ch: int, num_heatmaps: int, num_pafs: int):
        super().__init__()
        self.trunk = nn.Sequential(RefinementStageBlock(in_ch, out_ch),
                                   *(RefinementStageBlock(out_ch, out_ch) for _ in range(4)))
        self.heatmaps = nn.Sequential(
            conv(out_ch, out_ch, kernel_size=1, padding=0, bn=False),
            conv(out_ch, num_heatmaps, kernel_size=1, padding=0, bn=False, relu=False),
        )
        self.pafs = nn.Sequential(
            conv(out_ch, out_ch, kernel_size=1, padding=0, bn=False),
            conv(out_ch, num_pafs, kernel_size=1, padding=0, bn=False, relu=False),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.trunk(x)
        return [self.heatmaps(features), self.pafs(features)]


class PoseEstimationWithMobileNet(nn.Module):
    """The Lightweight OpenPose network (arXiv 1811.12004)."""

    def __init__(self, num_refinement_stages: int = 1, num_channels: int = 128,
                 num_heatmaps: int = NUM_HEATMAPS, num_pafs: int = NUM_PAFS):
        super().__init__()
        if not isinstance(num_refinement_stages, int) or num_refinement_stages < 0:
            raise ValueError(f"num_refinement_stages must be an integer >= 0 (0: the initial stage only), "
                             f"got {num_refinement_stages!r}")
        self.num_refinement_stages = num_refinement_stages
        self.model = nn.Sequential(
            conv(3, 32, stride=2, bias=False),
            conv_dw(32, 64),
            conv_dw(64, 128, stride=2),
            conv_dw(128, 128),
            conv_dw(128, 256, stride=2),
            conv_dw(256, 256),
            conv_dw(256, 512),  # conv4_2
            conv_dw(512, 512, dilation=2, padding=2),
            conv_dw(512, 512),
            conv_dw(512, 512),
            conv_dw(512, 512),
            conv_dw(512, 512),  # conv5_5
        )
        self.cpm = Cpm(512, num_channels)
        self.initial_stage = InitialStage(num_channels, num_heatmaps, num_pafs)
        self.refinement_stages = nn.ModuleList(
            RefinementStage(num_channels + num_heatmaps + num_pafs, num_channels, num_heatmaps, num_pafs)
            for _ in range(num_refinement_stages)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.cpm(self.model(x))
        outputs = self.initial_stage(features)
        for stage in self.refinement_stages:
            outputs.extend(stage(torch.cat([features, outputs[-2], outputs[-1]], dim=1)))
        return outputs
