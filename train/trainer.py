"""The training loop: data, model init / resume, Adam + MultiStepLR, AMP, DDP, logs, checkpoints, validation AP.

One process per device; under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in DistributedDataParallel
(gloo on CPU, NCCL on CUDA) and every process reads its shard through a DistributedSampler; rank 0 alone writes
logs and checkpoints and runs validation. ``batch_size`` is per process.

Initialisation, in order of precedence: ``checkpoint`` (full resume: weights, optimizer, scheduler, iteration and
epoch; or with ``weights_only`` just the weights, extra refinement stages dropped, ``allow_partial`` for new ones),
else ``imagenet`` (MobileNet-v1 backbone weights), else random.
"""
from __future__ import annotations

import csv
import datetime
import itertools
import json
import logging
import math
import os
import random
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from ov_inference.sources import read_annotated_image
from pose_format import (INPUT_HEIGHT_ACCURATE, TRAIN_CROP, check_input_side, dumps_strict, read_coco_keypoints,
                         write_text_atomic)
from train.augment import AugmentConfig
from train.checkpoint import (CheckpointError, cpu_state_dict, load_imagenet_backbone, load_weights, read_checkpoint,
                              save_checkpoint)
from train.dataset import CocoPoseDataset
from train.evaluate import TABLE_STATS as _VAL_STATS
from train.evaluate import evaluate_model, evaluated_images
from train.hyperparams import check_hyperparameters, check_run_settings
from train.loss import pose_loss
from train.model import PoseEstimationWithMobileNet
from train.ema import WeightAverage
from train.optim import (ADAM_BETA2, BASE_LR, GAMMA, LR_SCHEDULES, MILESTONES, WEIGHT_DECAY, apply_budget_decay,
                         apply_warmup, make_optimizer, make_scheduler)

log = logging.getLogger(__name__)

#: The checkpoint of the run's best validation AP (never pruned); ``best.json`` beside it holds the AP.
BEST_CHECKPOINT = "checkpoint_best.pth"

__all__ = ["TrainConfig", "TrainResult", "ValidationError", "train", "check_config", "config_dict", "native_bf16"]


def native_bf16() -> bool:
    """True when this CPU has bf16 instructions (AVX512-BF16 or AMX), where ``--amp`` speeds training up ~2x.

    Without them PyTorch emulates bf16 and autocast is slower than float32, so recipes enable ``--amp`` only here.
    """
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


@dataclass
class TrainConfig:
    """Everything a training run needs. Paths are files/folders; sizes are pixels; times are seconds."""

    train_ann: Path
    train_images: Path
    out_dir: Path = Path("runs/default")
    val_ann: Path | None = None
    val_images: Path | None = None
    val_after: int = 5000
    val_height: int = INPUT_HEIGHT_ACCURATE
    val_max_images: int | None = None
    crop_size: int = TRAIN_CROP
    batch_size: int = 80
    base_lr: float = BASE_LR
    weight_decay: float = WEIGHT_DECAY
    #: Adam's second-moment decay (beta1 stays 0.9)
    adam_beta2: float = ADAM_BETA2
    #: the paper's per-group lr multipliers (x2 biases, x4 / x8 refinement stages); False: every group at base_lr
    lr_multipliers: bool = True
    epochs: int = 280
    milestones: tuple[int, ...] = MILESTONES
    gamma: float = GAMMA
    #: linear lr warm-up over the first N iterations (0: none)
    warmup_iters: int = 0
    #: ``step``: MultiStepLR at ``milestones``; ``linear``: after the warm-up, a linear decay to zero at the end of
    #: the budget: ``max_iters`` and/or ``time_limit`` (the run's training seconds), else ``epochs``
    lr_schedule: str = "step"
    #: decay of an exponential moving average of the weights (0: off); validation and checkpoints then use the
    #: average (``state_dict``) and keep the trained weights for resuming under ``train_state_dict``
    ema_decay: float = 0.0
    #: extra loss weight of the heatmap cells around keypoints (:func:`train.loss.heatmap_weights`; 0: the paper's)
    foreground_weight: float = 0.0
    max_iters: int | None = None
    #: seconds of training (validation excluded) for the whole run: a resumed run continues the count saved in its
    #: checkpoint (``train_seconds``)
    time_limit: float | None = None
    num_refinement_stages: int = 1
    checkpoint: Path | None = None
    weights_only: bool = False
    allow_partial: bool = False
    allow_unsafe_checkpoint: bool = False
    imagenet: Path | None = None
    checkpoint_after: int = 5000
    keep_checkpoints: int = 3
    log_after: int = 100
    workers: int = 8
    #: autocast of the training steps' forward pass (bf16 on CPU, fp16 + GradScaler on CUDA); validation runs
    #: outside it, in float32 like ``train.evaluate`` on the saved checkpoint, whose weights stay float32.
    amp: bool = False
    #: NHWC activations (1.5-1.7x faster steps on CPU with oneDNN; numerically the same network).
    channels_last: bool = True
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    # Augmentation: defaults are AugmentConfig's (the paper's), restated nowhere else.
    target_dist: float = AugmentConfig.target_dist
    scale_range: tuple[float, float] = AugmentConfig.scale_range
    max_rotation: float = AugmentConfig.max_rotation
    center_jitter: float = AugmentConfig.center_jitter
    flip_prob: float = AugmentConfig.flip_prob
    progress: bool = True

    def augment(self) -> AugmentConfig:
        return AugmentConfig(crop_size=self.crop_size, target_dist=self.target_dist, scale_range=self.scale_range,
                             max_rotation=self.max_rotation, center_jitter=self.center_jitter,
                             flip_prob=self.flip_prob)


@dataclass
class TrainResult:
    """What a run did: final iteration/epoch, last checkpoint, the validation curve and timings. ``val_curve``,
    ``train_seconds``, ``total_seconds`` and ``seconds_per_iter`` are this process's; ``run_val_curve`` and
    ``run_train_seconds`` the whole run's, a resumed one's earlier processes included."""

    iteration: int
    epoch: int
    checkpoint: Path | None
    val_curve: list[dict] = field(default_factory=list)
    #: earlier processes' validations (log.csv's ``val`` rows, 4 decimals) followed by ``val_curve``
    run_val_curve: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    #: training seconds of the whole run: the resumed checkpoint's ``train_seconds`` plus this process's
    run_train_seconds: float = 0.0
    total_seconds: float = 0.0
    seconds_per_iter: float = float("nan")
    last_loss: float = float("nan")
    #: what the run skipped: ``missing_images`` (absent when indexed), ``undecodable_images`` (distinct images that
    #: failed to decode when read, over every DataLoader worker and rank), ``out_of_image_keypoints`` (treated as
    #: unlabeled) and ``malformed_annotations`` (masked out)
    skipped: dict = field(default_factory=dict)


class ValidationError(RuntimeError):
    """A validation during the run that could not evaluate (e.g. its images became unreadable after the start):
    the run stops, its checkpoints so far intact; no command-line mistake (the settings were checked at the start)."""


#: How long a rank waits in a collective before the run fails. The other ranks wait at a barrier while rank 0
#: validates, and a full COCO val2017 pass (5000 images, single process) can outlast PyTorch's default (10 minutes
#: for NCCL, 30 for gloo), which killed multi-GPU runs at their first validation.
DDP_TIMEOUT = datetime.timedelta(hours=4)


def _dist_setup(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available to this PyTorch "
                         f"(torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'}); "
                         "use --device cpu or auto")
    want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if want_cuda else "gloo", timeout=DDP_TIMEOUT)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if want_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return rank, world, device


class EpochKeySampler(Sampler):
    """``(epoch, index)`` keys from a DistributedSampler: persistent DataLoader workers learn the epoch this way
    (their dataset copies never see ``set_epoch``), so each epoch draws new augmentations. ``skip``: samples of
    the epoch's order to leave out at its start (a run resumed mid-epoch continues where it stopped)."""

    def __init__(self, sampler: DistributedSampler):
        self.sampler = sampler
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = int(epoch), int(skip)
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, int(i)) for i in itertools.islice(self.sampler, self.skip, None))

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)


def _any_flag_rank0_seconds(flag: bool, seconds: float, device: torch.device) -> tuple[bool, float]:
    """Whether ``flag`` is raised on any rank, and rank 0's ``seconds``, in one all_reduce (the values themselves
    outside DDP). Each rank measures time on its own clock, and the others wait for rank 0's validations at a barrier:
    the run's training seconds are rank 0's, so that the learning rate they set and the stop they decide are the same
    on every rank."""
    if not dist.is_initialized():
        return flag, seconds
    mine = seconds if dist.get_rank() == 0 else -math.inf
    shared = torch.tensor([1.0 if flag else 0.0, mine], dtype=torch.float64, device=device)
    dist.all_reduce(shared, op=dist.ReduceOp.MAX)
    return bool(shared[0].item()), float(shared[1].item())


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def _init_model(cfg: TrainConfig, model: PoseEstimationWithMobileNet) -> dict | None:
    """Initialise weights; returns the checkpoint dict for a full resume (None otherwise)."""
    if cfg.checkpoint is not None:
        ckpt = read_checkpoint(cfg.checkpoint, cfg.allow_unsafe_checkpoint)
        report = load_weights(model, ckpt, allow_partial=cfg.allow_partial, source=cfg.checkpoint)
        log.info("loaded %d tensors from %s%s", len(report.loaded), cfg.checkpoint,
                 " (weights only)" if cfg.weights_only else " (full resume)")
        return None if cfg.weights_only else ckpt
    if cfg.imagenet is not None:
        load_imagenet_backbone(model, cfg.imagenet, cfg.allow_unsafe_checkpoint)
    return None


class _CsvLog:
    """``log.csv``: one row per logged training window / validation. ``resume_iteration``: a resumed run keeps
    the rows up to that iteration and drops the later ones (the killed run's, which are trained again)."""

    def __init__(self, path: Path, num_stages: int, resume_iteration: int | None = None):
        self.fields = (["kind", "iter", "epoch", "elapsed_s", "lr", "loss"]
                       + [f"stage{i}" for i in range(num_stages)] + ["s_per_iter", *_VAL_STATS])
        append = resume_iteration is not None
        if append and path.is_file():
            _truncate_csv(path, resume_iteration)
        new = not (append and path.is_file() and path.stat().st_size > 0)  # an empty file gets its header too
        self.fh = path.open("w" if new else "a", newline="")
        self.writer = csv.DictWriter(self.fh, fieldnames=self.fields, extrasaction="ignore")
        if new:
            self.writer.writeheader()
            self.fh.flush()  # a run killed before its first row still leaves a readable log

    def write(self, row: dict) -> None:
        self.writer.writerow(row)
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def _truncate_csv(path: Path, last_iteration: int) -> None:
    """Rewrite the CSV log at ``path`` without its rows after ``last_iteration`` (atomically)."""
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    col = header.index("iter") if "iter" in header else None
    kept = [r for r in body if col is None or len(r) <= col or not r[col].isdigit() or int(r[col]) <= last_iteration]
    if len(kept) == len(body):
        return
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *kept])
    os.replace(tmp, path)
    log.info("log.csv: dropped %d row(s) after iteration %d (the interrupted run's)", len(body) - len(kept),
             last_iteration)


#: What a full resume takes from the saved optimizer and scheduler over the configuration (keys of
#: :func:`_hyperparameters`): ``(owner, what, flag)``. The scheduler's only matter to the step schedule.
_RESUME_KEEPS = {
    "beta2": ("optimizer", "Adam beta2", "--adam-beta2"),
    "lr": ("optimizer", "group learning rates", "--lr / --uniform-lr rates"),
    "weight_decay": ("optimizer", "weight decay", "--weight-decay"),
    "milestones": ("scheduler", "milestones", "--milestones"),
    "gamma": ("scheduler", "gamma", "--gamma"),
}


def _hyperparameters(optimizer: torch.optim.Optimizer, scheduler) -> dict[str, tuple[float, ...]]:
    """The settings of :data:`_RESUME_KEEPS` that ``optimizer`` and its MultiStepLR ``scheduler`` hold: distinct
    values, sorted (the learning rates are the groups' ``initial_lr``, the rates before any schedule; the weight decay
    is that of the decayed groups, the others have 0)."""
    def distinct(values) -> tuple[float, ...]:
        return tuple(sorted({float(v) for v in values}))

    groups = optimizer.param_groups
    return {"beta2": distinct(g["betas"][1] for g in groups),
            "lr": distinct(g.get("initial_lr", g["lr"]) for g in groups),
            "weight_decay": distinct([max(g["weight_decay"] for g in groups)]),
            "milestones": distinct(scheduler.milestones), "gamma": distinct([scheduler.gamma])}


def _listed(values: tuple[float, ...]) -> str:
    """``values`` as ``"a / b"`` (``%g``), or ``"none"``."""
    return " / ".join(f"{v:g}" for v in values) or "none"


def _check_resumed_schedule(cfg: TrainConfig, resume: dict) -> None:
    """Refuse a full resume whose ``--lr-schedule`` is not the one its checkpoint was trained with (recorded as
    ``lr_schedule`` since it is; older checkpoints are not checked): the saved optimizer and scheduler carry the old
    schedule's state (a linear run's decayed rates and its empty milestones), which the new one would continue from."""
    saved = resume.get("lr_schedule")
    if saved is not None and saved != cfg.lr_schedule:
        raise ValueError(f"--lr-schedule {cfg.lr_schedule}: {cfg.checkpoint} was trained with --lr-schedule "
                         f"{saved}, whose learning rates and milestones a full resume keeps; resume with "
                         f"--lr-schedule {saved}, or restart from its weights with --weights-only")


def _budget_reached(cfg: TrainConfig, iteration: int, epoch: int, trained_seconds: float) -> str | None:
    """Why a resumed run at ``iteration`` / ``epoch`` after ``trained_seconds`` of training has nothing left to
    train (its iteration, time or epoch budget is reached), or ``None``."""
    if cfg.max_iters is not None and iteration >= cfg.max_iters:
        return f"the checkpoint is at iteration {iteration}: --max-iters {cfg.max_iters} is already reached"
    if cfg.time_limit is not None and trained_seconds >= cfg.time_limit:
        return (f"the checkpoint has trained {trained_seconds:.0f} s: --time-limit {cfg.time_limit:.0f} s is "
                "already reached")
    if epoch >= cfg.epochs:
        return f"the checkpoint is at epoch {epoch}: --epochs {cfg.epochs} is already reached"
    return None


def _validates_at(cfg: TrainConfig, iteration: int) -> bool:
    """Whether the run validates after ``iteration`` (a multiple of ``val_after`` with a validation set)."""
    return cfg.val_ann is not None and bool(cfg.val_after) and iteration > 0 and iteration % cfg.val_after == 0


def _logged_validations(path: Path) -> list[dict]:
    """The validations (``kind`` ``val`` rows) of the CSV log at ``path`` as :attr:`TrainResult.val_curve` points
    (``train_seconds``: the row's ``elapsed_s``, the run's training seconds); none when it cannot be read, and
    without the rows that do not parse."""
    try:
        with path.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("kind") == "val"]
    except OSError:
        return []
    points = []
    for row in rows:
        try:
            points.append({"iter": int(row["iter"]), "epoch": int(row["epoch"]),
                           "train_seconds": float(row["elapsed_s"]), **{k: float(row[k]) for k in _VAL_STATS}})
        except (KeyError, TypeError, ValueError):
            continue
    return points


def _validation_logged(path: Path, iteration: int) -> bool:
    """Whether the CSV log at ``path`` holds a validation row (``kind`` ``val``) of ``iteration``."""
    return any(point["iter"] == iteration for point in _logged_validations(path))


def _best_ap(out_dir: Path) -> float | None:
    """The AP of ``out_dir``'s :data:`BEST_CHECKPOINT` (from ``best.json``), or ``None`` when there is none."""
    try:
        record = json.loads((out_dir / "best.json").read_text())
        return float(record["AP"]) if (out_dir / BEST_CHECKPOINT).is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remove_partial_saves(out_dir: Path) -> None:
    """Delete the temporary files of checkpoint saves that were killed before their atomic rename."""
    for tmp in out_dir.glob(".*.pth.*.tmp"):
        log.warning("removing %s: a checkpoint save that was interrupted (the checkpoint itself is intact)", tmp)
        tmp.unlink(missing_ok=True)


def _numbered_checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of the periodic checkpoints ``checkpoint_iter_<N>.pth`` in ``out_dir``, by iteration."""
    found = [(p.stem.rsplit("_", 1)[1], p) for p in out_dir.glob("checkpoint_iter_*.pth")]
    return sorted((int(n), p) for n, p in found if n.isdigit())


def _prune(out_dir: Path, keep: int, iteration: int) -> None:
    """Keep the ``keep`` newest periodic checkpoints among those of iterations up to ``iteration`` (later ones
    belong to an earlier run in the same folder and are left alone)."""
    mine = [(n, p) for n, p in _numbered_checkpoints(out_dir) if n <= iteration]
    for _, old in mine[:-keep]:
        old.unlink(missing_ok=True)


def _params_in_sync(model: nn.Module, device: torch.device) -> bool:
    """Whether every rank holds the same weights (sum and absolute sum compared); the tensors live on ``device``, as
    NCCL all-gathers CUDA tensors only."""
    flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in model.parameters()])
    mine = torch.tensor([flat.sum().item(), flat.abs().sum().item()], dtype=torch.float64, device=device)
    gathered = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, mine)
    return all(torch.allclose(g, gathered[0], rtol=1e-6, atol=1e-6) for g in gathered)


def check_config(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` naming the command-line flag for a setting no run can use, before anything is built or
    read (the validation set included: a bad one would otherwise fail only at the first validation)."""
    if cfg.time_limit is not None and not cfg.time_limit > 0:
        raise ValueError(f"--time-limit must be a positive number of seconds, got {cfg.time_limit}")
    check_run_settings(cfg.max_iters, cfg.adam_beta2, cfg.num_refinement_stages)
    for flag, value, low in (("--batch-size", cfg.batch_size, 1), ("--epochs", cfg.epochs, 1),
                             ("--log-after", cfg.log_after, 1), ("--keep-checkpoints", cfg.keep_checkpoints, 1),
                             ("--checkpoint-after", cfg.checkpoint_after, 0), ("--val-after", cfg.val_after, 0),
                             ("--workers", cfg.workers, 0), ("--warmup-iters", cfg.warmup_iters, 0),
                             ("--threads", 1 if cfg.threads is None else cfg.threads, 1),
                             ("--milestones", min(cfg.milestones, default=1), 1),  # epochs (0 cut the lr at the start)
                             ("--val-max-images", 1 if cfg.val_max_images is None else cfg.val_max_images, 1)):
        if value < low:
            raise ValueError(f"{flag} must be at least {low}, got {value}")
    check_hyperparameters(lr=cfg.base_lr, gamma=cfg.gamma, weight_decay=cfg.weight_decay,
                          foreground_weight=cfg.foreground_weight, ema=cfg.ema_decay, target_dist=cfg.target_dist,
                          center_jitter=cfg.center_jitter, flip_prob=cfg.flip_prob, seed=cfg.seed,
                          crop_size=cfg.crop_size, max_rotation=cfg.max_rotation, scale_range=cfg.scale_range)
    check_input_side(cfg.val_height, "--val-height")
    out_dir = Path(cfg.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out-dir {out_dir} is a file, expected a folder")
    if (cfg.val_ann is None) != (cfg.val_images is None):
        raise ValueError("give both --val-ann and --val-images, or neither")
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {cfg.lr_schedule!r}")
    if cfg.val_ann is not None:
        _check_val_images(cfg)


def _check_val_images(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` unless one of the images a validation reads (:func:`evaluated_images`) is in
    ``--val-images`` and decodes. Reading stops at the first that does, so a sound set costs one decode (~5 ms for a
    COCO image on a 2-core CPU; all 5000 of val2017 would add ~25 s to every start, and a validation skips the odd
    bad image anyway): what is refused is a set no validation could use, which failed only at the first
    validation, possibly hours into the run."""
    images = Path(cfg.val_images)
    if not images.is_dir():
        raise ValueError(f"--val-images {images} is not a folder")
    listed = evaluated_images(read_coco_keypoints(cfg.val_ann), cfg.val_max_images)
    present = [im for im in listed if (images / im["file_name"]).is_file()]
    if not present:
        raise ValueError(f"none of the {len(listed)} image(s) a validation reads of --val-ann {cfg.val_ann} is in "
                         f"{images}")
    for im in present:
        try:
            read_annotated_image(images / im["file_name"], int(im["width"]), int(im["height"]))
            return
        except ValueError:
            continue
    raise ValueError(f"none of the {len(present)} image(s) a validation reads of --val-ann {cfg.val_ann} in "
                     f"{images} decodes (e.g. {images / present[0]['file_name']})")


def _earlier_run_files(out_dir: Path) -> None:
    """Warn when a fresh run starts in a folder that holds another run's checkpoints (kept: pruning only ever
    removes checkpoints of iterations this run has reached) and log (restarted)."""
    old = [n for n, _ in _numbered_checkpoints(out_dir)]
    if old:
        log.warning("%s holds %d checkpoint(s) of an earlier run (iterations %d..%d): this run saves over those of "
                    "the same iteration and its log.csv starts afresh; use another --out-dir to keep them apart",
                    out_dir, len(old), old[0], old[-1])


def train(cfg: TrainConfig) -> TrainResult:
    """Run (or resume) training as configured; returns a :class:`TrainResult` (on every rank)."""
    from tqdm import tqdm

    check_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rank, world, device = _dist_setup(cfg)
    _seed_everything(cfg.seed + rank)
    is_main = rank == 0
    out_dir = Path(cfg.out_dir)
    if is_main:
        if cfg.checkpoint is None or cfg.weights_only:
            _earlier_run_files(out_dir)

    dataset = CocoPoseDataset(cfg.train_ann, cfg.train_images, cfg.augment(), seed=cfg.seed)
    sampler = EpochKeySampler(DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                                 seed=cfg.seed, drop_last=True))
    loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        drop_last=True, pin_memory=device.type == "cuda", persistent_workers=cfg.workers > 0)
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} training samples per {world} process(es) do not fill one batch of "
                         f"{cfg.batch_size}: lower --batch-size")

    model = PoseEstimationWithMobileNet(num_refinement_stages=cfg.num_refinement_stages)
    resume = _init_model(cfg, model)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, cfg.base_lr, cfg.weight_decay, cfg.lr_multipliers, cfg.adam_beta2)
    scheduler = make_scheduler(optimizer, cfg.milestones if cfg.lr_schedule == "step" else (), cfg.gamma)
    iteration, epoch = 0, 0
    if resume is not None:
        _check_resumed_schedule(cfg, resume)
        configured = _hyperparameters(optimizer, scheduler)
        try:
            optimizer.load_state_dict(resume["optimizer"])
            scheduler.load_state_dict(resume["scheduler"])
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{cfg.checkpoint}: optimizer/scheduler state does not match this training setup ({exc}); "
                "restart from its weights with --weights-only") from exc
        saved = _hyperparameters(optimizer, scheduler)  # the saved state carries its hyperparameters: they win
        for key, (owner, what, flag) in _RESUME_KEEPS.items():
            if saved[key] != configured[key] and (owner == "optimizer" or cfg.lr_schedule == "step"):
                log.warning("%s: the saved %s uses %s %s, which a full resume keeps (%s %s ignored); restart with "
                            "--weights-only to change it", cfg.checkpoint, owner, what, _listed(saved[key]), flag,
                            _listed(configured[key]))
        iteration, epoch = int(resume.get("iter", 0)), int(resume.get("current_epoch", 0))
        log.info("resuming at iteration %d, epoch %d", iteration, epoch)
    batches_per_epoch = len(loader)
    # A run resumed mid-epoch skips the batches that epoch already trained on (same order: the sampler is seeded by
    # the epoch), so it sees what an uninterrupted run would; only when the epoch length is unchanged.
    resume_skip = iteration - epoch * batches_per_epoch
    if resume_skip == batches_per_epoch:  # saved after the epoch's last batch, before the epoch count moved on
        epoch, resume_skip = epoch + 1, 0
        with warnings.catch_warnings():  # PyTorch warns of a step before this process's first optimizer.step()
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            scheduler.step()
    elif not 0 <= resume_skip < batches_per_epoch:
        log.warning("iteration %d is not inside epoch %d of %d batches (another batch size or data?): the epoch "
                    "restarts from its first batch", iteration, epoch, batches_per_epoch)
        resume_skip = 0
    start_iteration = iteration
    # The average starts from the loaded state_dict (a run with --ema saved its average there) ...
    ema = (WeightAverage(model, cfg.ema_decay, updates=int(resume.get("ema_updates", 0)) if resume else 0)
           if cfg.ema_decay > 0 else None)
    if resume is not None and "train_state_dict" in resume:  # ... and training resumes the trained weights
        model.load_state_dict(resume["train_state_dict"])
        log.info("resuming the trained weights (train_state_dict), not the checkpoint's average")
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and device.type == "cuda")
    if resume is not None and scaler.is_enabled() and resume.get("grad_scaler"):
        scaler.load_state_dict(resume["grad_scaler"])  # loss scale and growth tracker: the exact resume of --amp
    result = TrainResult(iteration=iteration, epoch=epoch, checkpoint=None)
    # training seconds of the run before this process (a resumed run's checkpoint carries them)
    prior_seconds = float(resume.get("train_seconds", 0.0)) if resume is not None else 0.0
    reached = _budget_reached(cfg, iteration, epoch, prior_seconds) if resume is not None else None
    # checkpoints (the final one too) are saved before the validation of their iteration: a run killed while
    # validating resumes without it, so the resumed run validates that iteration first unless log.csv has its row
    # (rank 0's decision)
    due = resume is not None and (_validates_at(cfg, iteration) or (reached is not None and cfg.val_ann is not None))
    pending_validation = due and _any_flag_rank0_seconds(  # a collective only then: the same on every rank
        is_main and not _validation_logged(out_dir / "log.csv", iteration), 0.0, device)[0]
    if reached and not pending_validation:  # nothing to do: the run's files (log.csv, checkpoint_last.pth) are left
        log.warning("%s, nothing to train; %s is unchanged", reached, out_dir)
        return result
    if is_main:  # created once data, model and checkpoint are known good: a refused run leaves no empty folder
        out_dir.mkdir(parents=True, exist_ok=True)
        _remove_partial_saves(out_dir)
    csv_log = _CsvLog(out_dir / "log.csv", 1 + cfg.num_refinement_stages,
                      resume_iteration=iteration if resume is not None else None) if is_main else None
    # the validations of the run's earlier processes (a fresh run's log.csv starts empty)
    earlier_curve = _logged_validations(out_dir / "log.csv") if is_main and resume is not None else []
    if is_main:
        log.info("training on %s x%d: %d samples, batch %d per process, crop %d, %d iteration(s) per epoch",
                 device, world, len(dataset), cfg.batch_size, cfg.crop_size, len(loader))

    start = time.perf_counter()
    val_seconds = 0.0

    def run_seconds() -> float:
        """The run's training seconds so far: earlier processes' plus this one's (validation excluded)."""
        return prior_seconds + time.perf_counter() - start - val_seconds

    window_t, window_n, window_loss = time.perf_counter(), 0, 0.0
    window_stages = np.zeros(1 + cfg.num_refinement_stages)  # per-stage loss sums of the window, as window_loss
    window_timed = 0  # steps of the window this process timed (s_per_iter)
    saved_window = resume.get("log_window") if resume is not None else None
    if saved_window and len(saved_window["stages"]) == len(window_stages):  # saved between two --log-after rows:
        window_n, window_loss = int(saved_window["n"]), float(saved_window["loss"])  # the next row averages the
        window_stages[:] = saved_window["stages"]  # iterations of an uninterrupted run's
    undecodable_ids: set[int] = set()  # ids of the images found undecodable in this process's batches
    undecodable_extra = 0  # beyond a sample's SKIPPED_ID_SLOTS: counted, not identified
    stop = bool(reached)  # a reached budget with a pending validation: validate, save checkpoint_last.pth, no step
    iteration_budget = cfg.max_iters or cfg.epochs * batches_per_epoch
    # Budget fraction done when the warm-up ended (linear schedule): known for an iteration budget; a time budget
    # measures it when the warm-up ends and the checkpoints carry it (``warmup_progress``) to a resumed run.
    warmup_progress: float | None = None
    if cfg.time_limit is None:
        warmup_progress = min(1.0, cfg.warmup_iters / max(iteration_budget, 1))
    elif start_iteration > cfg.warmup_iters:
        saved = resume.get("warmup_progress") if resume is not None else None
        warmup_progress = float(saved) if saved is not None else (
            min(1.0, cfg.warmup_iters / cfg.max_iters) if cfg.max_iters else 0.0)
        old_limit = resume.get("time_limit") if resume is not None else None
        if saved is not None and old_limit and float(old_limit) != cfg.time_limit:  # a budget changed on resume:
            warmup_progress = min(1.0, warmup_progress * float(old_limit) / cfg.time_limit)  # same warm-up seconds
            log.info("--time-limit %.0f s (the checkpoint's run had %.0f s): the linear decay spans the new budget",
                     cfg.time_limit, float(old_limit))

    def budget_progress(seconds: float) -> float:
        """Fraction of the run's budget done (linear schedule): iterations and/or the run's training ``seconds``."""
        parts = []
        if cfg.max_iters or not cfg.time_limit:
            parts.append(iteration / max(iteration_budget, 1))
        if cfg.time_limit:
            parts.append(seconds / cfg.time_limit)
        return min(1.0, max(parts))

    # the best validation AP of the run so far: checkpoint_best.pth has those weights, best.json beside it the AP (a
    # full resume in the same folder continues from it; a fresh run, or another folder, starts its own)
    best = {"ap": _best_ap(out_dir) if resume is not None else None}

    def validate(at_epoch: int | None = None) -> None:
        """Validate, log and keep the best; ``at_epoch``: the epoch recorded (default: the current one)."""
        nonlocal val_seconds
        if not is_main or cfg.val_ann is None:
            return
        at_epoch = epoch if at_epoch is None else at_epoch
        t0 = time.perf_counter()
        try:
            stats = evaluate_model(model if ema is None else ema.module, cfg.val_ann, cfg.val_images, cfg.val_height,
                                   cfg.val_max_images, progress=False)
        except ValueError as exc:  # no image could be read
            raise ValidationError(f"validation at iteration {iteration}: {exc}") from exc
        val_seconds += time.perf_counter() - t0
        train_s = run_seconds()
        point = {"iter": iteration, "epoch": at_epoch, "train_seconds": round(train_s, 2),
                 **{k: stats[k] for k in _VAL_STATS}}
        result.val_curve.append(point)
        if best["ap"] is None or stats["AP"] > best["ap"]:  # kept whatever --keep-checkpoints prunes
            best["ap"] = float(stats["AP"])
            checkpoint(name=BEST_CHECKPOINT)
            write_text_atomic(out_dir / "best.json", dumps_strict({"iter": iteration, "AP": best["ap"],
                                                                  "checkpoint": BEST_CHECKPOINT}) + "\n")
        csv_log.write({"kind": "val", "iter": iteration, "epoch": at_epoch, "elapsed_s": f"{train_s:.1f}",
                       **{k: f"{stats[k]:.4f}" for k in _VAL_STATS}})
        log.info("validation at iteration %d: AP %.3f AP50 %.3f AR %.3f (%d images, %.1f s)", iteration,
                 stats["AP"], stats["AP50"], stats["AR"], stats["images"], stats["seconds"])

    def checkpoint(final: bool = False, name: str | None = None) -> None:
        """Save ``checkpoint_iter_<N>.pth`` (and prune), ``checkpoint_last.pth`` (``final``) or ``name``."""
        if not is_main:
            return
        periodic = name is None and not final
        name = name or ("checkpoint_last.pth" if final else f"checkpoint_iter_{iteration}.pth")
        extra = {"train_seconds": run_seconds(),  # a resumed time budget continues from here
                 "lr_schedule": cfg.lr_schedule,  # a full resume keeps it (_check_resumed_schedule)
                 "log_window": {"n": window_n, "loss": window_loss, "stages": window_stages.tolist()}}
        if name == BEST_CHECKPOINT:
            extra["best_ap"] = best["ap"]
        if scaler.is_enabled():
            extra["grad_scaler"] = scaler.state_dict()
        if warmup_progress is not None:
            extra["warmup_progress"] = warmup_progress
        if cfg.time_limit is not None:
            extra["time_limit"] = cfg.time_limit  # warmup_progress is a fraction of this budget
        if ema is None:
            saved = save_checkpoint(out_dir / name, model, optimizer, scheduler, iteration, epoch, extra=extra)
        else:
            saved = save_checkpoint(out_dir / name, ema.module, optimizer, scheduler, iteration, epoch,
                                    extra={**extra, "train_state_dict": cpu_state_dict(model),
                                           "ema_updates": ema.updates})
        if periodic:
            _prune(out_dir, cfg.keep_checkpoints, iteration)
        if name != BEST_CHECKPOINT:
            result.checkpoint = saved
        log.info("saved %s%s", saved, f" (AP {best['ap']:.3f}, the best so far)" if name == BEST_CHECKPOINT else "")

    # A time-limited run has no known length (unless --max-iters bounds it): the bar then counts without an ETA.
    total = cfg.max_iters or (None if cfg.time_limit is not None else iteration_budget)
    bar = tqdm(total=total, initial=iteration, desc="train", unit="it", disable=not (is_main and cfg.progress),
               dynamic_ncols=True)
    net.train()
    try:
        if pending_validation:  # recorded with the checkpoint's epoch, as the killed run would have
            if is_main:
                log.info("validating iteration %d first: log.csv has no validation of it (interrupted)%s",
                         iteration, f"; {reached}, nothing to train" if reached else "")
            paused = time.perf_counter()
            validate(int(resume.get("current_epoch", 0)))
            window_t += time.perf_counter() - paused  # s_per_iter: training steps only
            if world > 1:
                dist.barrier()
        while epoch < cfg.epochs and not stop:
            sampler.set_epoch(epoch, skip=resume_skip * cfg.batch_size)
            resume_skip = 0
            for batch in loader:
                images = batch["image"].to(device, non_blocking=True)
                if cfg.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                heatmaps = batch["heatmaps"].to(device, non_blocking=True)
                pafs = batch["pafs"].to(device, non_blocking=True)
                mask = batch["mask"].to(device, non_blocking=True)
                if batch["skipped"].any():
                    ids = batch["skipped_ids"]
                    undecodable_ids.update(ids[ids >= 0].tolist())
                    undecodable_extra += int((batch["skipped"] - (ids >= 0).sum(1)).sum())
                with torch.autocast(device.type, dtype=amp_dtype, enabled=cfg.amp):
                    outputs = net(images)
                loss, per_stage = pose_loss(outputs, heatmaps, pafs, mask, cfg.foreground_weight)
                loss_value = float(loss.detach())
                # every rank stops together (one raising alone would leave the others in backward()); rank 0's clock
                diverged, seconds = _any_flag_rank0_seconds(not math.isfinite(loss_value), run_seconds(), device)
                if diverged:
                    what = (f"loss is {loss_value}" if not math.isfinite(loss_value) else
                            "loss is not finite on another rank")
                    where = f" (rank {rank})" if world > 1 else ""
                    raise FloatingPointError(f"{what} at iteration {iteration + 1}{where}: lower --lr")
                optimizer.zero_grad(set_to_none=True)
                if cfg.lr_schedule == "linear":
                    progress = budget_progress(seconds)
                    if warmup_progress is None and iteration >= cfg.warmup_iters:
                        warmup_progress = progress
                    apply_budget_decay(optimizer, progress, warmup_progress or 0.0)
                apply_warmup(optimizer, iteration, cfg.warmup_iters)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    ema.update(model)
                iteration += 1
                window_n += 1
                window_timed += 1
                window_loss += loss_value
                window_stages += per_stage
                result.last_loss = loss_value
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.2f}", epoch=epoch)
                if is_main and iteration % cfg.log_after == 0:
                    spi = (time.perf_counter() - window_t) / window_timed
                    lr = optimizer.param_groups[0]["lr"]
                    log.info("iter %d epoch %d loss %.3f lr %.2e %.3f s/it", iteration, epoch, window_loss / window_n,
                             lr, spi)
                    csv_log.write({"kind": "train", "iter": iteration, "epoch": epoch,
                                   "elapsed_s": f"{run_seconds():.1f}", "lr": f"{lr:.3e}",
                                   "loss": f"{window_loss / window_n:.5f}", "s_per_iter": f"{spi:.4f}",
                                   **{f"stage{i}": f"{v / window_n:.5f}" for i, v in enumerate(window_stages)}})
                    window_t, window_n, window_timed, window_loss = time.perf_counter(), 0, 0, 0.0
                    window_stages[:] = 0.0
                paused = time.perf_counter()
                if cfg.checkpoint_after and iteration % cfg.checkpoint_after == 0:
                    checkpoint()
                if _validates_at(cfg, iteration):
                    validate()
                    if world > 1:
                        dist.barrier()
                window_t += time.perf_counter() - paused  # s_per_iter: training steps only
                # every rank stops together, at its iteration limit or at rank 0's time limit
                stop, seconds = _any_flag_rank0_seconds(cfg.max_iters is not None and iteration >= cfg.max_iters,
                                                        run_seconds(), device)
                if not stop and cfg.time_limit is not None and seconds >= cfg.time_limit:
                    log.info("time limit of %.0f s reached at iteration %d", cfg.time_limit, iteration)
                    stop = True
                if stop:
                    break
            if not stop:
                epoch += 1
                scheduler.step()
        result.train_seconds = time.perf_counter() - start - val_seconds
        result.run_train_seconds = prior_seconds + result.train_seconds
        checkpoint(final=True)  # saved first: a failing final validation cannot lose the run's weights
        if cfg.val_ann is not None and (not result.val_curve or result.val_curve[-1]["iter"] != iteration):
            validate()
        if world > 1:
            in_sync = _params_in_sync(model, device)
            if is_main:
                log.info("ranks in sync after %d iterations: %s", iteration, in_sync)
            if not in_sync:
                raise RuntimeError("DDP ranks ended with different weights")
            dist.barrier()
    finally:
        bar.close()
        if csv_log is not None:
            csv_log.close()
    result.iteration, result.epoch = iteration, epoch
    result.run_val_curve = earlier_curve + result.val_curve
    if world > 1:  # each rank read its own batches: the run's images are the union
        gathered: list = [None] * world
        dist.all_gather_object(gathered, (undecodable_ids, undecodable_extra))
        undecodable_ids = set().union(*(ids for ids, _ in gathered))
        undecodable_extra = sum(extra for _, extra in gathered)
    undecodable = len(undecodable_ids) + undecodable_extra
    result.skipped = {"missing_images": int(dataset.skipped["missing_images"]), "undecodable_images": undecodable,
                      **{k: int(dataset.counts[k]) for k in ("out_of_image_keypoints", "malformed_annotations")}}
    if is_main and undecodable:
        log.warning("%d undecodable training image(s) were skipped", undecodable)
    result.total_seconds = time.perf_counter() - start
    done = iteration - (int(resume.get("iter", 0)) if resume else 0)
    result.seconds_per_iter = result.train_seconds / max(done, 1)
    if is_main:
        log.info("done: %d iterations, %.1f s training (%.3f s/it), %.1f s total", iteration, result.train_seconds,
                 result.seconds_per_iter, result.total_seconds)
    return result


def config_dict(cfg: TrainConfig) -> dict:
    """JSON-friendly view of a config (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
