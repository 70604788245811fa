"""``lwpose-quickstart`` (``python -m demos.quickstart``): the whole chain in one command, offline.

Default (no checkpoint): generate synthetic people (``train.synthetic``), train a small model for a few minutes
(a finished run in ``runs/`` with the same configuration is reused), convert it to IR FP32 and INT8 (``convert``),
measure COCO keypoint AP of PyTorch, FP32 and INT8 on held-out synthetic images and the speed of each, run the
async demo over a synthetic clip, and write a report folder (default ``reports/quickstart/``): ``report.md``,
``report.json``, ``speed_accuracy.png`` and ``demo.mp4``.

With ``--checkpoint PATH`` (or the published checkpoint fetched by ``lwpose-weights download``, found in the cache
automatically) training is skipped and the model runs on real photos: ``../shared/data/coco_mini`` (AP) and the
images of ``--images DIR`` (annotated into ``annotated/``). The checkpoint is loaded once before any slow step, so a
file of another architecture, a truncated one or one that needs unsafe unpickling (``--allow-unsafe-checkpoint``,
only for files you trust) stops the run at once with a one-line error (exit status 2).

Each step prints its progress and its time. Sizes are pixels, times seconds, AP in 0..1 in JSON.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from pose_format import (INPUT_HEIGHT_ACCURATE, INPUT_HEIGHT_LIVE, __version__, check_input_side, dumps_strict,
                         finite_or_none, input_file_problem, write_text_atomic)
from pose_format.cli_types import add_version_argument, folder_type
from pose_format.extras import extra_hint, require_extra

#: The top-level modules of the extras the quickstart uses (train, convert, demos: setup.cfg's, kept equal by a test),
#: all imported before it starts (pose_format.extras), so that a missing one (matplotlib, needed only at the report
#: step) stops it at once with one line, exit status 1, as lwpose-train and lwpose-convert do.
EXTRA_MODULES = ("torch", "pycocotools", "tqdm", "nncf", "onnx", "onnxscript", "matplotlib")
#: What to do when one of them is missing (the runtime-only install).
EXTRAS_HINT = extra_hint("The quickstart", "train", "convert", "demos")
require_extra("lwpose-quickstart", EXTRA_MODULES, EXTRAS_HINT)

from train.hyperparams import GAMMA, check_hyperparameters, check_run_settings  # noqa: E402 - after the check
from train.synthetic import SYNTHETIC_RECIPE  # noqa: E402
from convert.leftovers import OWNER_PATTERN, owner, remove_dead_runs  # noqa: E402
from convert.quantize import QuantizeOptions  # noqa: E402

__all__ = ["QuickstartConfig", "run_quickstart", "check_checkpoint", "build_parser", "config_from_args", "main",
           "REPORT_KEYS", "PRECISION_KEYS"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
#: Real photos with keypoint annotations shipped next to the project (used in checkpoint mode when present).
DEFAULT_COCO_MINI = ROOT.parent / "shared" / "data" / "coco_mini"
#: Name prefix of those photos in ``annotated/`` (``coco-000000000785.jpg``): the user's photos keep their own names.
SHARED_PHOTO_PREFIX = "coco-"
#: Below this FP32 AP an INT8 AP drop is not evidence of anything: the target is reported as not applicable.
MIN_MEANINGFUL_AP = 0.05
#: Top-level keys every report.json has.
REPORT_KEYS = ("mode", "config", "precisions", "rows", "decode", "targets", "demo", "steps", "total_s", "environment",
               "profile")
#: Keys of ``report["precisions"]``: PyTorch, the FP32 IR in true f32, the FP32 IR at the device default, INT8.
PRECISION_KEYS = ("pytorch", "fp32", "fp32_default", "int8")
#: Options only the synthetic chain uses (training, its data, its INT8 accuracy control): ``--checkpoint`` refuses
#: them (:func:`check_args`). ``--seed`` is not one: it also seeds the demo clip.
SYNTHETIC_ONLY_FLAGS = ("--synthetic", "--train-images", "--val-images", "--train-minutes", "--max-iters",
                        "--crop-size", "--batch-size", "--lr", "--target-dist", "--scale-min", "--scale-max",
                        "--max-rotation", "--weight-decay", "--adam-beta2", "--num-refinement-stages", "--ema",
                        "--workers", "--threads", "--int8-max-drop")
#: name of a run's scratch folder in ``--out``, ``.quickstart-work-<pid>@<host>-<random>``: a later run removes those
#: of processes of this machine that are gone (``kill -9``, a crash)
WORK_NAME = re.compile(r"\.quickstart-work-" + OWNER_PATTERN + r"-\w+")
#: ``report.json``'s title: how a later run tells an earlier quickstart's report folder from a folder of the user's
REPORT_TITLE = "Lightweight OpenPose quickstart"
_NAMES = {"pytorch": "PyTorch", "fp32": "IR FP32", "fp32_default": "IR FP32 (device default)", "int8": "IR INT8"}


@dataclass
class QuickstartConfig:
    """Options of :func:`run_quickstart` (see ``--help``). ``train_minutes`` bounds training time (seconds = 60 x);
    ``max_iters`` bounds it in iterations; sizes are pixels. ``allow_unsafe_checkpoint``: let every checkpoint loader
    fall back to full unpickling (only for files you trust: unpickling can run code)."""

    out: Path = Path("reports/quickstart")
    runs_dir: Path = Path("runs")
    checkpoint: Path | None = None
    allow_unsafe_checkpoint: bool = False
    #: your photos: a folder, an image file, or a list of them
    images: Path | list[Path] | None = None
    coco_mini: Path | None = DEFAULT_COCO_MINI
    use_published: bool = True
    train_images: int = SYNTHETIC_RECIPE.train_images
    #: held-out images for the reported AP, and as many again for INT8 accuracy control (or the head policy).
    #: 2026-11-28, five quickstart-recipe models: INT8 drops of 0.2-0.6 points on 400 held-out images swung by up to
    #: 0.66 points on 80 of them (0.6 -> 1.2: a FAIL of the <= 1 point target from sampling alone); 240 roughly
    #: halves that spread
    val_images: int = 240
    image_width: int = SYNTHETIC_RECIPE.scene.width
    image_height: int = SYNTHETIC_RECIPE.scene.height
    train_minutes: float = 10.0
    max_iters: int | None = None
    crop_size: int = SYNTHETIC_RECIPE.crop_size
    batch_size: int = SYNTHETIC_RECIPE.batch_size
    lr: float = SYNTHETIC_RECIPE.lr
    lr_multipliers: bool = SYNTHETIC_RECIPE.lr_multipliers
    milestones: tuple[int, ...] = SYNTHETIC_RECIPE.milestones
    warmup_iters: int = SYNTHETIC_RECIPE.warmup_iters
    lr_schedule: str = SYNTHETIC_RECIPE.lr_schedule
    amp: bool = SYNTHETIC_RECIPE.amp
    target_dist: float = SYNTHETIC_RECIPE.target_dist
    scale_min: float = SYNTHETIC_RECIPE.scale_min
    scale_max: float = SYNTHETIC_RECIPE.scale_max
    center_jitter: float = SYNTHETIC_RECIPE.center_jitter
    max_rotation: float = SYNTHETIC_RECIPE.max_rotation
    foreground_weight: float = SYNTHETIC_RECIPE.foreground_weight
    weight_decay: float = SYNTHETIC_RECIPE.weight_decay
    adam_beta2: float = SYNTHETIC_RECIPE.adam_beta2
    ema_decay: float = SYNTHETIC_RECIPE.ema_decay
    num_refinement_stages: int = SYNTHETIC_RECIPE.num_refinement_stages
    workers: int = 0
    threads: int | None = 2
    seed: int = 0
    eval_height: int | None = None
    calib_size: int = 150
    #: keep the CPM's last convolution in float (``convert --int8-float-cpm``, convert's default: see
    #: convert.QuantizeOptions for the measurements)
    int8_float_cpm: bool = QuantizeOptions.float_cpm
    #: synthetic runs: absolute AP drop allowed on the INT8-selection split, NNCF accuracy control reverting layers
    #: to float until it holds (0: off, the head policy alone). Off by default: with 0.005 it ranked 39 layers and
    #: reverted 5 to chase the selection split's noise (+3.5 minutes: the quickstart took 15.3; INT8 12 % slower)
    int8_max_drop: float = 0.0
    clip_frames: int = 120
    bench_seconds: float = 1.5
    bench_rounds: int = 3
    cache: bool = True
    progress: bool = True

    def train_key(self) -> str:
        """Hash of the training recipe and data (the cache key of the run folder). ``workers`` and ``threads`` are
        left out: they change the speed and the data loader's random stream, not the recipe, and a model trained
        within ``train_minutes`` is not bit-identical between runs anyway (the iterations that fit in the time
        depend on the machine and its load), so a rerun with other ones reuses the run rather than training again."""
        keys = ("train_images", "image_width", "image_height", "train_minutes", "max_iters", "crop_size",
                "batch_size", "lr", "lr_multipliers", "milestones", "warmup_iters", "lr_schedule", "amp", "target_dist",
                "scale_min", "scale_max", "center_jitter", "max_rotation", "foreground_weight", "weight_decay",
                "adam_beta2", "ema_decay", "num_refinement_stages", "seed")
        return _digest({"kind": "quickstart-train", "version": __version__, "scene": asdict(SYNTHETIC_RECIPE.scene),
                        **{k: getattr(self, k) for k in keys}})


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


class _Steps:
    """Numbered progress lines with each step's time; the records go into the report. A step stopped by Ctrl+C or
    an error ends its line with ``(interrupted)`` / ``(failed: <error type>)`` instead of its note."""

    def __init__(self, total: int):
        self.total, self.index, self.records = total, 0, []
        self.start = time.perf_counter()

    @contextmanager
    def step(self, name: str):
        self.index += 1
        record = {"name": name, "seconds": None, "note": ""}
        print(f"[{self.index}/{self.total}] {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            yield record
        except BaseException as exc:  # the step's line must not read as a finished step
            record["note"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {type(exc).__name__}"
            raise
        finally:
            record["seconds"] = round(time.perf_counter() - t0, 2)
            self.records.append(record)
            note = f" ({record['note']})" if record["note"] else ""
            print(f"[{self.index}/{self.total}] {name}: {record['seconds']:.1f} s{note}  "
                  f"[total {time.perf_counter() - self.start:.0f} s]", flush=True)


# -- steps ---------------------------------------------------------------------------------------------------------
def _synthetic_data(cfg: QuickstartConfig, record: dict) -> dict:
    from train.synthetic import generate_dataset

    scene = replace(SYNTHETIC_RECIPE.scene, width=cfg.image_width, height=cfg.image_height)
    out = {}
    # train: training and INT8 calibration; select: INT8 accuracy control (or head-policy choice) inside convert;
    # val: the reported AP (as many selection images as held-out ones: a drop on a small selection set says little)
    splits = (("train", cfg.train_images, cfg.seed), ("select", max(4, cfg.val_images), cfg.seed + 30_000),
              ("val", cfg.val_images, cfg.seed + 10_000))
    for split, n, seed in splits:
        folder = cfg.runs_dir / "quickstart-data" / _digest({"split": split, "n": n, "seed": seed,
                                                             "scene": asdict(scene), "version": __version__})
        ann = folder / "annotations.json"
        if not (cfg.cache and ann.is_file()):
            generate_dataset(folder, n, seed=seed, cfg=scene, progress=cfg.progress)
        out[split] = (ann, folder / "images")
    record["note"] = (f"{cfg.train_images} train, {splits[1][1]} INT8-selection, {cfg.val_images} held-out images, "
                      f"{cfg.image_width}x{cfg.image_height}")
    return out


def _train(cfg: QuickstartConfig, data: dict, record: dict) -> tuple[Path, dict]:
    """Train (or reuse the cached run of the same configuration); returns the checkpoint and the run's summary
    (``iterations``, ``train_seconds``, ``seconds_per_iter``, ``last_loss``, ``cached``, ``run``)."""
    from train.trainer import TrainConfig, native_bf16, train

    run = cfg.runs_dir / f"quickstart-{cfg.train_key()}"
    done = run / "quickstart.json"
    info = _read_run_record(done) if cfg.cache else None
    if info is not None:
        ckpt = run / info["checkpoint"]
        if ckpt.is_file():
            record["note"] = f"reused the cached run {run} ({info['iterations']} iterations)"
            return ckpt, _run_summary(info, run, cached=True)
    if run.exists():
        shutil.rmtree(run)
    tc = TrainConfig(train_ann=data["train"][0], train_images=data["train"][1], out_dir=run,
                     crop_size=cfg.crop_size, batch_size=cfg.batch_size, base_lr=cfg.lr,
                     lr_multipliers=cfg.lr_multipliers, center_jitter=cfg.center_jitter, max_rotation=cfg.max_rotation,
                     foreground_weight=cfg.foreground_weight, weight_decay=cfg.weight_decay,
                     adam_beta2=cfg.adam_beta2, ema_decay=cfg.ema_decay,
                     num_refinement_stages=cfg.num_refinement_stages,
                     milestones=tuple(cfg.milestones), warmup_iters=cfg.warmup_iters, lr_schedule=cfg.lr_schedule,
                     amp=cfg.amp and native_bf16(),
                     target_dist=cfg.target_dist, scale_range=(cfg.scale_min, cfg.scale_max),
                     max_iters=cfg.max_iters, time_limit=cfg.train_minutes * 60, workers=cfg.workers,
                     threads=cfg.threads, seed=cfg.seed, checkpoint_after=0, log_after=50, progress=cfg.progress)
    result = train(tc)
    info = {"checkpoint": result.checkpoint.name, "iterations": result.iteration,
            "train_seconds": round(result.train_seconds, 1), "last_loss": finite_or_none(result.last_loss),
            "config": {f.name: getattr(tc, f.name) for f in fields(tc)}}
    write_text_atomic(done, dumps_strict(info, indent=2, default=str))
    record["note"] = f"{result.iteration} iterations in {result.train_seconds:.0f} s, loss {result.last_loss:.3f}"
    return result.checkpoint, _run_summary(info, run, cached=False)


def _read_run_record(done: Path) -> dict | None:
    """The finished run's record ``quickstart.json``, or ``None`` when it is missing or unreadable (a record cut
    short by a full disk or a crash: the run is trained again rather than failing every later call)."""
    try:
        info = json.loads(done.read_text())
    except (OSError, ValueError):
        return None
    keys = ("checkpoint", "iterations", "train_seconds", "last_loss", "config")
    return info if isinstance(info, dict) and all(k in info for k in keys) else None


def _run_summary(info: dict, run: Path, cached: bool) -> dict:
    iters = max(1, int(info["iterations"]))
    return {"run": str(run), "cached": cached, "iterations": info["iterations"],
            "train_seconds": info["train_seconds"], "seconds_per_iter": round(info["train_seconds"] / iters, 3),
            "last_loss": info["last_loss"], "crop_size": info["config"].get("crop_size"),
            "batch_size": info["config"].get("batch_size")}


def _convert(cfg: QuickstartConfig, checkpoint: Path, calib: tuple[Path, Path] | Path,
             select: tuple[Path, Path] | None, height: int, record: dict,
             max_drop: float = 0.0, float_cpm: bool = QuantizeOptions.float_cpm) -> dict[str, Path]:
    """FP32 and INT8 IRs of ``checkpoint`` (cached by checkpoint hash and data); INT8 calibrated on ``calib`` (a COCO
    ``(annotations, images)`` pair or a folder), both pre-processed at input ``height``, the height the AP is
    reported at (not the convert default of 256). With ``select``: ``max_drop`` > 0 runs NNCF accuracy control on it
    (layers reverted to float until the AP drop is at most ``max_drop``), else the head policy is chosen by AP drop
    on it. ``float_cpm``: keep the CPM's last convolution in float."""
    from convert import ConvertOptions, run_conversion, with_int8_defaults
    from convert.quantize import HEADS_IN_FLOAT
    from pose_format import sha256_file

    calib_id = (str(calib) if isinstance(calib, tuple)
                else sorted((p.name, p.stat().st_size) for p in Path(calib).iterdir() if p.is_file()))
    control = select is not None and max_drop > 0
    calib_kw = ({"calib_coco": calib[0], "calib_images": calib[1]} if isinstance(calib, tuple)
                else {"calib_images": calib})
    val_kw = {"val_ann": select[0], "val_images": select[1]} if select is not None else {}
    if control:
        val_kw.update(accuracy_control=True, max_drop=max_drop)
    options = ConvertOptions(output_dir=Path("."), checkpoint=checkpoint, name="lwpose", precisions=("FP32", "INT8"),
                             calib_size=cfg.calib_size, calib_height=height, bench_seconds=0,
                             int8_float_cpm=float_cpm, allow_unsafe_checkpoint=cfg.allow_unsafe_checkpoint,
                             progress=cfg.progress, **calib_kw, **val_kw)
    # every conversion setting (defaults included) is in the key: a changed INT8 default re-converts; the
    # checkpoint by content, not path; the calibration data by calib_id (a folder of photos is copied into this
    # run's scratch folder, whose random path would make every checkpoint-mode run convert again)
    settings = {k: str(v) for k, v in asdict(with_int8_defaults(options)).items()
                if k not in ("output_dir", "progress", "checkpoint", "calib_images", "calib_coco")}
    key = _digest({"ckpt": sha256_file(checkpoint), "calib": calib_id, "options": settings, "version": __version__})
    out = cfg.runs_dir / f"quickstart-ir-{key}"
    xmls = {p: out / p / "lwpose.xml" for p in ("FP32", "INT8")}
    if cfg.cache and all(x.is_file() for x in xmls.values()) and (out / "report.json").is_file():
        record["note"] = f"reused the converted IRs in {out}"
        record["calibration"] = json.loads((out / "report.json").read_text()).get("int8", {}).get("calibration")
        return xmls
    report = run_conversion(replace(options, output_dir=out))
    int8 = report.get("int8", {})
    kept = int8.get("float_convolutions") or []
    how = (f"accuracy control, AP drop <= {max_drop:g} on the selection split" if control
           else f"output heads in float: {HEADS_IN_FLOAT.get(int8.get('heads'), int8.get('heads'))}"
           ) + f"; {len(kept)} convolution(s) kept in float in all"
    record["note"] = f"FP32 + INT8 ({how}) in {out}"
    record["calibration"] = int8.get("calibration")  # images used and skipped (unreadable)
    return xmls


def _accuracy(cfg: QuickstartConfig, checkpoint: Path, xmls: dict, val: tuple[Path, Path], height: int,
              record: dict) -> dict:
    from demos.measure import evaluate_ir, evaluate_torch

    ann, images = val
    out = {"pytorch": evaluate_torch(checkpoint, ann, images, height, progress=cfg.progress,
                                     allow_unsafe=cfg.allow_unsafe_checkpoint),
           "fp32": evaluate_ir(xmls["FP32"], ann, images, height, "f32", cfg.progress),
           "fp32_default": evaluate_ir(xmls["FP32"], ann, images, height, None, cfg.progress),
           "int8": evaluate_ir(xmls["INT8"], ann, images, height, None, cfg.progress)}
    record["note"] = ", ".join(f"{_NAMES[k]} AP {v['AP']:.3f}" for k, v in out.items())
    return out


def _speed(cfg: QuickstartConfig, checkpoint: Path, xmls: dict, record: dict) -> dict:
    from demos.measure import ir_profile, ir_speeds, torch_speed

    out = {"pytorch": torch_speed(checkpoint, cfg.bench_seconds, allow_unsafe=cfg.allow_unsafe_checkpoint),
           **ir_speeds({"fp32": (xmls["FP32"], "f32"), "fp32_default": (xmls["FP32"], None),
                        "int8": (xmls["INT8"], None)}, cfg.bench_seconds, cfg.bench_rounds)}
    record["note"] = ", ".join(f"{_NAMES[k]} {v['fps']:.1f} FPS ({v['execution_precision']})" for k, v in out.items())
    # where the time goes: explains the INT8 / default ratio (dense convolutions gain, depthwise ones do not)
    out["profile"] = {"fp32_default": ir_profile(xmls["FP32"]), "int8": ir_profile(xmls["INT8"])}
    return out


def _demo(cfg: QuickstartConfig, xml: Path, photos: list[Path], clip_height: int, work: Path, record: dict,
          shared: Iterable[Path] = ()) -> dict:
    """The async demo over a synthetic clip (and the photos, annotated; those of ``shared`` named as
    :func:`_copy_photos` does); ``work`` is this run's scratch folder, where the annotated clip and photos are
    written (:func:`_install_outputs` moves them into the report folder)."""
    from demos.clip import write_synthetic_clip
    from demos.live import DemoOptions, run_demo

    clip = write_synthetic_clip(work / "clip.mp4", frames=cfg.clip_frames, seed=cfg.seed + 20_000)
    output = work / "demo.mp4"
    summary = _not_interrupted(run_demo(DemoOptions(model=xml, input=str(clip), output=output, track=True,
                                                    smooth=True, window=False, height=clip_height,
                                                    progress=cfg.progress)))
    demo = {"output": output.name, "model": f"{xml.parent.name}/{xml.name}", **{
        k: getattr(summary, k) for k in ("frames", "fps", "latency_ms_p50", "latency_ms_p95", "decode_ms_p50",
                                         "people_mean", "execution_precision", "errors")}}
    if photos:
        folder = _copy_photos(photos, work / "photos", shared)
        ph = _not_interrupted(run_demo(DemoOptions(model=xml, input=str(folder), output=work / "annotated",
                                                   track=False, window=False, height=INPUT_HEIGHT_ACCURATE,
                                                   progress=cfg.progress)))
        demo["photos"] = {"output": "annotated/", "images": ph.frames, "skipped": ph.errors,
                          "people_mean": ph.people_mean}
    record["note"] = f"{summary.frames} frames at {summary.fps:.1f} FPS end to end -> {cfg.out / output.name}"
    return demo


def _install_outputs(work: Path, out: Path, demo: dict, notes: list[str]) -> None:
    """Move the annotated clip and photos of :func:`_demo` from the scratch folder ``work`` into the report folder
    ``out``, at the report step: a run stopped earlier leaves the previous report's files as they were, never this
    run's clip beside an older report. ``demo["photos"]["output"]`` names the folder the photos went to. A demo
    that wrote no clip leaves none (an earlier run's is removed): ``demo["output"]`` ``None`` and a note."""
    clip = demo["output"]
    if (work / clip).is_file():
        os.replace(work / clip, out / clip)
    else:
        (out / clip).unlink(missing_ok=True)
        demo["output"] = None
        notes.append(f"the demo wrote no clip ({demo.get('frames')} frames, {demo.get('errors') or 0} errors): "
                     f"no {clip} in this report")
        log.warning("%s", notes[-1])
    photos = demo.get("photos")
    placed = _install_annotated(work / "annotated" if photos else None, out / "annotated")
    if photos:
        photos["output"] = f"{placed.name}/"


def _not_interrupted(summary):
    """``summary`` (a demo's ``DemoSummary``), or ``KeyboardInterrupt`` when Ctrl+C / SIGTERM stopped that demo:
    ``run_demo`` ends quietly on it, so the quickstart would otherwise go on and report a cut clip as complete."""
    if summary.interrupted:
        raise KeyboardInterrupt
    return summary


# -- report --------------------------------------------------------------------------------------------------------
def _environment() -> dict:
    import openvino

    env = {"python": platform.python_version(), "openvino": openvino.__version__, "cpu_count": os.cpu_count(),
           "machine": platform.machine(), "package": __version__}
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name"))
        env["cpu"] = model
    except (OSError, StopIteration):
        pass
    return env


def _time_target(total_s: float, training: dict | None) -> dict:
    """The ``quickstart minutes <= 15`` target for a run of ``total_s`` seconds; not applicable (``met`` ``None``)
    when nothing was trained here (:func:`_time_target_void`)."""
    void = _time_target_void(training) is not None
    return {"name": "quickstart minutes <= 15", "value": total_s / 60, "met": None if void else total_s <= 900}


def _time_target_void(training: dict | None) -> str | None:
    """Why the ``<= 15 minutes`` target, which times the synthetic chain from a cold cache, does not apply to this
    run (``training`` ``None``: checkpoint mode, nothing trained; a training reused from the cache), for the
    report's notes; ``None`` when it applies."""
    if training is None:
        return ("checkpoint mode trains nothing: the <= 15 minutes target, which times the synthetic chain from a "
                "cold cache, is n/a here")
    if training.get("cached"):
        return ("the training was reused from the cache: the <= 15 minutes target, which times the whole chain "
                "from a cold cache, is n/a here (--no-cache measures it)")
    return None


def _more_training_hint(cfg: QuickstartConfig, training: dict | None) -> str:
    """How to train more, naming the limit that stopped the training: ``--max-iters`` when it ran them all, else
    the time limit (which a busy machine fills with fewer iterations)."""
    if cfg.max_iters is not None and training and training.get("iterations", 0) >= cfg.max_iters:
        return f"The training stopped at --max-iters {cfg.max_iters}: give more --max-iters (or drop it)."
    return ("A busy machine gives fewer iterations in the time limit: rerun on a quiet machine with --no-cache, or "
            "give more --train-minutes.")


def _assemble(cfg, mode, accuracy, speed, demo, steps, notes, training: dict | None = None) -> dict:
    """The report dict (report.json's content) from the steps' results: per precision AP / AP50 / AR in 0..1, async
    FPS (sync 1 / latency for PyTorch) and latency in ms; decode times in ms (p50 / p95); the targets with their
    values (FPS ratios, AP drop in points, quickstart minutes) and ``met`` (``None``: not applicable); ``notes``."""
    precisions = {}
    for key in PRECISION_KEYS:
        acc, spd = (accuracy or {}).get(key, {}), speed.get(key, {})
        precisions[key] = {
            "ap": acc.get("AP"), "ap50": acc.get("AP50"), "ar": acc.get("AR"),
            "fps": spd.get("fps"), "latency_ms": spd.get("latency_ms"),
            "execution_precision": spd.get("execution_precision") or acc.get("execution_precision"),
            "fps_kind": "sync (1 / latency)" if key == "pytorch" else f"async, {spd.get('requests')} requests",
        }
    rows = [{"name": _NAMES[k], **precisions[k]} for k in PRECISION_KEYS]
    decode_ms = (accuracy or {}).get("fp32", {}).get("decode_ms") or []
    decode = {"decode_ms_p50": float(np.percentile(decode_ms, 50)) if decode_ms else demo.get("decode_ms_p50"),
              "decode_ms_p95": float(np.percentile(decode_ms, 95)) if decode_ms else None,
              "frames": len(decode_ms) if decode_ms else demo.get("frames", 0),
              "source": "held-out evaluation images" if decode_ms else "demo clip"}
    p = precisions
    targets = []
    if p["int8"]["fps"] and p["fp32"]["fps"]:
        r = p["int8"]["fps"] / p["fp32"]["fps"]
        targets.append({"name": "INT8 / FP32 async FPS (FP32 executing f32) >= 1.8", "value": r, "met": r >= 1.8})
    if p["int8"]["fps"] and p["fp32_default"]["fps"]:
        r = p["int8"]["fps"] / p["fp32_default"]["fps"]
        targets.append({"name": f"INT8 / FP32 async FPS (FP32 at the device default, "
                                f"{p['fp32_default']['execution_precision']}) >= 1.8", "value": r, "met": r >= 1.8})
    if p["int8"]["ap"] is not None and p["fp32"]["ap"] is not None:
        drop = 100 * (p["fp32"]["ap"] - p["int8"]["ap"])
        meaningful = p["fp32"]["ap"] >= MIN_MEANINGFUL_AP
        targets.append({"name": "INT8 AP drop vs FP32, points <= 1", "value": drop,
                         "met": (drop <= 1.0) if meaningful else None})
        if not meaningful:
            notes.append(f"FP32 AP {p['fp32']['ap']:.3f} < {MIN_MEANINGFUL_AP}: the INT8 AP drop says nothing about "
                         "quantization here (marked n/a)")
    total = time.perf_counter() - steps.start
    targets.append(_time_target(total, training))
    void = _time_target_void(training)
    if void:
        notes.append(void)
    torch_ap = p["pytorch"]["ap"]
    if mode == "synthetic" and torch_ap is not None and torch_ap < 0.05:
        train_note = next((s["note"] for s in steps.records if s["name"].startswith("train")), "")
        notes.append(f"the model barely learned (PyTorch AP {torch_ap:.3f}; training: {train_note}). "
                     + _more_training_hint(cfg, training))
    summary = ("Synthetic people: trained here, converted, measured." if mode == "synthetic"
               else "Given checkpoint on real photos (no training).")
    return {"title": REPORT_TITLE, "summary": summary, "mode": mode,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
            "precisions": precisions, "rows": rows, "decode": decode, "targets": targets, "demo": demo,
            "profile": speed.get("profile"),
            "steps": steps.records, "total_s": round(total, 1), "environment": _environment(), "notes": notes}


# -- entry ---------------------------------------------------------------------------------------------------------
def _resolve_checkpoint(cfg: QuickstartConfig) -> Path | None:
    """The checkpoint to run (``--checkpoint`` or the cached published one), already checked to load into the
    network (:func:`check_checkpoint`); ``None`` for the synthetic chain."""
    if cfg.checkpoint is not None:
        problem = input_file_problem(cfg.checkpoint, "a checkpoint file")
        if problem:
            raise FileNotFoundError(f"--checkpoint {cfg.checkpoint}: {problem}")
        check_checkpoint(cfg.checkpoint, cfg.allow_unsafe_checkpoint)
        return Path(cfg.checkpoint)
    if cfg.use_published:
        from demos.weights import cached_checkpoint

        found = cached_checkpoint()
        if found is not None:
            print(f"using the published checkpoint from the cache: {found} (--synthetic to train instead)")
            from train.checkpoint import CheckpointError

            try:
                check_checkpoint(found, cfg.allow_unsafe_checkpoint)
            except CheckpointError as exc:
                raise CheckpointError(f"the cached published checkpoint does not load ({exc}); run "
                                      "`lwpose-weights download --force`, or pass --synthetic") from exc
        return found
    return None


def check_checkpoint(path: str | Path, allow_unsafe: bool = False) -> None:
    """Load ``path`` once into the network the quickstart converts (about a second on CPU), so that a checkpoint of
    another architecture, a truncated file or one that needs unsafe unpickling stops the run before any slow step.

    Raises :class:`train.CheckpointError` (a ``ValueError``) naming the file and what is wrong with it.
    """
    from train.checkpoint import CheckpointError, load_model

    try:
        load_model(path, None, "cpu", allow_unsafe=allow_unsafe)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything else the loader meets is still a bad checkpoint file
        raise CheckpointError(f"cannot load checkpoint {path} into the Lightweight OpenPose network: "
                              f"{type(exc).__name__}: {exc}") from exc


def _install_annotated(new: Path | None, dest: Path) -> Path | None:
    """Make ``dest`` (the report's ``annotated/``) this run's annotated photos (``new``; ``None``: this run has none);
    returns the folder they are in.

    An earlier run's ``dest`` is replaced, so the folder never mixes runs, when it holds image files only (what the
    quickstart writes there); a folder with anything else is the user's: it is left as it is and this run's photos
    go beside it into ``annotated-<n>/``, with a warning."""
    from ov_inference.sources import IMAGE_EXTENSIONS

    if dest.is_dir() and all(e.is_file() and e.suffix.lower() in IMAGE_EXTENSIONS for e in dest.iterdir()):
        shutil.rmtree(dest)  # an earlier run's photos
    if new is None:
        return None
    if dest.exists():
        n = 1
        while dest.with_name(f"{dest.name}-{n}").exists():
            n += 1
        log.warning("%s holds files the quickstart did not write: left alone; this run's annotated photos go to %s",
                    dest, dest.with_name(f"{dest.name}-{n}"))
        dest = dest.with_name(f"{dest.name}-{n}")
    shutil.move(str(new), str(dest))
    return dest


def _copy_photos(photos: list[Path], folder: Path, shared: Iterable[Path] = ()) -> Path:
    """Copy ``photos`` into ``folder`` (created) and return it. Those of ``shared`` (the ``--coco-mini`` photos) are
    named :data:`SHARED_PHOTO_PREFIX` + their name, so that the user's keep their own names and the annotated ones
    tell their origin; photos of the same name from different folders get ``_1``, ``_2``, ... so that none
    replaces another."""
    folder.mkdir(parents=True, exist_ok=True)
    shared = {p.resolve() for p in shared}
    taken: set[str] = set()
    for p in photos:
        stem = SHARED_PHOTO_PREFIX + p.stem if p.resolve() in shared else p.stem
        name, n = stem + p.suffix, 0
        while name.lower() in taken:
            n += 1
            name = f"{stem}_{n}{p.suffix}"
        taken.add(name.lower())
        shutil.copy2(p, folder / name)
    return folder


def _photos(paths: Path | list[Path] | tuple[Path, ...] | None) -> list[Path]:
    """The images of ``paths``: each a folder (its images, not recursive) or an image file; an image named twice
    (a folder and one of its files) counts once."""
    from ov_inference.sources import IMAGE_EXTENSIONS, SourceError, list_images

    if paths is None:
        return []
    found: list[Path] = []
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append(path)
            continue
        try:
            found += list_images(path)
        except SourceError as exc:
            raise FileNotFoundError(f"--images: {exc} (give folders or image files)") from None
    return _unique(found)


def _readable(photos: list[Path], notes: list[str]) -> list[Path]:
    """The ``photos`` that decode. Each one that does not is left out with a warning and a note for the report, both
    naming the user's own path: the later steps read copies in the run's scratch folder, which is deleted."""
    from ov_inference.sources import read_image

    readable = []
    for photo in photos:
        try:
            read_image(photo)
        except ValueError as exc:
            log.warning("--images: %s: left out", exc)
            notes.append(f"--images: {exc}: left out")
        else:
            readable.append(photo)
    return readable


def _unique(paths: list[Path]) -> list[Path]:
    """``paths`` without repeats of the same file (by resolved path), first occurrence kept, order kept."""
    unique: dict[Path, Path] = {}
    for path in paths:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def run_quickstart(cfg: QuickstartConfig) -> dict:
    """Run every step and write the report folder; returns the report dict (also ``cfg.out/report.json``)."""
    # OpenMP's default (spinning idle threads) is kept: OMP_WAIT_POLICY=PASSIVE made the 128-pixel bf16 training
    # steps 37 % slower on the AVX-512 machine (0.173 vs 0.126 s), where each step is many short kernels.
    from ov_inference.output_paths import make_folders, remove_empty_folders

    checkpoint = _resolve_checkpoint(cfg)
    user_photos = _photos(cfg.images)
    cfg.out = Path(cfg.out)
    created = make_folders(cfg.out)  # --out and its missing parents, deepest first
    cfg.runs_dir = Path(cfg.runs_dir)
    remove_dead_runs(cfg.out, WORK_NAME, "scratch", "a quickstart")
    # this run's scratch: never a user folder
    work = Path(tempfile.mkdtemp(prefix=f".quickstart-work-{owner()}-", dir=cfg.out))
    try:
        return _run_steps(cfg, checkpoint, user_photos, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        remove_empty_folders(created)  # a run stopped before writing anything leaves no folder it made


def _run_steps(cfg: QuickstartConfig, checkpoint: Path | None, user_photos: list[Path], work: Path) -> dict:
    """The steps of :func:`run_quickstart` (``checkpoint`` ``None``: synthetic mode), scratch files in ``work``."""
    from demos.report import write_report

    mode = "synthetic" if checkpoint is None else "checkpoint"
    notes: list[str] = []
    user_photos = _readable(user_photos, notes)  # before any step: named by the user's path, not a scratch copy's
    shared: list[Path] = []  # the --coco-mini photos among those annotated
    coco = Path(cfg.coco_mini) if cfg.coco_mini and mode == "checkpoint" else None
    ann = next(coco.glob("*.json"), None) if coco and coco.is_dir() else None  # no annotated photos: no AP step
    steps = _Steps(7 if mode == "synthetic" else 6 if ann is not None else 5)
    accuracy, val, training = None, None, None
    if mode == "synthetic":
        height = cfg.eval_height or SYNTHETIC_RECIPE.eval_height
        with steps.step("synthetic people") as rec:
            data = _synthetic_data(cfg, rec)
        val = data["val"]
        with steps.step("train (PyTorch)") as rec:
            checkpoint, training = _train(cfg, data, rec)
        calib, select = data["train"], data["select"]
        photos = user_photos
    else:
        height = cfg.eval_height or INPUT_HEIGHT_ACCURATE
        with steps.step("real photos") as rec:
            photos = list(user_photos)
            if ann is not None:
                val = (ann, coco / "images" if (coco / "images").is_dir() else coco)
                shared = _photos(val[1])
                photos = _unique(shared + photos)
            else:
                notes.append(f"no annotated photos at {cfg.coco_mini}: AP not measured")
            if not photos:
                raise FileNotFoundError(f"no photos to run on: {cfg.coco_mini} is missing and no readable --images")
            calib = _copy_photos(photos, work / "calib", shared)
            rec["note"] = f"{len(photos)} photos" + (f", AP on {ann.name}" if ann is not None else "")
        select = val
        if val is not None:
            notes.append("few annotated photos: the INT8 head policy is chosen on the same photos the AP is "
                         "reported on")
    with steps.step("convert to IR FP32 + INT8") as rec:
        xmls = _convert(cfg, checkpoint, calib, select, height, rec,
                        max_drop=cfg.int8_max_drop if mode == "synthetic" else 0.0,
                        float_cpm=cfg.int8_float_cpm)
    used = (rec.get("calibration") or {}).get("images")
    skipped = (rec.get("calibration") or {}).get("skipped") or 0
    if mode == "checkpoint" and used is not None and used < 50:
        notes.append(f"INT8 calibrated on only {used} photos"
                     + (f" ({skipped} unreadable skipped)" if skipped else "")
                     + "; give --images DIR with more for a better INT8")
    if val is not None:
        with steps.step(f"accuracy (COCO AP at input height {height})") as rec:
            accuracy = _accuracy(cfg, checkpoint, xmls, val, height, rec)
    with steps.step("speed (256 x 456 input)") as rec:
        speed = _speed(cfg, checkpoint, xmls, rec)
    with steps.step("async demo") as rec:
        clip_height = height if mode == "synthetic" else INPUT_HEIGHT_LIVE
        demo = _demo(cfg, xmls["INT8"], photos if mode == "checkpoint" else user_photos, clip_height, work, rec,
                     shared)
    with steps.step("report") as rec:
        report = _assemble(cfg, mode, accuracy, speed, demo, steps, notes, training)
        report["models"] = {k: str(v) for k, v in xmls.items()}
        report["checkpoint"] = str(checkpoint)
        report["training"] = training
        _install_outputs(work, cfg.out, demo, report["notes"])
        paths = write_report(cfg.out, report)
        rec["note"] = ", ".join(str(p) for p in paths.values())
    report["steps"] = steps.records
    report["total_s"] = round(time.perf_counter() - steps.start, 1)
    report["targets"][-1] = _time_target(report["total_s"], training)
    write_report(cfg.out, report)
    return report


def build_parser() -> argparse.ArgumentParser:
    d = QuickstartConfig()
    p = argparse.ArgumentParser(prog="lwpose-quickstart", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_version_argument(p)
    p.add_argument("--out", type=folder_type, default=d.out, help="report folder")
    p.add_argument("--runs-dir", type=folder_type, default=d.runs_dir,
                   help="cache of generated data, training runs and IRs")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="use this checkpoint (published layout), skip training")
    p.add_argument("--allow-unsafe-checkpoint", action="store_true",
                   help="load a checkpoint that torch.load(weights_only=True) refuses with full unpickling; only for "
                   "files you trust (unpickling can run code)")
    p.add_argument("--synthetic", action="store_true", help="train on synthetic people even if the published "
                   "checkpoint is in the cache")
    p.add_argument("--images", type=Path, nargs="+", default=None, metavar="PATH",
                   help="your own photos to annotate (and calibrate INT8 on): folders and/or image files")
    p.add_argument("--coco-mini", type=Path, default=d.coco_mini, help="annotated real photos (checkpoint mode)")
    g = p.add_argument_group("synthetic training (default mode)")
    g.add_argument("--train-images", type=int, default=d.train_images, help="synthetic training images")
    g.add_argument("--val-images", type=int, default=d.val_images,
                   help=f"held-out synthetic images for AP, and as many again for INT8 accuracy control "
                        f"(default {d.val_images})")
    g.add_argument("--train-minutes", type=float, default=d.train_minutes, help="training time limit, minutes")
    g.add_argument("--max-iters", type=int, default=None, help="training iteration limit")
    g.add_argument("--crop-size", type=int, default=d.crop_size, help="training crop, pixels")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="training batch size")
    g.add_argument("--lr", type=float, default=d.lr, help="base learning rate")
    g.add_argument("--target-dist", type=float, default=d.target_dist, help="augmentation: person size in the crop")
    g.add_argument("--scale-min", type=float, default=d.scale_min, help="augmentation: random scale, lower bound")
    g.add_argument("--scale-max", type=float, default=d.scale_max, help="augmentation: random scale, upper bound")
    g.add_argument("--max-rotation", type=float, default=d.max_rotation,
                   help="augmentation: random rotation bound, degrees")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay, help="Adam L2 decay of the conv weights")
    g.add_argument("--adam-beta2", type=float, default=d.adam_beta2, help="Adam's second-moment decay (beta1 0.9)")
    g.add_argument("--num-refinement-stages", type=int, default=d.num_refinement_stages,
                   help="refinement stages of the trained network")
    g.add_argument("--ema", type=float, default=d.ema_decay, metavar="DECAY",
                   help="evaluate and save a moving average of the weights with this decay (0: off)")
    g.add_argument("--workers", type=int, default=d.workers, help="DataLoader workers")
    g.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    g.add_argument("--seed", type=int, default=d.seed, help="random seed")
    m = p.add_argument_group("measurement")
    m.add_argument("--eval-height", type=int, default=None, help=f"input height for AP (default "
                   f"{SYNTHETIC_RECIPE.eval_height} synthetic, {INPUT_HEIGHT_ACCURATE} real photos)")
    m.add_argument("--calib-size", type=int, default=d.calib_size, help="INT8 calibration images, at most")
    m.add_argument("--int8-float-cpm", action=argparse.BooleanOptionalAction, default=d.int8_float_cpm,
                   help="keep the CPM's last convolution in float (convert's default: on)")
    m.add_argument("--int8-max-drop", type=float, default=d.int8_max_drop, metavar="DROP",
                   help="synthetic runs: absolute AP drop allowed on the INT8-selection split; NNCF accuracy control "
                        "keeps the most sensitive layers in float until it holds (default 0: off, the head policy "
                        "alone; minutes slower)")
    m.add_argument("--clip-frames", type=int, default=d.clip_frames, help="frames of the synthetic demo clip")
    m.add_argument("--bench-seconds", type=float, default=d.bench_seconds, help="seconds per speed measurement phase")
    m.add_argument("--bench-rounds", type=int, default=d.bench_rounds, help="interleaved speed rounds (median kept)")
    p.add_argument("--no-cache", action="store_true", help="regenerate data, retrain and reconvert")
    p.add_argument("--quiet", action="store_true", help="no progress bars; step lines and warnings only")
    return p


def config_from_args(args: argparse.Namespace) -> QuickstartConfig:
    """The :class:`QuickstartConfig` for parsed :func:`build_parser` arguments."""
    return QuickstartConfig(out=args.out, runs_dir=args.runs_dir, checkpoint=args.checkpoint,
                            allow_unsafe_checkpoint=args.allow_unsafe_checkpoint, images=args.images,
                            coco_mini=args.coco_mini, use_published=not args.synthetic,
                            train_images=args.train_images, val_images=args.val_images,
                            train_minutes=args.train_minutes, max_iters=args.max_iters, crop_size=args.crop_size,
                            batch_size=args.batch_size, lr=args.lr, target_dist=args.target_dist,
                            scale_min=args.scale_min, scale_max=args.scale_max, max_rotation=args.max_rotation,
                            weight_decay=args.weight_decay, adam_beta2=args.adam_beta2, ema_decay=args.ema,
                            num_refinement_stages=args.num_refinement_stages,
                            workers=args.workers,
                            threads=args.threads, seed=args.seed,
                            eval_height=args.eval_height, calib_size=args.calib_size,
                            int8_float_cpm=args.int8_float_cpm, int8_max_drop=args.int8_max_drop,
                            clip_frames=args.clip_frames,
                            bench_seconds=args.bench_seconds, bench_rounds=args.bench_rounds, cache=not args.no_cache,
                            progress=not args.quiet)


def check_args(args: argparse.Namespace) -> None:
    """Raise ``ValueError`` naming the flag for a value no run can use, before anything is generated or trained (a
    bad demo clip length must not surface after ten minutes of training), and naming the synthetic chain's options
    (:data:`SYNTHETIC_ONLY_FLAGS`) given with ``--checkpoint``, which would be silently ignored."""
    if not (math.isfinite(args.train_minutes) and args.train_minutes > 0):
        raise ValueError(f"--train-minutes must be a positive number of minutes, got {args.train_minutes}")
    check_run_settings(args.max_iters, args.adam_beta2, args.num_refinement_stages)
    d = QuickstartConfig()  # what the flags do not set: the recipe's (gamma and flip are the trainer's defaults)
    check_hyperparameters(lr=args.lr, gamma=GAMMA, weight_decay=args.weight_decay,
                          foreground_weight=d.foreground_weight, ema=args.ema, target_dist=args.target_dist,
                          center_jitter=d.center_jitter, flip_prob=0.5, seed=args.seed, crop_size=args.crop_size,
                          max_rotation=args.max_rotation, scale_range=(args.scale_min, args.scale_max))
    for flag, value, low in (("--train-images", args.train_images, 1), ("--val-images", args.val_images, 1),
                             ("--batch-size", args.batch_size, 1), ("--workers", args.workers, 0),
                             ("--threads", 1 if args.threads is None else args.threads, 1),
                             ("--calib-size", args.calib_size, 1), ("--clip-frames", args.clip_frames, 1),
                             ("--bench-rounds", args.bench_rounds, 1)):
        if value < low:
            raise ValueError(f"{flag} must be at least {low}, got {value}")
    if not (math.isfinite(args.bench_seconds) and args.bench_seconds > 0):
        raise ValueError(f"--bench-seconds must be a positive number of seconds, got {args.bench_seconds}")
    if args.eval_height is not None:
        check_input_side(args.eval_height, "--eval-height")
    if not (math.isfinite(args.int8_max_drop) and 0 <= args.int8_max_drop < 1):
        raise ValueError(f"--int8-max-drop must be an absolute AP drop in [0, 1) (0: off), got {args.int8_max_drop}")
    for flag, path in (("--out", args.out), ("--runs-dir", args.runs_dir)):
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ValueError(f"{flag} {path}: {existing} is a file, expected a folder")
    clash = _files_a_run_would_replace(args.out)
    if clash:
        raise ValueError(f"--out {args.out} holds {', '.join(clash)} and no earlier quickstart report: the run would "
                         "replace them; give another folder, or move them away")
    unused = _synthetic_only_given(args)
    if args.checkpoint is not None and unused:
        raise ValueError(f"{', '.join(unused)}: with --checkpoint nothing is trained, and these apply only to the "
                         "synthetic chain; drop them, or drop --checkpoint to train")


def _files_a_run_would_replace(out: Path) -> list[str]:
    """The files of ``out`` a run would replace (``report.md``, ``report.json``, ``speed_accuracy.png``,
    ``demo.mp4``) when ``out`` holds no earlier quickstart report (``report.json`` titled :data:`REPORT_TITLE`):
    then they are the user's own, or another tool's; empty when there are none or they are an earlier run's."""
    from demos.report import REPORT_JSON, REPORT_MD, REPORT_PLOT

    found = [name for name in (REPORT_MD, REPORT_JSON, REPORT_PLOT, "demo.mp4") if (out / name).exists()]
    try:
        earlier = json.loads((out / REPORT_JSON).read_text()).get("title") == REPORT_TITLE
    except (OSError, ValueError, AttributeError):  # none, unreadable, or not a JSON object
        earlier = False
    return [] if earlier else found


def _synthetic_only_given(args: argparse.Namespace) -> list[str]:
    """The flags of :data:`SYNTHETIC_ONLY_FLAGS` set away from their defaults in ``args``."""
    defaults = build_parser()
    dests = {flag: flag[2:].replace("-", "_") for flag in SYNTHETIC_ONLY_FLAGS}
    return [flag for flag, dest in dests.items() if getattr(args, dest) != defaults.get_default(dest)]


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input (exit status 2, one line): missing or unwritable files, bad values, a
    checkpoint that does not load (``train.CheckpointError``, a ``ValueError``) and ``convert.ConversionError`` (a
    ``RuntimeError``).
    ``convert`` is looked up only when already imported: a ConversionError cannot be raised before it is."""
    found: list[type[BaseException]] = [OSError, ValueError]
    errors = sys.modules.get("convert.errors")
    if errors is not None:
        found.append(errors.ConversionError)
    return tuple(found)


def _interrupted_note(cfg: QuickstartConfig) -> str:
    """What a rerun after an interruption reuses: the finished steps' files in ``--runs-dir`` (never a training cut
    short: it starts over), or nothing with ``--no-cache``."""
    if not cfg.cache:
        return "--no-cache: a rerun starts over"
    return ("the generated data, a finished training and converted IRs are kept in --runs-dir and reused by a rerun; "
            "a training cut short starts over")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.quiet:
        os.environ.setdefault("TQDM_DISABLE", "1")
        from convert.__main__ import quiet_libraries

        quiet_libraries(int8=True)
    cfg = config_from_args(args)
    from ov_inference.interrupts import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():  # kill, timeout, docker stop: the scratch folder is removed, as on Ctrl+C
            report = run_quickstart(cfg)
    except _bad_input_errors() as exc:  # evaluated when an exception arrives, after convert may have been imported
        print(f"lwpose-quickstart: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except ImportError as exc:  # checked up front; exit status 1 as there (require_extra)
        print(f"lwpose-quickstart: error: {exc}. {EXTRAS_HINT}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lwpose-quickstart: interrupted ({_interrupted_note(cfg)})", file=sys.stderr)
        return 130
    print()
    print(f"{'run':<26} {'exec':>6} {'AP %':>7} {'FPS':>8} {'latency':>10}")
    for row in report["rows"]:
        ap = "-" if row["ap"] is None else f"{100 * row['ap']:.1f}"
        fps = "-" if row["fps"] is None else f"{row['fps']:.1f}"
        lat = "-" if row["latency_ms"] is None else f"{row['latency_ms']:.1f} ms"
        print(f"{row['name']:<26} {row['execution_precision'] or '-':>6} {ap:>7} {fps:>8} {lat:>10}")
    for t in report["targets"]:
        status = "n/a " if t["met"] is None else "OK  " if t["met"] else "MISS"
        print(f"{status} {t['name']}: {t['value']:.2f}")
    for note in report.get("notes", []):
        print(f"note: {note}")
    print(f"report: {Path(cfg.out) / 'report.md'} (total {report['total_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
