"""The network's fast depthwise training paths compute exactly what plain convolutions compute."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from train.model import DepthwiseConv2d, PoseEstimationWithMobileNet


def _plain(module: DepthwiseConv2d, x: torch.Tensor) -> torch.Tensor:
    return nn.Conv2d.forward(module, x)


@pytest.mark.parametrize("shape", [(2, 8, 16, 20), (2, 8, 15, 20), (1, 4, 6, 6)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_dilated_phase_path_matches_plain_convolution(shape, channels_last):
    torch.manual_seed(0)
    conv = DepthwiseConv2d(shape[1], 3, 1, 2, 2)
    x = torch.randn(shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    grads = []
    for forward in (conv, lambda t: _plain(conv, t)):
        x.grad, conv.weight.grad = None, None
        y = forward(x)
        y.backward(torch.arange(y.numel(), dtype=torch.float32).reshape(y.shape).sin())
        grads.append((y.detach(), x.grad.clone(), conv.weight.grad.clone()))
    for fast, plain in zip(*grads):
        torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)


def test_strided_path_runs_in_float32_under_autocast():
    torch.manual_seed(0)
    conv = DepthwiseConv2d(8, 3, stride=2)
    x = torch.randn(2, 8, 16, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, _plain(conv, x))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(x).dtype == torch.bfloat16  # inference: the plain autocast convolution


def test_network_gradients_match_plain_convolutions():
    torch.manual_seed(0)
    net = PoseEstimationWithMobileNet().double()
    x = torch.randn(2, 3, 64, 48, dtype=torch.float64)
    fast = [p.grad.clone() for p in _grads(net, x)]
    for m in net.modules():
        if isinstance(m, DepthwiseConv2d):
            m.forward = lambda t, m=m: _plain(m, t)
    plain = [p.grad.clone() for p in _grads(net, x)]
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    assert sum(isinstance(m, DepthwiseConv2d) and m.dilation == (2, 2) for m in net.modules()) == 1


def _grads(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    net.zero_grad()
    sum(o.square().sum() for o in net(x)).backward()
    return [p for p in net.parameters()]
