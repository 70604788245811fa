"""Checkpoint loading (published layout, seed fixture), ImageNet init, and atomic saving."""
from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import torch

from pose_format import CHECKPOINT_KEYS, normalize
from train import (
    CheckpointError,
    PoseEstimationWithMobileNet,
    load_imagenet_backbone,
    load_model,
    load_weights,
    read_checkpoint,
    refinement_stages_in,
    save_checkpoint,
)
from train.model import conv_dw

STAGE_KEYS = ("stage0_heatmaps", "stage0_pafs", "heatmaps", "pafs")


@pytest.fixture(scope="module")
def seed_input(seed_dir):
    image = cv2.imread(str(seed_dir / "input.png"), cv2.IMREAD_COLOR)
    return torch.from_numpy(normalize(image))[None]


def _forward(model, x):
    with torch.no_grad():
        return [o.numpy() for o in model(x)]


def test_load_model_reproduces_seed_outputs(seed_dir, seed_input):
    model = load_model(seed_dir / "checkpoint.pth")
    assert not model.training
    expected = np.load(seed_dir / "expected.npz")
    outputs = _forward(model, seed_input)
    assert len(outputs) == 4
    for key, out in zip(STAGE_KEYS, outputs):
        assert out.shape == expected[key].shape
        np.testing.assert_allclose(out, expected[key], atol=1e-5, rtol=0)


def test_module_prefix_and_extra_stages_dropped(seed_dir, seed_input, tmp_path, caplog):
    ckpt = read_checkpoint(seed_dir / "checkpoint.pth")
    sd = ckpt["state_dict"]
    # A DDP-saved file with 3 refinement stages: stage 0 is the seed's, stages 1 and 2 are noise.
    big = PoseEstimationWithMobileNet(num_refinement_stages=3).state_dict()
    wrapped = {f"module.{k}": (sd[k] if k in sd else torch.randn_like(v.float()).to(v.dtype)) for k, v in big.items()}
    path = tmp_path / "ddp3.pth"
    torch.save({**ckpt, "state_dict": wrapped}, path)
    with caplog.at_level(logging.INFO, logger="train.checkpoint"):
        model = load_model(path, num_refinement_stages=1)
    assert "dropping stage(s) [1, 2]" in caplog.text
    expected = np.load(seed_dir / "expected.npz")
    np.testing.assert_allclose(_forward(model, seed_input)[-1], expected["pafs"], atol=1e-5, rtol=0)


def test_stage_count_follows_the_file_when_asked(seed_dir, seed_input, tmp_path):
    assert refinement_stages_in(seed_dir / "checkpoint.pth") == 1
    # a network of the initial stage only (the synthetic recipe trains one): counted, loaded with None, and a
    # request for more stages than the file holds says how many it holds and what to pass
    sd = read_checkpoint(seed_dir / "checkpoint.pth")["state_dict"]
    initial_only = {k: v for k, v in sd.items() if not k.startswith("refinement_stages.")}
    path = tmp_path / "initial_only.pth"
    torch.save({"state_dict": initial_only}, path)
    assert refinement_stages_in(path) == 0 and refinement_stages_in({"module.cpm.align.0.weight": sd[
        "cpm.align.0.weight"]}) == 0
    model = load_model(path, num_refinement_stages=None)
    assert model.num_refinement_stages == 0
    expected = np.load(seed_dir / "expected.npz")
    outputs = _forward(model, seed_input)
    assert len(outputs) == 2
    np.testing.assert_allclose(outputs[0], expected["stage0_heatmaps"], atol=1e-5, rtol=0)
    with pytest.raises(CheckpointError, match=r"does not match PoseEstimationWithMobileNet: the file holds 0 "
                                              r"refinement stage\(s\), the model has 1: load it with "
                                              r"num_refinement_stages=0 \(--num-refinement-stages 0\); missing"):
        load_model(path)
    with pytest.raises(ValueError, match="num_refinement_stages must be an integer >= 0"):
        PoseEstimationWithMobileNet(num_refinement_stages=-1)


def test_missing_and_misshaped_keys_are_named(seed_dir, tmp_path):
    ckpt = read_checkpoint(seed_dir / "checkpoint.pth")
    sd = dict(ckpt["state_dict"])
    del sd["cpm.align.0.weight"]
    sd["initial_stage.heatmaps.1.0.bias"] = torch.zeros(7)
    path = tmp_path / "broken.pth"
    torch.save({**ckpt, "state_dict": sd}, path)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    assert "cpm.align.0.weight" in str(err.value) and "initial_stage.heatmaps.1.0.bias" in str(err.value)
    # Fine-tuning: partial load keeps what matches and reports the rest.
    model = PoseEstimationWithMobileNet()
    before = model.state_dict()["cpm.align.0.weight"].clone()
    report = load_weights(model, path, allow_partial=True)
    assert report.missing == ["cpm.align.0.weight"]
    assert len(report.mismatched) == 1 and not report.complete
    assert torch.equal(model.state_dict()["cpm.align.0.weight"], before)
    assert torch.equal(model.state_dict()["model.0.0.weight"], sd["model.0.0.weight"])


def test_other_architecture_is_refused_with_key_names(tmp_path):
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 2))
    path = tmp_path / "other.pth"
    torch.save({"state_dict": other.state_dict()}, path)
    with pytest.raises(CheckpointError,
                       match=r"not a PoseEstimationWithMobileNet checkpoint.*unexpected keys: 0\.weight"):
        load_model(path)


def test_unsafe_file_needs_explicit_opt_in(tmp_path, seed_dir):
    sd = read_checkpoint(seed_dir / "checkpoint.pth")["state_dict"]
    path = tmp_path / "unsafe.pth"
    torch.save({"state_dict": sd, "meta": logging.getLogger("x")}, path)  # an arbitrary pickled object
    with pytest.raises(CheckpointError, match="allow_unsafe"):
        load_model(path)
    assert not load_model(path, allow_unsafe=True).training


def test_unreadable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth is not a PyTorch checkpoint"):
        load_model(path)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pth is not a PyTorch checkpoint"):
        load_model(tmp_path / "empty.pth", allow_unsafe=True)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(b"PK\x03\x04" + b"\x00" * 20)  # a zip header, then nothing
    with pytest.raises(CheckpointError, match="truncated.pth could not be read"):
        load_model(truncated)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "absent.pth")


def _fake_imagenet_mobilenet(path):
    """A file with the layout of mobilenet_sgd_68.848.pth.tar: 14 blocks under module.model, then module.fc."""
    net = PoseEstimationWithMobileNet(num_refinement_stages=0)
    blocks = torch.nn.Sequential(*list(net.model), conv_dw(512, 1024, stride=2), conv_dw(1024, 1024))
    sd = {}
    for k, v in blocks.state_dict().items():
        sd[f"module.model.{k}"] = torch.rand_like(v.float()).to(v.dtype) if v.is_floating_point() else v
    sd["module.fc.weight"] = torch.randn(1000, 1024)
    sd["module.fc.bias"] = torch.randn(1000)
    torch.save({"epoch": 90, "arch": "mobilenet", "best_prec1": 68.848, "state_dict": sd}, path)
    return sd


def test_imagenet_backbone_init(tmp_path):
    path = tmp_path / "mobilenet_sgd_68.848.pth.tar"
    sd = _fake_imagenet_mobilenet(path)
    model = PoseEstimationWithMobileNet()
    cpm_before = model.cpm.align[0].weight.detach().clone()
    loaded = load_imagenet_backbone(model, path)
    assert all(k.startswith("model.") for k in loaded)
    assert {k.split(".")[1] for k in loaded} == {str(i) for i in range(12)}
    state = model.state_dict()
    assert torch.equal(state["model.11.4.running_var"], sd["module.model.11.4.running_var"])
    assert torch.equal(state["model.0.0.weight"], sd["module.model.0.0.weight"])
    assert torch.equal(model.cpm.align[0].weight, cpm_before)  # nothing outside the backbone touched


def test_imagenet_init_rejects_other_files(tmp_path, seed_dir):
    path = tmp_path / "wrong.pth.tar"
    torch.save({"state_dict": {"module.model.0.0.weight": torch.zeros(16, 3, 3, 3)}}, path)
    with pytest.raises(CheckpointError, match=r"model\.0\.0\.weight"):
        load_imagenet_backbone(PoseEstimationWithMobileNet(), path)


def test_imagenet_init_refuses_a_pose_checkpoint(seed_dir):
    """A published-layout checkpoint given as ImageNet weights is refused, naming --checkpoint --weights-only: its
    backbone was loaded as if it were MobileNet-v1's and its CPM and stages silently dropped."""
    model = PoseEstimationWithMobileNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"pose network checkpoint \(cpm\..*--checkpoint .* --weights-only"):
        load_imagenet_backbone(model, seed_dir / "checkpoint.pth")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_save_roundtrip_in_published_layout(tmp_path, seed_input):
    model = PoseEstimationWithMobileNet().to(memory_format=torch.channels_last)  # as the trainer runs it
    opt = torch.optim.Adam(model.parameters(), lr=4e-5)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[100, 200, 260], gamma=0.333)
    path = save_checkpoint(tmp_path / "ck.pth", torch.nn.DataParallel(model), opt, sched, iteration=42, current_epoch=3)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(CHECKPOINT_KEYS) <= set(raw)
    assert raw["iter"] == 42 and raw["current_epoch"] == 3
    assert not any(k.startswith("module.") for k in raw["state_dict"])
    assert all(v.is_contiguous() for v in raw["state_dict"].values())  # plain NCHW layout for other tools
    assert raw["scheduler"]["milestones"] == {100: 1, 200: 1, 260: 1}
    model.eval()
    again = load_model(path)
    for a, b in zip(_forward(model, seed_input), _forward(again, seed_input)):
        np.testing.assert_allclose(a, b, atol=1e-6)  # NHWC vs NCHW kernels round differently
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pth"]  # no temp file left behind


def test_failed_save_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ck.pth", PoseEstimationWithMobileNet(), iteration=1)
    old_bytes = path.read_bytes()

    def broken_save(obj, fh, *a, **k):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, PoseEstimationWithMobileNet(), iteration=2)
    assert path.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pth"]


def test_killed_mid_save_keeps_old_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "ck.pth", PoseEstimationWithMobileNet(), iteration=1)
    old_bytes = path.read_bytes()
    script = textwrap.dedent(f"""
        import os, signal, torch
        from train import PoseEstimationWithMobileNet, save_checkpoint
        real_save = torch.save
        def dying_save(obj, fh, *a, **k):
            fh.write(b"half a checkpoint")
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = dying_save
        save_checkpoint({str(path)!r}, PoseEstimationWithMobileNet(), iteration=2)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9
    assert path.read_bytes() == old_bytes
    assert read_checkpoint(path)["iter"] == 1
