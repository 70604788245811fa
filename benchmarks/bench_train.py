"""Training benchmarks (issue 4): target generation speed, seconds per training step, synthetic-people training.

    python benchmarks/bench_train.py                      # all three parts (about 12 minutes on 2 cores)
    python benchmarks/bench_train.py --parts targets step # the quick ones
    python benchmarks/bench_train.py --json out.json      # also write the figures as JSON

1. ``targets``: :func:`train.targets.render_targets`-style heatmaps + PAFs vs the per-pixel reference of
   tests/test_targets.py on random 368x368 crops with 3 people; prints both times and the speed-up (target >= 20x).
2. ``step``: seconds per full training step (forward, masked L2 over both stages, backward, Adam) at batch 8,
   368x368 and at the synthetic run's crop, for plain NCHW float32, channels-last float32 (the trainer's default) and
   channels-last with bf16 autocast (``--amp``, where the CPU has bf16), plus a matmul GFLOP/s baseline measured in
   the same run (a loaded machine shows a low baseline).
3. ``synthetic``: generates synthetic people (train and held-out sets), trains from scratch for at most
   ``--time-limit`` seconds of training (default 600; or exactly ``--max-iters`` iterations), validates every
   ``--val-after`` iterations on the held-out images and prints the AP curve (target: final AP >= 0.5). The
   checkpoint goes to ``runs/synthetic/``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pose_format import NUM_KEYPOINTS, STRIDE, __version__, dumps_strict  # noqa: E402
from pose_format.cli_types import count_type, seconds_type  # noqa: E402
from train.loss import pose_loss  # noqa: E402
from train.model import PoseEstimationWithMobileNet  # noqa: E402
from train.optim import make_optimizer  # noqa: E402
from train.synthetic import SYNTHETIC_RECIPE  # noqa: E402
from train.trainer import native_bf16  # noqa: E402
from train.targets import render_heatmaps, render_pafs  # noqa: E402

log = logging.getLogger("bench_train")

#: The synthetic run's recipe (the command the lead reruns is printed by the benchmark).
SYNTHETIC = {
    **{k: v for k, v in dataclasses.asdict(SYNTHETIC_RECIPE).items() if k not in ("eval_height", "scene")},
    "val_height": SYNTHETIC_RECIPE.eval_height, "epochs": 1000,
}


def _people(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    kp = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
    centre = rng.uniform(0.2 * size, 0.8 * size, (n, 1, 2))
    kp[..., :2] = centre + rng.normal(0, 0.15 * size, (n, NUM_KEYPOINTS, 2))
    kp[..., 2] = rng.choice([0, 1, 2], (n, NUM_KEYPOINTS), p=[0.15, 0.25, 0.6])
    return kp


def bench_targets(repeats: int = 20, ref_repeats: int = 2, size: int = 368) -> dict:
    """Vectorized targets vs the per-pixel reference; returns seconds per crop and the speed-up."""
    from tests.test_targets import reference_heatmaps, reference_pafs

    rng = np.random.default_rng(0)
    scenes = [_people(rng, 3, size) for _ in range(max(repeats, ref_repeats))]
    m = size // STRIDE
    for kp in scenes[:2]:  # warm-up
        render_heatmaps(kp, m, m), render_pafs(kp, m, m)
    t0 = time.perf_counter()
    for kp in scenes[:repeats]:
        render_heatmaps(kp, m, m)
        render_pafs(kp, m, m)
    fast = (time.perf_counter() - t0) / repeats
    t0 = time.perf_counter()
    for kp in scenes[:ref_repeats]:
        ref_h, ref_p = reference_heatmaps(kp, m, m), reference_pafs(kp, m, m)
    ref = (time.perf_counter() - t0) / ref_repeats
    kp = scenes[ref_repeats - 1]
    max_err = max(float(np.abs(render_heatmaps(kp, m, m) - ref_h).max()),
                  float(np.abs(render_pafs(kp, m, m) - ref_p).max()))
    return {"crop": size, "people": 3, "vectorized_s": fast, "reference_s": ref, "speedup": ref / fast,
            "max_abs_diff": max_err, "target_speedup": 20.0, "pass": ref / fast >= 20.0}


def _gflops(seconds: float = 1.0) -> float:
    a = torch.randn(512, 512)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ a
        n += 1
    return n * 2 * 512 ** 3 / (time.perf_counter() - t0) / 1e9


#: Step variants: (name, channels_last, bf16 autocast). "nchw_f32" is the plain PyTorch baseline; the trainer runs
#: channels-last, and bf16 autocast with ``--amp`` (the synthetic recipe turns it on where the CPU has bf16).
STEP_VARIANTS = (("nchw_f32", False, False), ("channels_last_f32", True, False), ("channels_last_bf16", True, True))


def bench_step(batch: int = 8, sizes: tuple[int, ...] = (368,), steps: int = 4) -> dict:
    """Median seconds per training step (random data) for each crop size and step variant, with a matmul baseline.

    bf16 variants run only where :func:`train.trainer.native_bf16` (elsewhere PyTorch emulates bf16 slowly).
    """
    out = {"batch": batch, "threads": torch.get_num_threads(), "native_bf16": native_bf16(),
           "baseline_gflops_before": _gflops()}
    for name, channels_last, amp in STEP_VARIANTS:
        if amp and not native_bf16():
            continue
        model = PoseEstimationWithMobileNet()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = make_optimizer(model, 4e-5)
        for size in sizes:
            m = size // STRIDE
            x = torch.randn(batch, 3, size, size)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            hm, paf = torch.rand(batch, 19, m, m), torch.rand(batch, 38, m, m) - 0.5
            mask = torch.ones(batch, 1, m, m)
            times = []
            for i in range(steps + 1):
                t0 = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                    outputs = model(x)
                loss, _ = pose_loss(outputs, hm, paf, mask)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if i:  # first step is warm-up
                    times.append(time.perf_counter() - t0)
            out[f"{name}_s_per_step_{size}"] = statistics.median(times)
            out[f"{name}_s_per_step_{size}_all"] = times
    out["baseline_gflops_after"] = _gflops()
    return out


def recipe_with(overrides: list[str]) -> dict:
    """:data:`SYNTHETIC` with ``KEY=VALUE`` overrides (values parsed as the field's type; tuples comma-separated)."""
    recipe = dict(SYNTHETIC)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in recipe or key == "scene":
            raise ValueError(f"--set {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(k for k in recipe if k != 'scene')}")
        old = recipe[key]
        try:
            if isinstance(old, bool):
                recipe[key] = text.lower() in ("1", "true", "yes", "on")
            elif isinstance(old, tuple):
                recipe[key] = tuple(int(v) for v in text.split(",") if v)
            else:
                recipe[key] = type(old)(text)
        except ValueError:
            wanted = "integers, comma-separated" if isinstance(old, tuple) else f"a {type(old).__name__}"
            raise ValueError(f"--set {item!r}: expected {wanted}") from None
    return recipe


def synthetic_command(data: Path, out_dir: Path, time_limit: float, val_after: int, threads: int,
                      recipe: dict | None = None, seed: int = 0, max_iters: int | None = None) -> list[str]:
    """``python -m train`` arguments of the synthetic run: ``time_limit`` seconds of training, or exactly
    ``max_iters`` iterations (the linear decay then spans them) when given."""
    s = SYNTHETIC if recipe is None else recipe
    budget = ["--max-iters", str(max_iters)] if max_iters is not None else ["--time-limit", str(time_limit)]
    return [
        "--train-ann", str(data / "train/annotations.json"), "--train-images", str(data / "train/images"),
        "--val-ann", str(data / "val/annotations.json"), "--val-images", str(data / "val/images"),
        "--val-height", str(s["val_height"]), "--val-after", str(val_after), "--crop-size", str(s["crop_size"]),
        "--target-dist", str(s["target_dist"]), "--scale-min", str(s["scale_min"]), "--scale-max", str(s["scale_max"]),
        "--center-jitter", str(s["center_jitter"]), "--max-rotation", str(s["max_rotation"]),
        "--foreground-weight", str(s["foreground_weight"]),
        "--batch-size", str(s["batch_size"]), "--lr", str(s["lr"]), "--warmup-iters", str(s["warmup_iters"]),
        "--epochs", str(s["epochs"]), "--milestones", *map(str, s["milestones"]), "--lr-schedule", s["lr_schedule"],
        "--weight-decay", str(s["weight_decay"]), "--adam-beta2", str(s["adam_beta2"]), "--ema", str(s["ema_decay"]),
        "--num-refinement-stages", str(s["num_refinement_stages"]),
        "--workers", "0", "--threads", str(threads),
        *budget, "--checkpoint-after", str(val_after), "--keep-checkpoints", "1",
        "--log-after", "50", "--out-dir", str(out_dir), "--seed", str(seed),
    ] + (["--amp"] if s["amp"] and native_bf16() else []) + ([] if s["lr_multipliers"] else ["--uniform-lr"])


def bench_synthetic(out_dir: Path, time_limit: float, val_after: int, threads: int, recipe: dict | None = None,
                    seed: int = 0, max_iters: int | None = None) -> dict:
    """Generate data (kept between runs), train for ``time_limit`` s with ``recipe`` (default :data:`SYNTHETIC`)
    and training ``seed`` (initialisation, augmentation, order; the data's seeds are fixed), return the AP curve
    and final AP. ``max_iters``: train exactly that many iterations instead, whatever they take (comparisons of
    recipes that do not change the step's cost, immune to a machine whose speed drifts); such a run is no
    measurement of the 10-minute target (``pass`` is ``None``)."""
    from train.__main__ import build_parser, config_from_args
    from train.synthetic import generate_dataset
    from train.trainer import train

    s = SYNTHETIC if recipe is None else recipe
    data = out_dir / "data"
    cfg = SYNTHETIC_RECIPE.scene
    # (the data's own seeds: a name of their own, so that they cannot replace the training ``seed``)
    for split, n, data_seed in (("train", s["train_images"], 1), ("val", s["val_images"], 1000)):
        ann, stamp = data / split / "annotations.json", data / split / "generator.json"
        # reuse the data only when made by this package version with these scene settings, seed and size
        made_by = json.loads(json.dumps({"version": __version__, "scene": dataclasses.asdict(cfg), "seed": data_seed,
                                         "images": n}))
        if not (ann.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == made_by):
            generate_dataset(data / split, n, seed=data_seed, cfg=cfg)
            stamp.write_text(json.dumps(made_by))
    argv = synthetic_command(data, out_dir, time_limit, val_after, threads, s, seed, max_iters)
    print("training command: python -m train " + " ".join(argv), flush=True)
    result = train(config_from_args(build_parser().parse_args(argv)))
    curve = result.val_curve
    print("\nAP curve (held-out synthetic images):")
    print(f"{'iter':>6} {'train_s':>8} {'AP':>6} {'AP50':>6} {'AR':>6}")
    for p in curve:
        print(f"{p['iter']:>6} {p['train_seconds']:>8.1f} {p['AP']:6.3f} {p['AP50']:6.3f} {p['AR']:6.3f}")
    final = curve[-1]["AP"] if curve else float("nan")
    return {"recipe": {**s, "scene": dataclasses.asdict(SYNTHETIC_RECIPE.scene)},
            "time_limit_s": None if max_iters is not None else time_limit,
            "max_iters": max_iters, "iterations": result.iteration,
            "train_seconds": result.train_seconds, "total_seconds": result.total_seconds,
            "seconds_per_iter": result.seconds_per_iter, "curve": curve, "final_AP": final,
            "checkpoint": str(result.checkpoint), "target_AP": 0.5,
            "pass": None if max_iters is not None else final >= 0.5,
            "command": "python -m train " + " ".join(argv)}


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing one of ``path`` and its parents when it is not a folder (nothing can be made under
    it), else None."""
    existing = next((q for q in (path, *path.parents) if q.exists()), None)
    return existing if existing is not None and not existing.is_dir() else None


def json_target_problem(path: Path) -> str | None:
    """Why the ``--json`` file cannot be written (a folder, or under a file), or None: checked before the run, not
    after minutes of it."""
    if path.is_dir():
        return "is a folder, expected a file path"
    blocked = _file_in_the_way(path.parent)
    return None if blocked is None else f"{blocked} is a file, not a folder"


def check_synthetic(out_dir: Path, time_limit: float, val_after: int, threads: int, recipe: dict, seed: int,
                    max_iters: int | None) -> None:
    """Raise ``ValueError`` naming the flag for a synthetic run the trainer would refuse, before any image is
    generated: the training command is built and checked by :func:`train.trainer.check_config` (the validation set,
    not made yet, left out)."""
    from train.__main__ import build_parser, config_from_args
    from train.trainer import check_config

    blocked = _file_in_the_way(out_dir)
    if blocked is not None:
        raise ValueError(f"--out-dir {out_dir}: {blocked} is a file, expected a folder")
    for key in ("train_images", "val_images"):
        if recipe[key] < 1:
            raise ValueError(f"--set {key}={recipe[key]}: at least 1 image")
    argv = synthetic_command(out_dir / "data", out_dir, time_limit, val_after, threads, recipe, seed, max_iters)
    parser = build_parser()

    def refuse(message: str):
        raise ValueError(message)

    parser.error = refuse  # a value the training command line refuses: one line, not the trainer's usage
    try:
        cfg = config_from_args(parser.parse_args(argv))
        check_config(dataclasses.replace(cfg, val_ann=None, val_images=None))
    except ValueError as exc:
        raise ValueError(f"{exc} (in the synthetic run's training command; its recipe fields are changed with "
                         "--set KEY=VALUE)") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", default=["targets", "step", "synthetic"],
                   choices=["targets", "step", "synthetic"], help="which parts to run (default all)")
    p.add_argument("--threads", type=count_type(1), default=2, help="torch threads (default 2)")
    p.add_argument("--time-limit", type=seconds_type(allow_zero=False), default=600.0,
                   help="synthetic training seconds (default 600)")
    p.add_argument("--max-iters", type=count_type(1), default=None,
                   help="train exactly N iterations instead of --time-limit seconds (recipe comparisons on a "
                        "machine whose speed drifts; not the 10-minute target)")
    p.add_argument("--val-after", type=count_type(0), default=500,
                   help="validate every N iterations (default 500; 0: only at the end)")
    p.add_argument("--out-dir", type=Path, default=ROOT / "runs" / "synthetic", help="synthetic run folder")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override fields of the synthetic recipe for an experiment, e.g. --set lr=3e-3 "
                        "lr_schedule=step milestones=13,19; keys: " + ", ".join(k for k in SYNTHETIC if k != "scene"))
    p.add_argument("--seed", type=count_type(0), default=0,
                   help="synthetic training seed (default 0; the data's are fixed)")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="also write all figures as JSON to FILE (a path, unlike the --json switch of "
                        "bench_decoder, bench_pipeline and bench_int8, which print JSON on stdout); the text "
                        "lines are printed either way")
    args = p.parse_args(argv)
    try:
        recipe = recipe_with(args.set)
    except ValueError as exc:
        p.error(str(exc))
    if args.json is not None:
        problem = json_target_problem(args.json)
        if problem:
            p.error(f"--json {args.json}: {problem}")
    if "synthetic" in args.parts:
        try:
            check_synthetic(args.out_dir, args.time_limit, args.val_after, args.threads, recipe, args.seed,
                            args.max_iters)
        except ValueError as exc:
            p.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    report: dict = {"threads": args.threads}
    if "targets" in args.parts:
        r = report["targets"] = bench_targets()
        print(f"targets 368x368, 3 people: vectorized {r['vectorized_s'] * 1e3:.2f} ms, per-pixel reference "
              f"{r['reference_s'] * 1e3:.0f} ms -> {r['speedup']:.0f}x faster (target >= 20x: "
              f"{'PASS' if r['pass'] else 'FAIL'}), max |diff| {r['max_abs_diff']:.1e}", flush=True)
    if "step" in args.parts:
        sizes = (368, SYNTHETIC["crop_size"])
        r = report["step"] = bench_step(sizes=sizes)
        print(f"training step, batch {r['batch']}, {r['threads']} threads (matmul baseline "
              f"{r['baseline_gflops_before']:.0f} -> {r['baseline_gflops_after']:.0f} GFLOP/s):", flush=True)
        for name, _, _ in STEP_VARIANTS:
            if f"{name}_s_per_step_{sizes[0]}" in r:
                print(f"  {name:<20} " + ", ".join(f"{s}x{s} {r[f'{name}_s_per_step_{s}']:.3f} s" for s in sizes)
                      + f"  ({r[f'nchw_f32_s_per_step_368'] / r[f'{name}_s_per_step_368']:.2f}x the NCHW f32 step"
                      " at 368)", flush=True)
    if "synthetic" in args.parts:
        r = report["synthetic"] = bench_synthetic(args.out_dir, args.time_limit, args.val_after, args.threads, recipe,
                                                     args.seed, args.max_iters)
        print(f"synthetic people: {r['iterations']} iterations in {r['train_seconds']:.0f} s of training "
              f"({r['seconds_per_iter']:.2f} s/it), final AP {r['final_AP']:.3f} (target >= 0.5: "
              f"{'n/a, fixed iterations' if r['pass'] is None else 'PASS' if r['pass'] else 'FAIL'}); "
              f"checkpoint {r['checkpoint']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(dumps_strict(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
