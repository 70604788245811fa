"""Verification of converted models: fidelity against the source, INT8 agreement, COCO AP.

Every comparison runs the models on the same pre-processed inputs (u8 ``[1, H, W, 3]`` letterboxed images, see
:mod:`convert.calibration`): PyTorch and ONNX get them normalized with :func:`pose_format.normalize`; IRs take the
raw pixels (normalization inside). Fidelity checks compile with ``{"INFERENCE_PRECISION_HINT": "f32"}`` because
this CPU's default for f32 models is bf16.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from pose_format import IR_HEATMAPS_NAME, IR_PAFS_NAME, NUM_KEYPOINTS, normalize

log = logging.getLogger(__name__)

#: Compile config that makes an f32 model really execute in f32 on a bf16-capable CPU.
F32_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}
#: Largest PyTorch vs ONNX vs IR FP32 difference accepted (maps are O(0.1..1)).
FP32_TOLERANCE = 1e-4
#: Heatmap value above which a local maximum counts as a keypoint peak (the decoder's default threshold).
PEAK_THRESHOLD = 0.1
MAP_NAMES = (IR_HEATMAPS_NAME, IR_PAFS_NAME)

Maps = dict[str, np.ndarray]


def compile_model(model, config: dict | None = None):
    """Compile an ``ov.Model`` or a model path for CPU with ``config``."""
    from ov_inference.adapter import get_core

    return get_core().compile_model(model, "CPU", dict(config or {}))


def infer_ir(compiled, inputs: list[np.ndarray]) -> list[Maps]:
    """Run a compiled IR on u8 ``[1, H, W, 3]`` inputs; returns ``{"heatmaps", "pafs"}`` per input."""
    outs = [compiled.output(name) for name in MAP_NAMES]
    results = []
    for x in inputs:
        res = compiled(x)
        results.append({name: np.array(res[o]) for name, o in zip(MAP_NAMES, outs)})
    return results


def infer_onnx(compiled, inputs: list[np.ndarray]) -> list[Maps]:
    """Run a compiled ONNX network (float normalized NCHW input) on u8 ``[1, H, W, 3]`` inputs."""
    return infer_ir(compiled, [normalize(x[0])[None] for x in inputs])


def infer_torch(network, inputs: list[np.ndarray]) -> list[Maps]:
    """Run the PyTorch network (last stage) on u8 ``[1, H, W, 3]`` inputs, on CPU, in f32."""
    import torch

    results = []
    with torch.no_grad():
        for x in inputs:
            maps = network(torch.from_numpy(normalize(x[0])[None]))
            results.append({IR_HEATMAPS_NAME: maps[-2].numpy(), IR_PAFS_NAME: maps[-1].numpy()})
    return results


def all_finite(maps: list[Maps]) -> bool:
    """Whether every value of both maps of all inputs is finite (no NaN, no infinity)."""
    return all(np.isfinite(m[n]).all() for m in maps for n in MAP_NAMES)


def max_abs_diff(a: list[Maps], b: list[Maps]) -> float:
    """Largest absolute difference over both maps of all inputs; NaN when any value of either side is NaN or
    infinite (Python's ``max`` would skip a NaN that is not first, and NumPy's reduces it only within one array)."""
    if not (all_finite(a) and all_finite(b)):
        return float("nan")
    return max((float(np.abs(x[n] - y[n]).max()) for x, y in zip(a, b) for n in MAP_NAMES), default=0.0)


def peak_mask(heatmaps: np.ndarray, threshold: float = PEAK_THRESHOLD) -> np.ndarray:
    """Bool ``[18, h, w]``: keypoint cells that are 3x3 local maxima above ``threshold`` (background dropped)."""
    hm = np.asarray(heatmaps).reshape(-1, *heatmaps.shape[-2:])[:NUM_KEYPOINTS]
    padded = np.pad(hm, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    h, w = hm.shape[1:]
    neighbours = np.stack([padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                           for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    return (hm > threshold) & (hm >= neighbours.max(axis=0))


def _dilate(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    h, w = mask.shape[1:]
    return np.any([padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)


@dataclass(frozen=True)
class Agreement:
    """How closely ``test`` maps follow ``reference`` maps over a set of inputs.

    ``*_max_abs`` / ``*_mean_abs``: map value differences. ``peak_recall``: fraction of reference keypoint peaks
    that ``test`` also has within one cell; ``peak_precision``: the reverse; ``peak_f1``: their harmonic mean
    (1.0 when neither has a peak).
    """

    heatmaps_max_abs: float
    heatmaps_mean_abs: float
    pafs_max_abs: float
    pafs_mean_abs: float
    reference_peaks: int
    peak_recall: float
    peak_precision: float
    peak_f1: float

    def as_dict(self) -> dict:
        return asdict(self)


def agreement(reference: list[Maps], test: list[Maps], threshold: float = PEAK_THRESHOLD) -> Agreement:
    """Compare ``test`` against ``reference`` maps (same inputs, same order); see :class:`Agreement`."""
    stats = {}
    for name in MAP_NAMES:
        diffs = [np.abs(r[name] - t[name]) for r, t in zip(reference, test)]
        stats[f"{name}_max_abs"] = float(max(d.max() for d in diffs))
        stats[f"{name}_mean_abs"] = float(np.mean([d.mean() for d in diffs]))
    ref_n = test_n = ref_hit = test_hit = 0
    for r, t in zip(reference, test):
        pr, pt = peak_mask(r[IR_HEATMAPS_NAME], threshold), peak_mask(t[IR_HEATMAPS_NAME], threshold)
        ref_n, test_n = ref_n + int(pr.sum()), test_n + int(pt.sum())
        ref_hit += int((pr & _dilate(pt)).sum())
        test_hit += int((pt & _dilate(pr)).sum())
    recall = ref_hit / ref_n if ref_n else 1.0
    precision = test_hit / test_n if test_n else 1.0
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return Agreement(**stats, reference_peaks=ref_n, peak_recall=recall, peak_precision=precision, peak_f1=f1)


def coco_ap(compiled, samples: list, ground_truth) -> float:
    """COCO keypoint AP of a compiled IR on letterboxed ``samples`` (:class:`convert.calibration.Sample` with
    image ids) against ``ground_truth`` (path, dict or pycocotools COCO): decode, map back to image pixels, score."""
    from ov_inference import decode_poses, evaluate_keypoints, poses_to_coco

    results: list[dict] = []
    maps = infer_ir(compiled, [s.input for s in samples])
    for sample, m in zip(samples, maps):
        poses = decode_poses(m[IR_HEATMAPS_NAME][0], m[IR_PAFS_NAME][0])
        results += poses_to_coco(poses, sample.image_id, meta=sample.meta)
    return float(evaluate_keypoints(ground_truth, results, image_ids=[s.image_id for s in samples])["AP"])
