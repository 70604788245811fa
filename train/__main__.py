"""``python -m train`` / ``lwpose-train``: train Lightweight OpenPose on COCO-format keypoint data.

The paper's three steps (see README.md, "Training"):
  1. from ImageNet MobileNet-v1 weights:   --imagenet mobilenet_sgd_68.848.pth.tar
  2. weights-only restart:                 --checkpoint runs/step1/checkpoint_iter_420000.pth --weights-only
  3. weights-only restart, 3 refinement stages (keep the first one afterwards):
     --checkpoint runs/step2/checkpoint_iter_280000.pth --weights-only --allow-partial --num-refinement-stages 3
Resume an interrupted run with --checkpoint runs/X/checkpoint_iter_N.pth (no --weights-only).
Multi-GPU / multi-node: torchrun --nproc_per_node N -m train ... (DistributedDataParallel; --batch-size per process).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pose_format import INPUT_HEIGHT_ACCURATE, TRAIN_CROP
from pose_format.cli_types import add_version_argument, folder_type
from pose_format.extras import extra_hint, require_extra

#: Modules of the ``train`` extra, all imported here so that a missing one stops the command before it starts, not
#: when the run reaches it (pycocotools when the annotations are read, tqdm at the progress bar).
EXTRA_MODULES = ("torch", "pycocotools", "tqdm")
#: What to do when one of them is missing (the runtime-only install).
EXTRAS_HINT = extra_hint("Training", "train")
require_extra("lwpose-train", EXTRA_MODULES, EXTRAS_HINT)
from train.optim import ADAM_BETA2, BASE_LR, GAMMA, LR_SCHEDULES, MILESTONES, WEIGHT_DECAY  # noqa: E402
from train.trainer import TrainConfig as TC  # noqa: E402

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lwpose-train", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version_argument(p)
    d = p.add_argument_group("data")
    d.add_argument("--train-ann", required=True, type=Path, help="COCO person keypoints JSON for training")
    d.add_argument("--train-images", required=True, type=Path, help="folder of the training images")
    d.add_argument("--val-ann", type=Path, help="COCO keypoints JSON for validation AP (with --val-images)")
    d.add_argument("--val-images", type=Path, help="folder of the validation images")
    d.add_argument("--val-after", type=int, default=TC.val_after,
                   help=f"validate every N iterations (default {TC.val_after})")
    d.add_argument("--val-height", type=int, default=INPUT_HEIGHT_ACCURATE, help="validation input height, pixels")
    d.add_argument("--val-max-images", type=int, help="validate on the first N images only")
    d.add_argument("--crop-size", type=int, default=TRAIN_CROP,
                   help=f"square training crop, pixels (default {TRAIN_CROP})")
    d.add_argument("--target-dist", type=float, default=TC.target_dist,
                   help="crop-centre person height as a fraction of the crop, before the random scale "
                        f"(default {TC.target_dist})")
    d.add_argument("--scale-min", type=float, default=TC.scale_range[0],
                   help=f"random scale multiplier, lower bound (default {TC.scale_range[0]})")
    d.add_argument("--scale-max", type=float, default=TC.scale_range[1],
                   help=f"random scale multiplier, upper bound (default {TC.scale_range[1]})")
    d.add_argument("--max-rotation", type=float, default=TC.max_rotation,
                   help=f"random rotation bound, degrees (default {TC.max_rotation:g})")
    d.add_argument("--center-jitter", type=float, default=TC.center_jitter,
                   help=f"crop centre jitter, crop pixels (default {TC.center_jitter:g})")
    d.add_argument("--flip-prob", type=float, default=TC.flip_prob,
                   help=f"horizontal flip probability (default {TC.flip_prob})")
    d.add_argument("--workers", type=int, default=TC.workers,
                   help=f"DataLoader worker processes (default {TC.workers})")
    o = p.add_argument_group("optimisation")
    o.add_argument("--batch-size", type=int, default=TC.batch_size,
                   help=f"batch size per process (default {TC.batch_size})")
    o.add_argument("--lr", type=float, default=BASE_LR, help=f"base learning rate (default {BASE_LR})")
    o.add_argument("--weight-decay", type=float, default=WEIGHT_DECAY,
                   help=f"weight decay (default {WEIGHT_DECAY})")
    o.add_argument("--adam-beta2", type=float, default=ADAM_BETA2,
                   help=f"Adam's second-moment decay; beta1 stays 0.9 (default {ADAM_BETA2})")
    o.add_argument("--uniform-lr", dest="lr_multipliers", action="store_false",
                   help="every parameter group at the base lr (default: the paper's x2 / x4 / x8 group multipliers)")
    o.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="validate and save an exponential moving average of the weights with this decay, "
                        "e.g. 0.999 (default 0: off)")
    o.add_argument("--epochs", type=int, default=TC.epochs, help=f"epochs (default {TC.epochs})")
    o.add_argument("--milestones", type=int, nargs="*", default=list(MILESTONES),
                   help="MultiStepLR milestones, epochs (default 100 200 260)")
    o.add_argument("--foreground-weight", type=float, default=TC.foreground_weight,
                   help="extra loss weight of the heatmap cells around keypoints (default 0: the paper's loss)")
    o.add_argument("--warmup-iters", type=int, default=0,
                   help="linear lr warm-up over the first N iterations (default 0: none)")
    o.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=TC.lr_schedule,
                   help="step: MultiStepLR at --milestones (the paper's); linear: after the warm-up, decay linearly to "
                        "zero at the end of --max-iters / --time-limit (else --epochs) (default %(default)s)")
    o.add_argument("--gamma", type=float, default=GAMMA, help=f"MultiStepLR factor (default {GAMMA})")
    o.add_argument("--max-iters", type=int, help="stop after this many iterations in total")
    o.add_argument("--time-limit", type=float,
                   help="stop after this many seconds of training (validation excluded; a resumed run continues "
                        "its checkpoint's count)")
    o.add_argument("--amp", action="store_true",
                   help="mixed precision training steps (bf16 on CPU, fp16 + GradScaler on CUDA); validation runs "
                        "in float32 and checkpoints hold float32 weights")
    o.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    o.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="keep NCHW activations (channels-last is the default: faster on CPU)")
    o.add_argument("--threads", type=int, help="torch CPU threads per process")
    o.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="device (default auto)")
    m = p.add_argument_group("model and checkpoints")
    m.add_argument("--num-refinement-stages", type=int, default=1, help="refinement stages (default 1)")
    m.add_argument("--imagenet", type=Path, help="ImageNet MobileNet-v1 weights (mobilenet_sgd_68.848.pth.tar)")
    m.add_argument("--checkpoint", type=Path, help="checkpoint to resume from (published layout)")
    m.add_argument("--weights-only", action="store_true",
                   help="take only the weights of --checkpoint (restart: fresh optimizer, iteration 0)")
    m.add_argument("--allow-partial", action="store_true",
                   help="load the matching keys of --checkpoint only (fine-tuning, more refinement stages)")
    m.add_argument("--allow-unsafe-checkpoint", action="store_true",
                   help="allow checkpoint files that need full unpickling (trusted files only)")
    m.add_argument("--out-dir", type=folder_type, default=Path("runs/default"), help="checkpoints and log.csv go here")
    m.add_argument("--checkpoint-after", type=int, default=TC.checkpoint_after,
                   help=f"save every N iterations (default {TC.checkpoint_after})")
    m.add_argument("--keep-checkpoints", type=int, default=TC.keep_checkpoints,
                   help=f"periodic checkpoints kept (default {TC.keep_checkpoints})")
    m.add_argument("--log-after", type=int, default=TC.log_after,
                   help=f"log the loss every N iterations (default {TC.log_after})")
    m.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    return p


def config_from_args(args: argparse.Namespace):
    from train.trainer import TrainConfig

    return TrainConfig(
        train_ann=args.train_ann, train_images=args.train_images, out_dir=args.out_dir, val_ann=args.val_ann,
        val_images=args.val_images, val_after=args.val_after, val_height=args.val_height,
        val_max_images=args.val_max_images, crop_size=args.crop_size, batch_size=args.batch_size, base_lr=args.lr,
        weight_decay=args.weight_decay, adam_beta2=args.adam_beta2, lr_multipliers=args.lr_multipliers,
        ema_decay=args.ema,
        foreground_weight=args.foreground_weight, epochs=args.epochs, milestones=tuple(args.milestones),
        gamma=args.gamma,
        warmup_iters=args.warmup_iters, lr_schedule=args.lr_schedule,
        max_iters=args.max_iters, time_limit=args.time_limit, num_refinement_stages=args.num_refinement_stages,
        checkpoint=args.checkpoint, weights_only=args.weights_only, allow_partial=args.allow_partial,
        allow_unsafe_checkpoint=args.allow_unsafe_checkpoint, imagenet=args.imagenet,
        checkpoint_after=args.checkpoint_after, keep_checkpoints=args.keep_checkpoints, log_after=args.log_after,
        workers=args.workers, amp=args.amp, channels_last=args.channels_last, seed=args.seed, threads=args.threads,
        device=args.device,
        target_dist=args.target_dist, scale_range=(args.scale_min, args.scale_max), max_rotation=args.max_rotation,
        center_jitter=args.center_jitter, flip_prob=args.flip_prob, progress=not args.no_progress)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for path, flag in ((args.train_ann, "--train-ann"), (args.train_images, "--train-images"),
                       (args.val_ann, "--val-ann"), (args.val_images, "--val-images"),
                       (args.checkpoint, "--checkpoint"), (args.imagenet, "--imagenet")):
        if path is not None and not path.exists():
            parser.error(f"{flag} not found: {path}")
    for path, flag, folder in ((args.train_ann, "--train-ann", False), (args.train_images, "--train-images", True),
                               (args.val_ann, "--val-ann", False), (args.val_images, "--val-images", True),
                               (args.checkpoint, "--checkpoint", False), (args.imagenet, "--imagenet", False)):
        if path is not None and path.is_dir() != folder:
            parser.error(f"{flag} {path} is a {'file' if folder else 'folder'}, expected a "
                         f"{'folder' if folder else 'file'}")
    for flag, given in (("--weights-only", args.weights_only), ("--allow-partial", args.allow_partial)):
        if given and args.checkpoint is None:  # options of loading --checkpoint: without one they would do nothing
            parser.error(f"{flag} needs --checkpoint")
    if args.imagenet is not None and args.checkpoint is not None:  # the checkpoint's weights would replace them all
        parser.error("give --imagenet or --checkpoint, not both (--imagenet starts from ImageNet backbone weights, "
                     "--checkpoint resumes or restarts from a checkpoint's)")
    from pose_format import dumps_strict, finite_or_none, write_text_atomic
    from train.checkpoint import CheckpointError
    from train.trainer import ValidationError, config_dict, train

    try:
        cfg = config_from_args(args)
        result = train(cfg)  # checks every setting (check_config) before the data is indexed
    except (CheckpointError, ValueError) as exc:
        parser.error(str(exc))
    except OSError as exc:  # a file that cannot be read or written (disk full, permissions): no usage error
        print(f"lwpose-train: error: {exc}", file=sys.stderr)
        return 1
    except (FloatingPointError, ValidationError) as exc:  # diverged or could not validate mid-run
        print(f"lwpose-train: error: {exc} (the checkpoints saved before it in {args.out_dir} are intact)",
              file=sys.stderr)
        return 1
    summary = {"iteration": result.iteration, "epoch": result.epoch, "checkpoint": str(result.checkpoint),
               "train_seconds": round(result.run_train_seconds, 2),  # the whole run's, as val_curve
               "process_train_seconds": round(result.train_seconds, 2),
               "seconds_per_iter": finite_or_none(result.seconds_per_iter, 4),
               "last_loss": finite_or_none(result.last_loss), "skipped": result.skipped,
               "val_curve": result.run_val_curve}
    if result.checkpoint is not None:
        print(dumps_strict(summary))
        write_text_atomic(Path(cfg.out_dir) / "summary.json",
                          dumps_strict({**summary, "config": config_dict(cfg)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
