"""Accuracy and speed measurements used by the quickstart, each with the precision that actually executed.

- :func:`evaluate_ir`: COCO keypoint AP of an IR through the deployed runtime (:class:`ov_inference.PoseEstimator`,
  one frame at a time) plus per-frame decode times, milliseconds.
- :func:`evaluate_torch`: the same AP for a PyTorch checkpoint (``train.evaluate``: same letterbox and decoder).
- :func:`ir_speed`: sync latency and async throughput of the network alone (``convert.measure_speed``).
- :func:`torch_speed`: PyTorch forward latency at the same input size (sync; FPS = 1000 / latency).

Input sizes are network-input pixels; the speed input is a 16:9 frame letterboxed at the live height (256 x 456).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

__all__ = ["evaluate_ir", "evaluate_torch", "ir_profile", "ir_speed", "ir_speeds", "torch_speed"]

log = logging.getLogger(__name__)


def evaluate_ir(xml: str | Path, ann_file: str | Path, images_dir: str | Path, height: int,
                precision: str | None = None, progress: bool = False) -> dict:
    """AP statistics of an IR on a COCO keypoints set via :class:`ov_inference.PoseEstimator`.

    ``precision``: execution precision hint (``"f32"``, ``"bf16"``, ``None`` = device default). Returns the
    :func:`ov_inference.evaluate_keypoints` dict plus ``execution_precision``, ``images``, ``decode_ms`` (list),
    ``seconds``. Images are brought to their annotated size (:func:`ov_inference.read_annotated_image`); unreadable
    ones are skipped and counted in ``skipped_images``.
    """
    from tqdm import tqdm

    from ov_inference import evaluate_keypoints, poses_to_coco, read_annotated_image
    from ov_inference.estimator import PoseEstimator
    from pose_format import read_coco_keypoints

    t0 = time.perf_counter()
    estimator = PoseEstimator(xml, input_height=height, precision=precision)
    doc = read_coco_keypoints(ann_file)
    results, ids, decode_ms, skipped = [], [], [], 0
    for info in tqdm(sorted(doc["images"], key=lambda im: im["id"]), desc=f"AP {Path(xml).parent.name}",
                     unit="img", disable=not progress, leave=False):
        try:
            image = read_annotated_image(Path(images_dir) / info["file_name"], info["width"], info["height"])
        except ValueError as exc:
            skipped += 1
            log.warning("%s: skipped", exc)
            continue
        poses = estimator(image)
        decode_ms.append(estimator.last_timings["decode_ms"])
        results += poses_to_coco(poses, info["id"])
        ids.append(int(info["id"]))
    if not ids:
        raise ValueError(f"no image of {ann_file} could be read from {images_dir}")
    stats = evaluate_keypoints(ann_file, results, image_ids=ids)
    return {**stats, "execution_precision": estimator.execution_precision, "images": len(ids),
            "skipped_images": skipped, "decode_ms": decode_ms, "seconds": time.perf_counter() - t0}


def evaluate_torch(checkpoint: str | Path, ann_file: str | Path, images_dir: str | Path, height: int,
                   progress: bool = False, *, allow_unsafe: bool = False) -> dict:
    """AP statistics of a PyTorch checkpoint (float32 on CPU, every refinement stage it holds) with
    ``train.evaluate.evaluate_model``.
    ``allow_unsafe``: full unpickling for a trusted file that ``weights_only=True`` refuses."""
    from train import load_model
    from train.evaluate import evaluate_model

    model = load_model(checkpoint, None, allow_unsafe=allow_unsafe)
    stats = evaluate_model(model, ann_file, images_dir, input_height=height, progress=progress)
    return {**stats, "execution_precision": "f32"}


def ir_speed(xml: str | Path, precision: str | None = None, seconds: float = 2.0) -> dict:
    """``{"latency_ms", "fps", "execution_precision", "requests"}`` of an IR at 256 x 456 (network alone)."""
    from convert.speed import measure_speed
    from ov_inference.adapter import get_core

    speed = measure_speed(get_core().read_model(str(xml)), precision_hint=precision, seconds=seconds)
    return {"latency_ms": speed.latency_ms_p50, "fps": speed.async_fps,
            "execution_precision": speed.execution_precision, "requests": speed.requests}


def ir_profile(xml: str | Path, precision: str | None = None, runs: int = 10) -> dict:
    """Where one sync inference of an IR spends its time at 256 x 456 (``convert.layer_profile``): ``by_type``
    (kernel ms per operation type), ``kernels`` (the convolution kernels that ran), ``total_ms``,
    ``execution_precision``."""
    from convert.speed import layer_profile
    from ov_inference.adapter import get_core

    return layer_profile(get_core().read_model(str(xml)), precision_hint=precision, runs=runs).as_dict()


def ir_speeds(configs: dict[str, tuple[str | Path, str | None]], seconds: float = 1.0, rounds: int = 3) -> dict:
    """:func:`ir_speed` of several ``{key: (xml, precision)}`` configurations measured in interleaved rounds; the
    median per configuration is kept, so background load on a shared machine hits every configuration alike."""
    runs: dict[str, list[dict]] = {key: [] for key in configs}
    for _ in range(max(1, rounds)):
        for key, (xml, precision) in configs.items():
            runs[key].append(ir_speed(xml, precision, seconds))
    out = {}
    for key, speeds in runs.items():
        out[key] = {"latency_ms": float(np.median([s["latency_ms"] for s in speeds])),
                    "fps": float(np.median([s["fps"] for s in speeds])),
                    "execution_precision": speeds[0]["execution_precision"], "requests": speeds[0]["requests"],
                    "rounds": len(speeds)}
    return out


def torch_speed(checkpoint: str | Path, seconds: float = 2.0, *, allow_unsafe: bool = False) -> dict:
    """PyTorch forward latency (median, ms; every refinement stage the checkpoint holds) at the same input as
    :func:`ir_speed`; ``fps`` = 1000 / latency.
    ``allow_unsafe``: full unpickling for a trusted file that ``weights_only=True`` refuses."""
    import torch

    from convert.speed import BENCH_HEIGHT, BENCH_WIDTH
    from train import load_model

    model = load_model(checkpoint, None, allow_unsafe=allow_unsafe)
    x = torch.zeros(1, 3, BENCH_HEIGHT, BENCH_WIDTH)
    times = []
    with torch.no_grad():
        model(x)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or not times:
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    latency = float(np.median(times) * 1e3)
    return {"latency_ms": latency, "fps": 1000.0 / latency, "execution_precision": "f32", "requests": 1}
