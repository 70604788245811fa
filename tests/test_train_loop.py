"""Loss, optimizer groups, the training loop (resume, weights-only restart, DDP) and the evaluation CLI."""
from __future__ import annotations

import csv
import json
import logging
import shutil
import socket
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from train import PoseEstimationWithMobileNet, read_checkpoint
from train.__main__ import main as train_main
from train.dataset import CocoPoseDataset
from train.evaluate import evaluate_model
from train.evaluate import main as evaluate_main
from train.loss import heatmap_weights, masked_l2, pose_loss
from train.optim import make_optimizer, param_groups
from train.synthetic import SyntheticConfig, generate_dataset
from train.trainer import TrainConfig, train

from pose_format import CHECKPOINT_KEYS


def test_masked_l2_and_stage_sum():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(2, 19, 4, 5, generator=g)
    target = torch.rand(2, 19, 4, 5, generator=g)
    mask = torch.ones(2, 1, 4, 5)
    mask[1, 0, :2] = 0
    expected = sum(float(((pred[n] - target[n]) ** 2 * mask[n]).sum()) for n in range(2)) / 2 / 2
    assert float(masked_l2(pred, target, mask)) == pytest.approx(expected, rel=1e-6)
    # a masked-out region contributes nothing, whatever the prediction there
    pred2 = pred.clone()
    pred2[1, :, :2] += 100
    assert float(masked_l2(pred2, target, mask)) == pytest.approx(expected, rel=1e-6)
    pafs_p, pafs_t = torch.rand(2, 38, 4, 5, generator=g), torch.rand(2, 38, 4, 5, generator=g)
    total, stages = pose_loss([pred, pafs_p, target, pafs_t], target, pafs_t, mask)
    assert stages[1] == pytest.approx(0.0) and float(total) == pytest.approx(stages[0])
    with pytest.raises(ValueError, match="pairs"):
        pose_loss([pred], target, pafs_t, mask)


def test_foreground_weighted_heatmap_loss():
    from pose_format import NUM_KEYPOINTS

    target = torch.zeros(1, 19, 4, 5)
    target[0, NUM_KEYPOINTS] = 1.0
    target[0, 3, 1, 2], target[0, NUM_KEYPOINTS, 1, 2] = 1.0, 0.0  # one keypoint at cell (1, 2)
    mask = torch.ones(1, 1, 4, 5)
    mask[0, 0, 3] = 0
    w = heatmap_weights(target, mask, 4.0)
    assert w.shape == (1, 19, 4, 5)
    assert float(w[0, 3, 1, 2]) == 5 and float(w[0, NUM_KEYPOINTS, 1, 2]) == 5  # keypoint and background channel
    assert float(w[0, 3, 0, 0]) == 1 and float(w[0, 0, 1, 2]) == 1 and float(w[0, :, 3].abs().sum()) == 0
    pred, pafs = torch.zeros_like(target), torch.zeros(1, 38, 4, 5)
    plain, _ = pose_loss([pred, pafs], target, pafs, mask)
    weighted, _ = pose_loss([pred, pafs], target, pafs, mask, foreground_weight=4.0)
    # the missed keypoint (error 1) and the background cells' error (1 each, 15 unmasked cells - 1 at the keypoint)
    assert float(plain) == pytest.approx((1 + 14) / 2) and float(weighted) == pytest.approx((5 + 14) / 2)


def test_optimizer_groups_follow_the_paper():
    model = PoseEstimationWithMobileNet(num_refinement_stages=2)
    groups = {g["name"]: g for g in param_groups(model, base_lr=1.0)}
    n_params = sum(len(g["params"]) for g in groups.values())
    assert n_params == len(list(model.parameters()))
    assert groups["refinement.conv.weight"]["lr"] == 4 and groups["refinement.conv.bias"]["lr"] == 8
    assert groups["initial.conv.bias"]["lr"] == 2 and groups["cpm.conv.weight"]["lr"] == 1
    for name in ("initial.conv.bias", "cpm.conv.bias", "refinement.conv.bias", "backbone.bn.bias",
                 "backbone.depthwise.weight"):
        assert groups[name]["weight_decay"] == 0
    assert any(p is model.refinement_stages[1].heatmaps[1][0].bias for p in groups["refinement.conv.bias"]["params"])
    opt = make_optimizer(model, 4e-5)
    decayed = [g for g in opt.param_groups if g["name"] == "backbone.conv.weight"][0]
    assert decayed["weight_decay"] == 5e-4 and decayed["lr"] == 4e-5
    assert all(g["betas"] == (0.9, 0.999) for g in opt.param_groups)  # the paper's (PyTorch's default)
    assert all(g["betas"] == (0.9, 0.99) for g in make_optimizer(model, 4e-5, beta2=0.99).param_groups)
    assert opt.defaults["fused"]  # CPU parameters: the fused Adam step
    reference = torch.optim.Adam(param_groups(model, 4e-5), lr=4e-5, weight_decay=5e-4)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    before = [p.detach().clone() for p in model.parameters()]
    opt.step()
    fused_after = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p, b in zip(model.parameters(), before):
            p.copy_(b)
    reference.step()
    for a, b in zip(fused_after, model.parameters()):
        torch.testing.assert_close(a, b.detach())  # the same update as the plain Adam


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    cfg = SyntheticConfig(width=96, height=96, max_people=2)
    tr = generate_dataset(root / "train", 8, seed=1, cfg=cfg, progress=False)
    va = generate_dataset(root / "val", 2, seed=2, cfg=cfg, progress=False)
    return tr, va


def _cfg(tiny_data, out, **kw):
    tr, va = tiny_data
    base = dict(train_ann=tr, train_images=tr.parent / "images", val_ann=va, val_images=va.parent / "images",
                val_height=64, val_after=2, out_dir=out, crop_size=64, batch_size=2, base_lr=1e-4, workers=0,
                max_iters=2, checkpoint_after=2, log_after=1, threads=1, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def test_train_resume_and_restarts(tiny_data, tmp_path, caplog):
    first = train(_cfg(tiny_data, tmp_path / "a", adam_beta2=0.95))
    assert first.iteration == 2 and len(first.val_curve) == 1 and 0 <= first.val_curve[0]["AP"] <= 1
    ck = tmp_path / "a" / "checkpoint_iter_2.pth"
    raw = read_checkpoint(ck)
    assert set(CHECKPOINT_KEYS) <= set(raw) and raw["iter"] == 2
    assert len(raw["optimizer"]["param_groups"]) == len(param_groups(PoseEstimationWithMobileNet()))
    assert all(tuple(g["betas"]) == (0.9, 0.95) for g in raw["optimizer"]["param_groups"])  # adam_beta2 reached Adam
    rows = list(csv.DictReader((tmp_path / "a" / "log.csv").open()))
    assert [r["kind"] for r in rows] == ["train", "train", "val"] and float(rows[0]["loss"]) > 0
    best = read_checkpoint(tmp_path / "a" / "checkpoint_best.pth")
    assert best["iter"] == 2 and best["best_ap"] == first.val_curve[0]["AP"] and set(CHECKPOINT_KEYS) <= set(best)

    # full resume: continues the iteration count with the saved optimizer state, whose beta2 (0.95) wins over the
    # configured default (0.999), and says so
    with caplog.at_level(logging.WARNING, logger="train.trainer"):
        resumed = train(_cfg(tiny_data, tmp_path / "a", checkpoint=ck, max_iters=3))
    assert resumed.iteration == 3
    assert "uses Adam beta2 0.95, which a full resume keeps (--adam-beta2 0.999 ignored)" in caplog.text
    last = read_checkpoint(tmp_path / "a" / "checkpoint_last.pth")["optimizer"]
    assert max(int(s["step"]) for s in last["state"].values()) == 3
    assert all(tuple(g["betas"]) == (0.9, 0.95) for g in last["param_groups"])
    assert len(list(csv.DictReader((tmp_path / "a" / "log.csv").open()))) > len(rows)  # appended

    # a run killed mid-save left a temporary file; resuming again from iteration 2 drops the log rows after it
    (tmp_path / "a" / ".checkpoint_iter_3.pth.x1y2.tmp").write_bytes(b"partial")
    train(_cfg(tiny_data, tmp_path / "a", checkpoint=ck, max_iters=3))
    assert not list((tmp_path / "a").glob(".*.tmp"))
    train_iters = [int(r["iter"]) for r in csv.DictReader((tmp_path / "a" / "log.csv").open()) if r["kind"] == "train"]
    assert train_iters == [1, 2, 3]  # iteration 3 logged once, not once per attempt

    # resuming a run that already reached --max-iters trains nothing (it used to take one more step)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="train.trainer"):
        again = train(_cfg(tiny_data, tmp_path / "a", checkpoint=tmp_path / "a" / "checkpoint_last.pth",
                           max_iters=3, val_ann=None, val_images=None))
    assert again.iteration == 3 and "--max-iters 3 is already reached, nothing to train" in caplog.text

    # ... and an older checkpoint at its budget leaves the run's files alone (log.csv, checkpoint_last.pth)
    files = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir() if p.is_file()}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="train.trainer"):
        noop = train(_cfg(tiny_data, tmp_path / "a", checkpoint=ck, max_iters=2))
    assert noop.checkpoint is None and "is unchanged" in caplog.text
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir() if p.is_file()} == files

    # weights-only restart: fresh optimizer from iteration 0, same weights at the start
    restart = train(_cfg(tiny_data, tmp_path / "b", checkpoint=ck, weights_only=True, max_iters=1, val_ann=None,
                         val_images=None))
    assert restart.iteration == 1
    assert read_checkpoint(restart.checkpoint)["iter"] == 1

    # step 3 of the recipe: 3 refinement stages from a 1-stage checkpoint needs --allow-partial
    with pytest.raises(ValueError, match="refinement_stages.1") as error:
        train(_cfg(tiny_data, tmp_path / "c", checkpoint=ck, weights_only=True, num_refinement_stages=3))
    assert ck.name in str(error.value)  # the message names the file
    assert not (tmp_path / "c").exists()  # a refused run leaves no empty output folder
    three = train(_cfg(tiny_data, tmp_path / "c", checkpoint=ck, weights_only=True, allow_partial=True,
                       num_refinement_stages=3, max_iters=1, val_ann=None, val_images=None))
    sd = read_checkpoint(three.checkpoint)["state_dict"]
    assert any(k.startswith("refinement_stages.2.") for k in sd)


def test_full_resume_names_the_settings_its_saved_optimizer_and_scheduler_keep(tiny_data, tmp_path, caplog):
    first = train(_cfg(tiny_data, tmp_path / "k", max_iters=1, val_ann=None, val_images=None, checkpoint_after=0))
    changed = dict(base_lr=1e-3, lr_multipliers=False, weight_decay=0.0, milestones=(5,), gamma=0.5)
    with caplog.at_level(logging.WARNING, logger="train.trainer"):
        train(_cfg(tiny_data, tmp_path / "k", checkpoint=first.checkpoint, max_iters=2, val_ann=None,
                   val_images=None, checkpoint_after=0, **changed))
    for kept in ("group learning rates 0.0001 / 0.0002 / 0.0004 / 0.0008, which a full resume keeps "
                 "(--lr / --uniform-lr rates 0.001 ignored)",
                 "weight decay 0.0005, which a full resume keeps (--weight-decay 0 ignored)",
                 "milestones 100 / 200 / 260, which a full resume keeps (--milestones 5 ignored)",
                 "gamma 0.333, which a full resume keeps (--gamma 0.5 ignored)"):
        assert kept in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="train.trainer"):  # the same settings: nothing to say
        train(_cfg(tiny_data, tmp_path / "k", checkpoint=first.checkpoint, max_iters=2, val_ann=None,
                   val_images=None, checkpoint_after=0))
    assert "full resume keeps" not in caplog.text


def test_full_resume_refuses_another_lr_schedule(tiny_data, tmp_path):
    """A linear run resumed with --lr-schedule step kept the decayed rates and the empty milestones (only a warning
    about the milestones); both directions are refused, naming the flag, before the output folder is touched."""
    kw = dict(max_iters=1, val_ann=None, val_images=None, checkpoint_after=0)
    for saved, other in (("linear", "step"), ("step", "linear")):
        out = tmp_path / saved
        first = train(_cfg(tiny_data, out, lr_schedule=saved, **kw))
        assert read_checkpoint(first.checkpoint)["lr_schedule"] == saved
        files = {p.name: p.read_bytes() for p in out.iterdir()}
        with pytest.raises(ValueError, match=f"--lr-schedule {other}: .* was trained with --lr-schedule {saved}"):
            train(_cfg(tiny_data, out, checkpoint=first.checkpoint, lr_schedule=other, **{**kw, "max_iters": 2}))
        assert {p.name: p.read_bytes() for p in out.iterdir()} == files
        again = train(_cfg(tiny_data, out, checkpoint=first.checkpoint, lr_schedule=saved, **{**kw, "max_iters": 2}))
        assert again.iteration == 2


def test_pruning_keeps_an_earlier_runs_checkpoints(tmp_path, caplog):
    from train.trainer import _earlier_run_files, _prune

    for n in (1, 2, 3, 100, 200):
        (tmp_path / f"checkpoint_iter_{n}.pth").write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="train.trainer"):
        _earlier_run_files(tmp_path)
    assert "holds 5 checkpoint(s) of an earlier run (iterations 1..200)" in caplog.text
    _prune(tmp_path, keep=2, iteration=3)  # this run is at iteration 3: 100 and 200 are not its own
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"checkpoint_iter_{n}.pth" for n in (100, 2, 200, 3)]


@pytest.mark.parametrize("schedule, stop", [("step", "mid-epoch"), ("linear", "mid-epoch"), ("step", "epoch-end")])
def test_resume_matches_an_uninterrupted_run(tiny_data, tmp_path, schedule, stop):
    """Stopped and resumed, a run ends with the weights of one that never stopped: mid-epoch the resumed epoch
    skips the batches it had trained on (same order); after an epoch's last batch the next epoch starts."""
    from train.dataset import CocoPoseDataset

    tr, _ = tiny_data
    per_epoch = len(CocoPoseDataset(tr, tr.parent / "images", _cfg(tiny_data, tmp_path).augment()))  # batch 1
    assert per_epoch > 4
    at = 2 if stop == "mid-epoch" else per_epoch
    kw = dict(val_ann=None, val_images=None, seed=3, max_iters=at + 2, batch_size=1, lr_schedule=schedule,
              warmup_iters=1, milestones=(1,), epochs=3)
    whole = train(_cfg(tiny_data, tmp_path / "whole", checkpoint_after=0, **kw))
    assert whole.epoch == (0 if stop == "mid-epoch" else 1)
    train(_cfg(tiny_data, tmp_path / "part", checkpoint_after=at, **{**kw, "max_iters": at}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = train(_cfg(tiny_data, tmp_path / "part", checkpoint=tmp_path / "part" / f"checkpoint_iter_{at}.pth",
                             checkpoint_after=0, **kw))
    # the epoch-end resume steps the scheduler on purpose, before this process's first optimizer step: no warning
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)]
    assert (resumed.iteration, resumed.epoch) == (whole.iteration, whole.epoch)
    a = read_checkpoint(whole.checkpoint)
    b = read_checkpoint(resumed.checkpoint)
    assert a["optimizer"]["param_groups"][0]["lr"] == pytest.approx(b["optimizer"]["param_groups"][0]["lr"])
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=1e-5, atol=1e-6, msg=k)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_requested_without_cuda(tiny_data, tmp_path):
    with pytest.raises(ValueError, match="no CUDA device"):
        train(_cfg(tiny_data, tmp_path / "cuda", device="cuda"))


def test_time_budget_continues_across_a_resume(tiny_data, tmp_path):
    """A --time-limit budget is the run's, not the process's: the checkpoint carries the training seconds, so a run
    resumed with its budget already spent trains nothing."""
    kw = dict(val_ann=None, val_images=None, lr_schedule="linear", warmup_iters=1, base_lr=1e-3, epochs=100)
    first = train(_cfg(tiny_data, tmp_path / "t", max_iters=3, time_limit=1000.0, checkpoint_after=3, **kw))
    ck = read_checkpoint(tmp_path / "t" / "checkpoint_iter_3.pth")
    assert 0 < ck["train_seconds"] <= first.train_seconds + 1e-6
    assert ck["warmup_progress"] == pytest.approx(1 / 3)  # warm-up over after 1 of max_iters 3
    spent = train(_cfg(tiny_data, tmp_path / "t", checkpoint=tmp_path / "t" / "checkpoint_iter_3.pth",
                       max_iters=None, time_limit=ck["train_seconds"], checkpoint_after=0, **kw))
    assert spent.iteration == 3  # the run's budget is found spent before any step (it used to take one more)
    resumed = train(_cfg(tiny_data, tmp_path / "t", checkpoint=tmp_path / "t" / "checkpoint_iter_3.pth",
                         max_iters=4, time_limit=ck["train_seconds"] + 1000, checkpoint_after=0, **kw))
    assert resumed.iteration == 4
    rows = [r for r in csv.DictReader((tmp_path / "t" / "log.csv").open()) if r["kind"] == "train"]
    assert [int(r["iter"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["elapsed_s"]) >= ck["train_seconds"] - 0.05  # the run's seconds, not the process's
    assert read_checkpoint(resumed.checkpoint)["train_seconds"] > ck["train_seconds"]


def test_seeds_make_runs_repeatable(tiny_data, tmp_path):
    a = train(_cfg(tiny_data, tmp_path / "s1", max_iters=2, val_ann=None, val_images=None, seed=5))
    b = train(_cfg(tiny_data, tmp_path / "s2", max_iters=2, val_ann=None, val_images=None, seed=5))
    sa, sb = read_checkpoint(a.checkpoint)["state_dict"], read_checkpoint(b.checkpoint)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cli_errors_and_help(tiny_data, tmp_path, capsys):
    tr, _ = tiny_data
    with pytest.raises(SystemExit):
        train_main(["--train-ann", str(tmp_path / "absent.json"), "--train-images", str(tmp_path)])
    assert "--train-ann not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--train-ann", str(tr), "--train-images", str(tr.parent / "images"), "--crop-size", "100"])
    assert "multiple of 8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--train-ann", str(tr), "--train-images", str(tr.parent / "images"), "--batch-size", "999",
                    "--workers", "0"])
    assert "lower --batch-size" in capsys.readouterr().err
    for extra, message in ((["--log-after", "0"], "--log-after must be at least 1"),
                           (["--threads", "-1"], "--threads must be at least 1"),
                           (["--keep-checkpoints", "0"], "--keep-checkpoints must be at least 1"),
                           (["--out-dir", str(tr)], "is a file, expected a folder"),
                           (["--train-images", str(tr)], f"--train-images {tr} is a file, expected a folder"),
                           (["--val-ann", str(tr), "--val-images", str(tmp_path)], "none of the"),  # no image there
                           (["--time-limit", "0"], "--time-limit must be a positive"),
                           (["--max-iters", "0"], "--max-iters must be at least 1"),
                           (["--adam-beta2", "1.5"], "--adam-beta2 must be in [0, 1)"),
                           (["--num-refinement-stages", "-2"], "--num-refinement-stages must be 0 or more"),
                           (["--gamma", "-1"], "--gamma must be in (0, 1]"),
                           (["--lr", "0"], "--lr must be > 0"),
                           (["--target-dist", "0"], "--target-dist must be > 0"),
                           (["--foreground-weight", "-1"], "--foreground-weight must be >= 0"),
                           (["--flip-prob", "7"], "--flip-prob must be a probability"),
                           (["--ema", "-0.5"], "--ema must be in [0, 1)"),
                           (["--center-jitter", "-5"], "--center-jitter must be >= 0"),
                           (["--seed", "-1"], "--seed must be >= 0"),
                           (["--milestones", "50", "-3"], "--milestones must be at least 1, got -3"),
                           # silently ignored before: --checkpoint won over --imagenet, and nothing was partial
                           (["--imagenet", str(tr), "--checkpoint", str(tr)], "--imagenet or --checkpoint, not both"),
                           (["--allow-partial"], "--allow-partial needs --checkpoint"),
                           (["--weights-only"], "--weights-only needs --checkpoint")):
        with pytest.raises(SystemExit):  # refused before a single step (0 s used to end the run after one step)
            train_main(["--train-ann", str(tr), "--train-images", str(tr.parent / "images"),
                        "--out-dir", str(tmp_path / "never"), *extra])
        assert message in capsys.readouterr().err
        assert not (tmp_path / "never").exists()
    out = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--weights-only" in out.stdout and "torchrun" in out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun_train(*args) -> subprocess.CompletedProcess:
    """``python -m train ARGS`` in 2 processes over gloo (torchrun), on the CPU, one thread and no loader workers
    each."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "train",
           "--workers", "0", "--threads", "1", "--device", "cpu", "--no-progress", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_ddp_two_processes_gloo(tiny_data, tmp_path):
    tr, _ = tiny_data
    proc = _torchrun_train("--train-ann", tr, "--train-images", tr.parent / "images", "--crop-size", "64",
                           "--batch-size", "2", "--max-iters", "2", "--out-dir", tmp_path / "ddp", "--log-after", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cpu x2" in proc.stderr and "ranks in sync after 2 iterations: True" in proc.stderr
    ck = read_checkpoint(tmp_path / "ddp" / "checkpoint_last.pth")
    assert ck["iter"] == 2 and not any(k.startswith("module.") for k in ck["state_dict"])
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["iteration"] == 2


def test_rank0_clock_rides_the_flag_all_reduces(tiny_data, tmp_path, monkeypatch):
    """Under a process group, rank 0's run seconds (the linear decay's progress and the time-limit stop) travel in the
    all_reduces of the loss and stop flags: no broadcast of their own each iteration, at most 2 collectives each."""
    import torch.distributed as dist

    calls = {"broadcast": 0, "all_reduce": 0}
    for name in calls:
        real = getattr(dist, name)
        monkeypatch.setattr(dist, name, lambda *a, _real=real, _name=name, **k: (
            calls.__setitem__(_name, calls[_name] + 1), _real(*a, **k))[1])
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        train(_cfg(tiny_data, tmp_path / "t", max_iters=3, time_limit=1000.0, lr_schedule="linear", val_ann=None,
                   val_images=None, checkpoint_after=0))
    finally:
        dist.destroy_process_group()
    assert calls["broadcast"] == 0 and 0 < calls["all_reduce"] <= 2 * 3


def test_ddp_time_budget_linear_schedule_keeps_ranks_in_sync(tiny_data, tmp_path):
    # The linear decay of a time budget reads the run's clock: every rank must use the same one (rank 1 used to
    # count rank 0's validation, which it waits for at the barrier, as training time: its learning rate fell faster
    # and the ranks ended with different weights).
    tr, va = tiny_data
    proc = _torchrun_train("--train-ann", tr, "--train-images", tr.parent / "images", "--crop-size", "32",
                           "--batch-size", "2", "--time-limit", "3", "--epochs", "100000", "--lr-schedule", "linear",
                           "--lr", "1e-3", "--num-refinement-stages", "0", "--val-ann", va, "--val-images",
                           va.parent / "images", "--val-height", "64", "--val-after", "1", "--checkpoint-after", "0",
                           "--out-dir", tmp_path / "ddp", "--log-after", "1000")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "time limit of 3 s reached" in proc.stderr and ": True" in proc.stderr.split("ranks in sync after")[1]


def test_evaluate_cli(seed_dir, coco_mini_dir, tmp_path, capsys):
    out = tmp_path / "det.json"
    ann = coco_mini_dir / "person_keypoints_mini.json"
    assert evaluate_main(["--checkpoint", str(seed_dir / "checkpoint.pth"), "--ann",
                          str(coco_mini_dir / "person_keypoints_mini.json"), "--images", str(coco_mini_dir),
                          "--height", "128", "--max-images", "2", "--out", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.split("\n")[0] == ("height 128, scales 1 (input heights 128), no flip: 1 forward pass per image; "
                                      "1 refinement stage(s)")
    assert printed.split("\n")[1].split() == ["AP", "AP50", "AP75", "APm", "APl", "AR"]
    dets = json.loads(out.read_text())
    assert isinstance(dets, list)
    for d in dets:
        assert len(d["keypoints"]) == 51 and d["image_id"] in (785, 40083)
    with pytest.raises(SystemExit):
        evaluate_main(["--checkpoint", str(tmp_path / "nope.pth"), "--ann", str(ann), "--images", str(tmp_path)])
    assert "not found" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text("")
    (tmp_path / "no_images").mkdir()
    for args, message in ((["--ann", str(empty)], f"{empty} is not valid JSON"),
                          (["--out", str(tmp_path)], "is a folder, expected the detections JSON"),
                          (["--max-images", "-1"], "--max-images must be at least 1"),
                          (["--scales", "1", "inf"], "--scales must be finite and positive, got 1 inf"),
                          # finite but absurd: OpenCV ran out of memory resizing to a 368000000-pixel-high input
                          (["--scales", "1", "1e6"], "--scales: 1e+06 x height 368 gives an input height that must "
                                                     "be at most 4096, got 368000000"),
                          (["--scales", "0.01"], "--scales: 0.01 x height 368 gives an input height that must be a "
                                                 "multiple of 8 and >= 16, got 8"),
                          (["--num-refinement-stages", "-1"], "--num-refinement-stages must be 0 or more")):
        with pytest.raises(SystemExit):
            evaluate_main(["--checkpoint", str(seed_dir / "checkpoint.pth"), "--ann", str(ann), "--images",
                           str(coco_mini_dir), *args])
        assert message in capsys.readouterr().err
    # --out is checked before the evaluation: the ground truth itself was overwritten with the detections, and an
    # unwritable --out lost the whole evaluation (the AP table too) after its last image
    gt = tmp_path / "gt.json"
    gt.write_bytes(ann.read_bytes())
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    for out_path, message in ((gt, "it is the input file, which it would destroy"),
                              (blocker / "det.json", "cannot write the detections to")):
        with pytest.raises(SystemExit):
            evaluate_main(["--checkpoint", str(seed_dir / "checkpoint.pth"), "--ann", str(gt), "--images",
                           str(coco_mini_dir), "--height", "64", "--max-images", "1", "--out", str(out_path)])
        assert message in capsys.readouterr().err
    assert gt.read_bytes() == ann.read_bytes()
    # an images folder without the annotation's images: a one-line error (exit 1), no traceback
    assert evaluate_main(["--checkpoint", str(seed_dir / "checkpoint.pth"), "--ann", str(ann), "--images",
                          str(tmp_path / "no_images"), "--height", "64", "--threads", "1"]) == 1
    assert "could be read from" in capsys.readouterr().err


def _ground_truth_predict(coco):
    """A ``predict_maps`` stand-in that renders each image's ground-truth maps at the requested letterbox (and for
    the mirrored input content when ``flip``: keypoints mirrored inside the content width, left/right swapped)."""
    from ov_inference import content_width
    from pose_format import FLIP_PAIRS_18, coco17_to_18, letterbox
    from train.targets import render_heatmaps, render_pafs

    calls = []

    def fake_predict(model, image, input_height, flip=False):
        calls.append((input_height, flip))
        inp, meta = letterbox(image, input_height)
        image_id = next(i for i, im in coco.imgs.items() if (im["height"], im["width"]) == image.shape[:2])
        people = [coco17_to_18(np.array(a["keypoints"]).reshape(17, 3)) for a in
                  coco.loadAnns(coco.getAnnIds(imgIds=image_id)) if a["num_keypoints"] > 0]
        kp = np.array(people, np.float32)
        kp[..., :2] = meta.to_input(kp[..., :2])
        if flip:
            kp[..., 0] = content_width(meta) - 1 - kp[..., 0]
            for r, l in FLIP_PAIRS_18:
                kp[:, [r, l]] = kp[:, [l, r]]
        h, w = inp.shape[0] // 8, inp.shape[1] // 8
        return render_heatmaps(kp, h, w), render_pafs(kp, h, w), meta

    return fake_predict, calls


def test_evaluate_perfect_maps_give_high_ap(coco_mini_dir, monkeypatch):
    """The evaluation path (letterbox -> maps -> decode -> map back) scores ground-truth maps near AP 1."""
    import train.evaluate as ev
    from pycocotools.coco import COCO

    ann = coco_mini_dir / "person_keypoints_mini.json"
    fake_predict, calls = _ground_truth_predict(COCO(str(ann)))
    monkeypatch.setattr(ev, "predict_maps", fake_predict)
    stats = ev.evaluate_model(torch.nn.Linear(1, 1), ann, coco_mini_dir, input_height=368, progress=False)
    assert stats["AP"] > 0.8 and stats["images"] == 4
    assert stats["scales"] == [1.0] and stats["flip"] is False and calls == [(368, False)] * 4


def test_evaluate_cli_ap_equals_pycocotools_on_its_detections_json(seed_dir, coco_mini_dir, tmp_path, monkeypatch,
                                                                  capsys):
    """The AP that ``python -m train.evaluate`` prints is what plain pycocotools computes from the detections JSON
    it writes (loadRes of the file, every ground-truth image), and those detections lie in image pixels."""
    import contextlib
    import io

    import train.evaluate as ev
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ann, out = coco_mini_dir / "person_keypoints_mini.json", tmp_path / "det.json"
    fake_predict, _ = _ground_truth_predict(COCO(str(ann)))
    monkeypatch.setattr(ev, "predict_maps", fake_predict)
    assert evaluate_main(["--checkpoint", str(seed_dir / "checkpoint.pth"), "--ann", str(ann), "--images",
                          str(coco_mini_dir), "--height", "256", "--out", str(out), "--json", "--threads", "1"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])  # after COCO()'s loading lines
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        check = COCOeval(gt, gt.loadRes(str(out)), "keypoints")
        check.evaluate()
        check.accumulate()
        check.summarize()
    assert printed["AP"] == pytest.approx(check.stats[0], abs=1e-12) and printed["AR"] == pytest.approx(check.stats[5])
    assert printed["AP"] > 0.9


def test_evaluate_images_of_another_size_than_annotated(coco_mini_dir, half_size_coco_mini, tmp_path, monkeypatch):
    """A resized copy of the images (annotations unchanged) is scored in the annotation's pixels, as training reads
    it: a model that finds every person in the smaller image keeps AP near 1 (its detections were left in the
    smaller image's pixels: AP 0)."""
    import train.evaluate as ev
    from pycocotools.coco import COCO

    half = half_size_coco_mini
    ann = coco_mini_dir / "person_keypoints_mini.json"
    fake_predict, _ = _ground_truth_predict(COCO(str(ann)))
    monkeypatch.setattr(ev, "predict_maps", fake_predict)  # renders the people of an image of the annotated size
    stats = ev.evaluate_model(torch.nn.Linear(1, 1), ann, half, input_height=368, progress=False,
                              out_json=tmp_path / "det.json")
    assert stats["images"] == 4 and stats["AP"] > 0.8


def test_evaluate_scores_and_writes_the_files_person_category(coco_mini_dir, tmp_path, monkeypatch):
    """A file whose person category is not id 1 and that also labels another category: the detections carry the
    person id and score as on the plain file."""
    import train.evaluate as ev
    from pycocotools.coco import COCO

    from test_coco import person_as_category_3_with_a_dog

    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(person_as_category_3_with_a_dog(
        json.loads((coco_mini_dir / "person_keypoints_mini.json").read_text()))))
    fake_predict, _ = _ground_truth_predict(COCO(str(ann)))  # the dog copies a person: the same maps
    monkeypatch.setattr(ev, "predict_maps", fake_predict)
    stats = ev.evaluate_model(torch.nn.Linear(1, 1), ann, coco_mini_dir, input_height=368, progress=False,
                              out_json=tmp_path / "det.json")
    assert stats["AP"] > 0.8
    assert {d["category_id"] for d in json.loads((tmp_path / "det.json").read_text())} == {3}


def test_evaluate_multiscale_flip_perfect_maps_give_high_ap(coco_mini_dir, monkeypatch):
    """Test-time augmentation (4 scales x flip, maps averaged on the base grid) keeps ground-truth maps near AP 1."""
    import train.evaluate as ev
    from pycocotools.coco import COCO

    ann = coco_mini_dir / "person_keypoints_mini.json"
    fake_predict, calls = _ground_truth_predict(COCO(str(ann)))
    monkeypatch.setattr(ev, "predict_maps", fake_predict)
    single = ev.evaluate_model(torch.nn.Linear(1, 1), ann, coco_mini_dir, input_height=368, progress=False)
    calls.clear()
    stats = ev.evaluate_model(torch.nn.Linear(1, 1), ann, coco_mini_dir, input_height=368, progress=False,
                              scales=(0.5, 1, 1.5, 2), flip=True)
    assert stats["images"] == 4 and stats["AP"] > 0.8 and stats["AP"] > single["AP"] - 0.05
    assert stats["scales"] == [0.5, 1.0, 1.5, 2.0] and stats["flip"] is True
    assert calls[:8] == [(184, False), (184, True), (368, False), (368, True), (552, False), (552, True),
                         (736, False), (736, True)] and len(calls) == 32
    # Without the base scale among them, the maps still land on the base height's grid.
    flipped = ev.evaluate_model(torch.nn.Linear(1, 1), ann, coco_mini_dir, input_height=368, progress=False,
                                scales=(1.5,), flip=True, max_images=2)
    assert flipped["AP"] > 0.8 and flipped["images"] == 2


def test_evaluate_cli_multiscale_flip(seed_dir, coco_mini_dir, tmp_path, capsys):
    """``--multiscale --flip --json`` runs end to end on the seed checkpoint (random weights: only the plumbing)."""
    out = tmp_path / "det.json"
    args = ["--checkpoint", str(seed_dir / "checkpoint.pth"),
            "--ann", str(coco_mini_dir / "person_keypoints_mini.json"), "--images", str(coco_mini_dir),
            "--height", "64", "--max-images", "1", "--out", str(out), "--threads", "1"]
    assert evaluate_main(args + ["--multiscale", "--flip", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["scales"] == [0.5, 1.0, 1.5, 2.0] and stats["flip"] is True and stats["images"] == 1
    assert isinstance(json.loads(out.read_text()), list)
    assert evaluate_main(args + ["--scales", "1", "2"]) == 0
    assert capsys.readouterr().out.startswith("height 64, scales 1 2 (input heights 64 128), no flip: 2 forward passes")
    for bad in (["--multiscale", "--scales", "1"], ["--scales", "0"]):
        with pytest.raises(SystemExit):
            evaluate_main(args + bad)
        assert "scales" in capsys.readouterr().err


def test_evaluate_cli_names_the_height_and_refinement_stages(coco_mini_dir, tmp_path, capsys):
    """A 3-stage checkpoint evaluated whole and cut to its first stage: --json and the table say which network and
    base height each result is of (the two outputs were otherwise alike)."""
    from train import save_checkpoint

    ckpt = save_checkpoint(tmp_path / "r3.pth", PoseEstimationWithMobileNet(num_refinement_stages=3))
    args = ["--checkpoint", str(ckpt), "--ann", str(coco_mini_dir / "person_keypoints_mini.json"),
            "--images", str(coco_mini_dir), "--height", "64", "--max-images", "1", "--out", str(tmp_path / "d.json"),
            "--threads", "1"]
    for extra, stages in (([], 3), (["--num-refinement-stages", "1"], 1)):
        assert evaluate_main(args + extra + ["--json"]) == 0
        stats = json.loads(capsys.readouterr().out)
        assert stats["refinement_stages"] == stages and stats["height"] == 64
        assert evaluate_main(args + extra) == 0
        title = capsys.readouterr().out.splitlines()[0]
        assert title.startswith("height 64, scales 1") and title.endswith(f"; {stages} refinement stage(s)")


def test_amp_step_on_cpu(tiny_data, tmp_path):
    result = train(_cfg(tiny_data, tmp_path / "amp", max_iters=1, amp=True, val_ann=None, val_images=None))
    assert result.iteration == 1 and np.isfinite(result.last_loss) and result.last_loss > 0
    sd = read_checkpoint(result.checkpoint)["state_dict"]
    assert sd["model.0.0.weight"].dtype == torch.float32  # autocast leaves the weights in fp32


def test_amp_validates_in_float32_as_documented(tiny_data, tmp_path, monkeypatch):
    """An --amp run validates outside autocast, with float32 weights (the AP train.evaluate gives on the checkpoint),
    and --help says so."""
    import train.trainer as tr
    from train.__main__ import build_parser

    seen = []

    def spy(model, *args, **kwargs):
        seen.append((torch.is_autocast_enabled("cpu"), {p.dtype for p in model.parameters()}))
        return evaluate_model(model, *args, **kwargs)

    evaluate_model = tr.evaluate_model
    monkeypatch.setattr(tr, "evaluate_model", spy)
    train(_cfg(tiny_data, tmp_path / "amp_val", max_iters=2, amp=True, checkpoint_after=0))
    assert seen and all(not autocast and dtypes == {torch.float32} for autocast, dtypes in seen)
    help_text = " ".join(build_parser().format_help().split())
    assert "validation runs in float32" in help_text and "checkpoints hold float32 weights" in help_text


def test_channels_last_is_the_same_network(tiny_data, tmp_path):
    """NHWC activations (the default, faster on CPU) train the same network as NCHW, up to float rounding."""
    from train.__main__ import build_parser, config_from_args

    kw = dict(max_iters=1, val_ann=None, val_images=None, checkpoint_after=0)
    nhwc = train(_cfg(tiny_data, tmp_path / "nhwc", **kw))
    nchw = train(_cfg(tiny_data, tmp_path / "nchw", channels_last=False, **kw))
    assert nhwc.last_loss == pytest.approx(nchw.last_loss, rel=1e-4)
    # the same outputs and gradients (Adam's first step is ~lr * sign(grad), so weights are compared via these)
    torch.manual_seed(0)
    model = PoseEstimationWithMobileNet()
    twin = PoseEstimationWithMobileNet()
    twin.load_state_dict(model.state_dict())
    twin.to(memory_format=torch.channels_last)
    model.eval(), twin.eval()  # running BN statistics: batch statistics of 2 tiny crops amplify rounding
    x = torch.randn(2, 3, 64, 64)
    outs = model(x), twin(x.contiguous(memory_format=torch.channels_last))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    sum(o.square().sum() for o in outs[0]).backward()
    sum(o.square().sum() for o in outs[1]).backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(p.grad, q.grad.contiguous(), rtol=1e-3, atol=1e-4, msg=name)
    tr, _ = tiny_data
    args = ["--train-ann", str(tr), "--train-images", str(tr.parent / "images")]
    assert config_from_args(build_parser().parse_args(args)).channels_last is True
    assert config_from_args(build_parser().parse_args(args + ["--no-channels-last"])).channels_last is False


def test_warmup_ramps_every_group_then_restores():
    from train.optim import apply_warmup, make_scheduler

    model = PoseEstimationWithMobileNet()
    opt = make_optimizer(model, 1e-3)
    make_scheduler(opt)  # sets each group's initial_lr
    full = [g["lr"] for g in opt.param_groups]
    apply_warmup(opt, 0, 4)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([lr / 4 for lr in full])
    apply_warmup(opt, 2, 4)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([lr * 3 / 4 for lr in full])
    apply_warmup(opt, 4, 4)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(full)
    opt.param_groups[0]["lr"] = 123.0  # after warm-up the scheduler owns the rates
    apply_warmup(opt, 5, 4)
    assert opt.param_groups[0]["lr"] == 123.0


def test_budget_factor_decays_linearly_after_the_warmup():
    from train.optim import budget_factor

    assert budget_factor(0.0) == 1.0 and budget_factor(0.5) == pytest.approx(0.5) and budget_factor(1.0) == 0.0
    assert budget_factor(0.1, warmup_progress=0.2) == 1.0  # still warming up: apply_warmup owns the rate
    assert budget_factor(0.6, warmup_progress=0.2) == pytest.approx(0.5)
    assert budget_factor(1.5, warmup_progress=0.2) == 0.0


def test_linear_schedule_run_decays_to_zero_over_max_iters(tiny_data, tmp_path):
    train(_cfg(tiny_data, tmp_path / "lin", max_iters=4, lr_schedule="linear", base_lr=1e-3, val_ann=None,
               val_images=None, checkpoint_after=0, lr_multipliers=False))
    rows = [r for r in csv.DictReader((tmp_path / "lin" / "log.csv").open()) if r["kind"] == "train"]
    assert [float(r["lr"]) for r in rows] == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    with pytest.raises(ValueError, match="lr_schedule"):
        train(_cfg(tiny_data, tmp_path / "bad", lr_schedule="cosine"))


def test_log_stage_columns_average_the_same_window_as_the_loss(tiny_data, tmp_path):
    train(_cfg(tiny_data, tmp_path / "w", max_iters=4, log_after=2, val_ann=None, val_images=None,
               checkpoint_after=0))
    rows = [r for r in csv.DictReader((tmp_path / "w" / "log.csv").open()) if r["kind"] == "train"]
    assert [int(r["iter"]) for r in rows] == [2, 4]
    for r in rows:  # the stages sum to the total of every iteration, so their window means sum to the loss's
        assert float(r["stage0"]) + float(r["stage1"]) == pytest.approx(float(r["loss"]), rel=1e-5, abs=1e-4)


def test_uniform_lr_keeps_groups_and_decay_rules():
    model = PoseEstimationWithMobileNet()
    paper = {g["name"]: g for g in param_groups(model, base_lr=1.0)}
    uniform = {g["name"]: g for g in param_groups(model, base_lr=1.0, multipliers=False)}
    assert paper.keys() == uniform.keys() and all(g["lr"] == 1.0 for g in uniform.values())
    assert all(uniform[n].get("weight_decay") == paper[n].get("weight_decay") for n in paper)
    from train.__main__ import build_parser, config_from_args

    assert config_from_args(build_parser().parse_args(["--train-ann", "a", "--train-images", "b", "--uniform-lr"])
                            ).lr_multipliers is False


def test_weight_average_follows_the_formula():
    from train.ema import WeightAverage

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    ema = WeightAverage(model, decay=0.9)
    start = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model(torch.randn(4, 1, 3, 3))  # BN running stats and counter move
    d = ema.current_decay()
    assert d == pytest.approx(min(0.9, 2 / 11))
    ema.update(model)
    for k, v in ema.module.state_dict().items():
        cur = model.state_dict()[k]
        if v.dtype.is_floating_point:
            assert torch.allclose(v, start[k] * d + cur * (1 - d), atol=1e-6), k
        else:
            assert torch.equal(v, cur), k
    assert not any(p.requires_grad for p in ema.module.parameters())
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)


def test_ema_run_saves_the_average_and_resumes_the_trained_weights(tiny_data, tmp_path):
    first = train(_cfg(tiny_data, tmp_path / "e", ema_decay=0.5))
    raw = read_checkpoint(tmp_path / "e" / "checkpoint_iter_2.pth")
    assert raw["ema_updates"] == 2 and set(raw["train_state_dict"]) == set(raw["state_dict"])
    k = "initial_stage.heatmaps.1.0.weight"
    assert not torch.equal(raw["state_dict"][k], raw["train_state_dict"][k])  # the average lags the weights
    assert len(first.val_curve) == 1
    resumed = train(_cfg(tiny_data, tmp_path / "e", checkpoint=tmp_path / "e" / "checkpoint_iter_2.pth",
                         max_iters=3, ema_decay=0.5))
    last = read_checkpoint(resumed.checkpoint)
    assert last["ema_updates"] == 3 and last["iter"] == 3


def test_persistent_workers_see_each_epoch_and_skips_reach_the_trainer(tiny_data, tmp_path):
    import shutil

    from torch.utils.data import DataLoader, DistributedSampler

    from train.augment import AugmentConfig
    from train.dataset import SKIPPED_ID_SLOTS, CocoPoseDataset
    from train.trainer import EpochKeySampler

    tr, _ = tiny_data
    images = tmp_path / "images"
    shutil.copytree(tr.parent / "images", images)
    ds = CocoPoseDataset(tr, images, AugmentConfig(crop_size=64))
    ds.records[ds.samples[0][0]].path.write_bytes(b"not an image")  # the first sample's image
    sampler = EpochKeySampler(DistributedSampler(ds, num_replicas=1, rank=0, shuffle=False))
    loader = DataLoader(ds, batch_size=len(ds), sampler=sampler, num_workers=1, persistent_workers=True)
    seen = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)  # the workers' dataset copies never see ds.set_epoch
        batch = next(iter(loader))
        seen.append(batch["image"])
        direct = torch.stack([torch.from_numpy(ds[(epoch, i)]["image"]) for i in range(len(ds))])
        torch.testing.assert_close(batch["image"], direct)
        # the worker counts the bad image once, then passes over it without reading it again
        assert int(batch["skipped"].sum()) == (1 if epoch == 0 else 0)
    assert not torch.equal(seen[0], seen[1])  # new augmentations each epoch

    # two workers each meet the bad image once: the samples name it, so a trainer counts one image, not two reads
    fresh = CocoPoseDataset(tr, images, AugmentConfig(crop_size=64))  # no process has read the bad image yet
    bad_id = fresh.records[fresh.samples[0][0]].image_id
    batches = list(DataLoader(fresh, batch_size=1, sampler=[0, 0], num_workers=2))
    assert sum(int(b["skipped"].sum()) for b in batches) == 2
    assert all(b["skipped_ids"].tolist() == [[bad_id] + [-1] * (SKIPPED_ID_SLOTS - 1)] for b in batches)

    result = train(_cfg(tiny_data, tmp_path / "run", train_images=images, workers=2, max_iters=3, val_ann=None,
                        val_images=None))
    assert result.skipped["undecodable_images"] == 1 and result.skipped["missing_images"] == 0


def test_log_header_survives_an_early_kill_and_a_diverging_run_is_one_line(tiny_data, tmp_path, capsys, monkeypatch):
    from train.trainer import _CsvLog

    log_file = tmp_path / "log.csv"
    _CsvLog(log_file, 2)  # opened, then the process dies before the first row
    assert log_file.read_text().startswith("kind,iter,epoch")
    log_file.write_text("")  # a log emptied by an older version: a resume writes the header again
    csv_log = _CsvLog(log_file, 2, resume_iteration=4)
    csv_log.write({"kind": "train", "iter": 5})
    csv_log.close()
    assert [r["iter"] for r in csv.DictReader(log_file.open())] == ["5"]

    tr, _ = tiny_data
    monkeypatch.setattr("train.trainer.pose_loss",
                        lambda *a, **k: (torch.tensor(float("nan")), [float("nan")]))
    rc = train_main(["--train-ann", str(tr), "--train-images", str(tr.parent / "images"), "--crop-size", "64",
                     "--batch-size", "2", "--workers", "0", "--max-iters", "3", "--out-dir", str(tmp_path / "nan"),
                     "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "loss is nan at iteration 1" in err and "Traceback" not in err

    # a disk that fills up mid-run is no usage error: one line, exit 1 (it printed the whole usage, exit 2)
    monkeypatch.undo()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("train.trainer.save_checkpoint", disk_full)
    rc = train_main(["--train-ann", str(tr), "--train-images", str(tr.parent / "images"), "--crop-size", "64",
                     "--batch-size", "2", "--workers", "0", "--max-iters", "1", "--out-dir", str(tmp_path / "full"),
                     "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "No space left on device" in err and "usage:" not in err


def test_resume_inside_a_log_window_logs_the_rows_of_an_uninterrupted_run(tiny_data, tmp_path):
    """A checkpoint between two ``--log-after`` rows carries the open window's loss sums: the resumed run's next
    row averages the same iterations as the uninterrupted run's (it averaged only those after the resume)."""
    kw = dict(val_ann=None, val_images=None, seed=3, max_iters=4, batch_size=1, log_after=2, checkpoint_after=0)

    def rows(out):
        with (out / "log.csv").open(newline="") as fh:
            return [(r["iter"], r["loss"], r["stage0"], r["stage1"]) for r in csv.DictReader(fh)]

    train(_cfg(tiny_data, tmp_path / "whole", **kw))
    train(_cfg(tiny_data, tmp_path / "part", **{**kw, "max_iters": 3, "checkpoint_after": 3}))
    train(_cfg(tiny_data, tmp_path / "part", checkpoint=tmp_path / "part" / "checkpoint_iter_3.pth", **kw))
    assert rows(tmp_path / "part") == rows(tmp_path / "whole")


def test_ddp_collectives_wait_long_enough_for_rank0_validation(monkeypatch):
    """The other ranks wait at a barrier while rank 0 validates; PyTorch's default collective timeout (10 min NCCL,
    30 min gloo) is shorter than a full COCO validation pass, so the process group is set up with DDP_TIMEOUT."""
    import datetime

    import torch.distributed as dist

    import train.trainer as trainer

    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "is_initialized", lambda: bool(seen))
    monkeypatch.setattr(dist, "init_process_group", lambda **kwargs: seen.update(kwargs))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    rank, world, device = trainer._dist_setup(trainer.TrainConfig("a.json", "images", device="cpu"))
    assert (rank, world, device.type) == (1, 2, "cpu")
    assert seen == {"backend": "gloo", "timeout": trainer.DDP_TIMEOUT}
    assert trainer.DDP_TIMEOUT >= datetime.timedelta(hours=2)


def _killed_validation(*args, **kwargs):
    raise KeyboardInterrupt  # Ctrl-C during a validation


def test_a_validation_killed_after_its_checkpoint_runs_when_the_run_resumes(tiny_data, tmp_path, monkeypatch):
    """The checkpoint of iteration N is saved before N's validation: a run killed while validating resumed without
    that validation, leaving a gap in log.csv's validation rows (and in checkpoint_best.pth's candidates)."""
    out = tmp_path / "v"
    killed = _killed_validation
    monkeypatch.setattr("train.trainer.evaluate_model", killed)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_data, out, max_iters=4))
    monkeypatch.undo()

    def val_iters():
        with (out / "log.csv").open(newline="") as fh:
            return [r["iter"] for r in csv.DictReader(fh) if r["kind"] == "val"]

    ck = out / "checkpoint_iter_2.pth"
    resumed = train(_cfg(tiny_data, out, checkpoint=ck, max_iters=3))
    assert val_iters() == ["2", "3"] and [p["iter"] for p in resumed.val_curve] == [2, 3]
    assert read_checkpoint(out / "checkpoint_best.pth")["iter"] in (2, 3)
    again = train(_cfg(tiny_data, out, checkpoint=ck, max_iters=3))  # logged this time: not validated twice
    assert val_iters() == ["2", "3"] and [p["iter"] for p in again.val_curve] == [3]

    # killed while validating the last iteration: the resume found its budget reached and did nothing at all (no
    # validation, no checkpoint_last.pth); now it validates and saves, without a training step
    out = tmp_path / "end"
    monkeypatch.setattr("train.trainer.evaluate_model", killed)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_data, out, max_iters=2))
    monkeypatch.undo()
    assert not (out / "checkpoint_last.pth").exists()
    end = train(_cfg(tiny_data, out, checkpoint=out / "checkpoint_iter_2.pth", max_iters=2))
    assert end.iteration == 2 and val_iters() == ["2"] and [p["iter"] for p in end.val_curve] == [2]
    assert read_checkpoint(out / "checkpoint_last.pth")["iter"] == 2

    # ... and while running the final validation, after checkpoint_last.pth (iteration 3: no periodic validation)
    out = tmp_path / "final"
    calls = []

    def second_killed(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate_model(*args, **kwargs)

    monkeypatch.setattr("train.trainer.evaluate_model", second_killed)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_data, out, max_iters=3))
    monkeypatch.undo()
    final = train(_cfg(tiny_data, out, checkpoint=out / "checkpoint_last.pth", max_iters=3))
    assert final.iteration == 3 and val_iters() == ["2", "3"]


def test_a_resumed_validation_records_the_epoch_of_an_uninterrupted_run(tiny_data, tmp_path, monkeypatch):
    """Killed while validating the last iteration of an epoch: the resumed run moved on to the next epoch before
    validating, and its val row said epoch 1 where the uninterrupted run's says 0."""
    tr, _ = tiny_data
    per_epoch = len(CocoPoseDataset(tr, tr.parent / "images")) // 2
    kw = dict(max_iters=per_epoch, val_after=per_epoch, checkpoint_after=per_epoch)
    whole = train(_cfg(tiny_data, tmp_path / "whole", **kw))
    monkeypatch.setattr("train.trainer.evaluate_model", _killed_validation)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_data, tmp_path / "part", **kw))
    monkeypatch.undo()
    part = train(_cfg(tiny_data, tmp_path / "part", checkpoint=tmp_path / "part" / f"checkpoint_iter_{per_epoch}.pth",
                      **kw))
    assert [(p["iter"], p["epoch"]) for p in part.val_curve] == [(p["iter"], p["epoch"]) for p in whole.val_curve]
    with (tmp_path / "part" / "log.csv").open(newline="") as fh:
        assert [r["epoch"] for r in csv.DictReader(fh) if r["kind"] == "val"] == ["0"]


def test_undecodable_validation_images_are_refused_at_the_start_and_mid_run_in_one_line(tiny_data, tmp_path,
                                                                                        capsys, monkeypatch):
    """The start checked that the validation images exist, not that they decode: such a run trained until its first
    validation, which then failed with the whole usage text."""
    tr, va = tiny_data
    val = tmp_path / "val_images"
    shutil.copytree(va.parent / "images", val)
    first, second = sorted(val.iterdir())
    first.write_bytes(b"not an image")
    args = ["--train-ann", str(tr), "--train-images", str(tr.parent / "images"), "--crop-size", "64", "--batch-size",
            "2", "--workers", "0", "--max-iters", "2", "--val-after", "2", "--checkpoint-after", "2", "--val-height",
            "64", "--no-progress", "--val-ann", str(va), "--val-images", str(val)]
    train(_cfg(tiny_data, tmp_path / "one_bad", val_images=val, max_iters=1))  # one decodes: the run goes on
    with pytest.raises(SystemExit):  # the one image a --val-max-images 1 validation reads does not decode
        train_main([*args, "--val-max-images", "1", "--out-dir", str(tmp_path / "first_only")])
    assert f"in {val} decodes (e.g. {first})" in capsys.readouterr().err
    assert not (tmp_path / "first_only").exists()  # refused before training
    second.write_bytes(b"")
    with pytest.raises(SystemExit):
        train_main([*args, "--out-dir", str(tmp_path / "none")])
    assert "none of the 2 image(s) a validation reads" in capsys.readouterr().err

    # images that become unreadable during the run: one line, exit 1, the checkpoint before it kept
    shutil.copytree(va.parent / "images", val, dirs_exist_ok=True)
    monkeypatch.setattr("train.trainer.evaluate_model", lambda *a, **k: (_ for _ in ()).throw(
        ValueError(f"no image of {va} could be read from {val}")))
    rc = train_main([*args, "--out-dir", str(tmp_path / "mid")])
    err = capsys.readouterr().err
    assert rc == 1 and "validation at iteration 2: no image of" in err and "usage:" not in err
    assert (tmp_path / "mid" / "checkpoint_iter_2.pth").is_file()


def test_summary_of_a_resumed_run_describes_the_whole_run(tiny_data, tmp_path):
    """summary.json's val_curve listed only the last process's validations and its train_seconds were that
    process's, while each point's train_seconds counts the whole run."""
    tr, va = tiny_data
    out = tmp_path / "run"
    args = ["--train-ann", str(tr), "--train-images", str(tr.parent / "images"), "--crop-size", "64", "--batch-size",
            "2", "--workers", "0", "--val-after", "2", "--checkpoint-after", "2", "--val-height", "64",
            "--no-progress", "--val-ann", str(va), "--val-images", str(va.parent / "images"), "--out-dir", str(out)]
    assert train_main([*args, "--max-iters", "2"]) == 0
    first = json.loads((out / "summary.json").read_text())
    assert train_main([*args, "--max-iters", "4", "--checkpoint", str(out / "checkpoint_iter_2.pth")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [p["iter"] for p in summary["val_curve"]] == [2, 4]
    assert summary["val_curve"][0]["AP"] == pytest.approx(first["val_curve"][0]["AP"], abs=1e-4)
    saved = read_checkpoint(out / "checkpoint_iter_2.pth")["train_seconds"]
    assert summary["train_seconds"] == pytest.approx(saved + summary["process_train_seconds"], abs=0.02)
    assert summary["train_seconds"] >= summary["val_curve"][-1]["train_seconds"] > summary["process_train_seconds"]
