"""Decoder benchmark: fidelity (COCO AP on ground-truth maps) and speed, ``decode_poses`` vs the original decoder
and, when installed, Intel's Open Model Zoo demo decoder.

(a) Fidelity: for every image of ``coco_mini``, its people (COCO-17 converted to 18 keypoints) are mapped to the
    network input of the image letterboxed to each input height, ground-truth heatmaps and PAFs are rendered with
    ``train.targets``, decoded by both decoders, mapped back to the image and scored with pycocotools.
    Targets: AP >= 0.98 for ``decode_poses`` at both heights.
(b) Speed: median time on synthetic scenes (people built from the coco_mini skeletons, random scale, position and
    flip; rendered with ``train.targets``, then blurred and noised like a network output unless ``--clean``):
    5 people on 32x57 maps (target <= 1 ms) and 30 people on 46x82 maps (target <= 5 ms), with the original
    decoder on the same maps and the ratio. Timings are noisy on a shared machine: compare the ratios.

Baselines: ``reference`` is the original repository's decoder (``benchmarks/reference_decoder.py``, re-implemented);
``omz`` is the Open Model Zoo Python demo's ``OpenPoseDecoder`` run as that demo runs it
(``benchmarks/omz_decoder.py``),
measured only when its package is installed: ``.venv/bin/pip install --no-deps openvino-model-api==0.2.5``.

Run from the project root: ``python benchmarks/bench_decoder.py [--json] [--no-omz]``.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.omz_decoder import OMZ_PACKAGE, load_omz_decoder  # noqa: E402
from benchmarks.reference_decoder import reference_decode  # noqa: E402
from ov_inference import decode_poses, evaluate_keypoints, poses_to_coco  # noqa: E402
from pose_format import (FLIP_PAIRS_18, STRIDE, AnnotationFileError, coco17_to_18, dumps_strict,  # noqa: E402
                         letterbox, read_coco_keypoints)
from pose_format.cli_types import count_type, input_height_type  # noqa: E402
from train.targets import render_heatmaps, render_pafs  # noqa: E402

log = logging.getLogger("bench_decoder")

DEFAULT_COCO = ROOT.parent / "shared" / "data" / "coco_mini"
GT_FILE = "person_keypoints_mini.json"
AP_TARGET = 0.98
#: (name, people, map height, map width, target median ms)
SPEED_CASES = (("5 people, 32x57", 5, 32, 57, 1.0), ("30 people, 46x82", 30, 46, 82, 5.0))


def load_people(gt: dict) -> dict[int, np.ndarray]:
    """People with at least one labeled keypoint, per image id: ``[P, 18, 3]`` (x, y, v) in image pixels."""
    people: dict[int, list[np.ndarray]] = {img["id"]: [] for img in gt["images"]}
    for ann in gt["annotations"]:
        if ann.get("iscrowd", 0) or ann.get("num_keypoints", 0) == 0:
            continue
        people[ann["image_id"]].append(coco17_to_18(ann["keypoints"]))
    return {k: np.array(v, dtype=np.float32).reshape(-1, 18, 3) for k, v in people.items()}


def ground_truth_maps(image: np.ndarray, people_img: np.ndarray, height: int):
    """``(heatmaps, pafs, meta)`` of the image letterboxed to ``height``, people given in image pixels."""
    net_input, meta = letterbox(image, height)
    people = people_img.copy()
    people[..., :2] = meta.to_input(people[..., :2])
    map_h, map_w = net_input.shape[0] // STRIDE, net_input.shape[1] // STRIDE
    return render_heatmaps(people, map_h, map_w), render_pafs(people, map_h, map_w), meta


def fidelity(coco_dir: Path, heights: list[int], decoders: dict, network_like_seed: int | None = None) -> dict:
    """COCO keypoint AP of each decoder on ground-truth maps at each input height.

    With ``network_like_seed``, the maps are first degraded by :func:`network_like` (seeded).
    """
    rng = np.random.default_rng(network_like_seed)
    gt_path = coco_dir / GT_FILE
    gt = json.loads(gt_path.read_text())
    people = load_people(gt)
    out: dict = {}
    for height in heights:
        results = {name: [] for name in decoders}
        for img in gt["images"]:
            image = cv2.imread(str(coco_dir / img["file_name"]))
            if image is None:
                raise FileNotFoundError(f"cannot read image {coco_dir / img['file_name']}")
            hm, pafs, meta = ground_truth_maps(image, people[img["id"]], height)
            if network_like_seed is not None:
                hm, pafs = network_like(hm, pafs, rng)
            for name, decode in decoders.items():
                results[name] += poses_to_coco(decode(hm, pafs), img["id"], meta=meta)
        out[height] = {name: evaluate_keypoints(gt, res) for name, res in results.items()}
        log.info("height %d: %s", height, {n: round(r["AP"], 4) for n, r in out[height].items()})
    return out


def skeleton_templates(coco_dir: Path, min_keypoints: int = 12) -> list[np.ndarray]:
    """Well-labeled coco_mini people as ``[18, 3]`` templates, centred on their box and scaled to unit height."""
    gt = json.loads((coco_dir / GT_FILE).read_text())
    templates = []
    for kp in load_people(gt).values():
        for person in kp:
            present = person[:, 2] > 0
            if present.sum() < min_keypoints:
                continue
            pts = person[present, :2]
            lo, hi = pts.min(0), pts.max(0)
            t = person.copy()
            t[present, :2] = (pts - (lo + hi) / 2) / max(hi[1] - lo[1], 1.0)
            templates.append(t)
    return templates


def synthetic_scene(n_people: int, map_h: int, map_w: int, templates: list[np.ndarray],
                    rng: np.random.Generator) -> np.ndarray:
    """``[n, 18, 3]`` people in input pixels of a ``map_h x map_w`` map: random templates, sizes, places, flips."""
    in_h, in_w = map_h * STRIDE, map_w * STRIDE
    size_range = (0.35, 0.7) if n_people <= 5 else (0.18, 0.35)
    people = []
    for _ in range(n_people):
        person = templates[rng.integers(len(templates))].copy()
        if rng.random() < 0.5:
            person[:, 0] *= -1
            for r, l in FLIP_PAIRS_18:
                person[[r, l]] = person[[l, r]]
        size = rng.uniform(*size_range) * in_h
        centre = rng.uniform([size * 0.3, size * 0.5], [in_w - size * 0.3, in_h - size * 0.5])
        present = person[:, 2] > 0
        person[present, :2] = person[present, :2] * size + centre
        people.append(person)
    return np.array(people, dtype=np.float32)


def network_like(hm: np.ndarray, pafs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Degrade ground-truth maps like a trained network's output: blur, lower peaks, small noise."""
    def blur(maps):
        return np.stack([cv2.GaussianBlur(m, (0, 0), 0.7) for m in maps])

    hm = 0.8 * blur(hm[:18]) + rng.normal(0, 0.01, hm[:18].shape).astype(np.float32)
    hm = np.concatenate([hm, 1 - hm.max(0, keepdims=True)])
    pafs = 0.9 * blur(pafs) + rng.normal(0, 0.02, pafs.shape).astype(np.float32)
    return hm.astype(np.float32), pafs.astype(np.float32)


def time_decoder(decode, scenes: list[tuple[np.ndarray, np.ndarray]], runs: int) -> dict:
    """Median / p95 wall time in ms of ``decode`` over ``runs`` calls cycling through ``scenes``."""
    decode(*scenes[0])  # warm-up (caches, lazy imports)
    times = []
    for i in range(runs):
        hm, pafs = scenes[i % len(scenes)]
        t0 = time.perf_counter()
        decode(hm, pafs)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"ms_p50": statistics.median(times), "ms_p95": times[int(0.95 * (len(times) - 1))], "runs": runs}


def speed(coco_dir: Path, runs: int, reference_runs: int, clean: bool, seed: int, omz=None) -> dict:
    rng = np.random.default_rng(seed)
    templates = skeleton_templates(coco_dir)
    out = {}
    for name, n, map_h, map_w, target in SPEED_CASES:
        scenes, found = [], []
        for _ in range(10):
            people = synthetic_scene(n, map_h, map_w, templates, rng)
            hm, pafs = render_heatmaps(people, map_h, map_w), render_pafs(people, map_h, map_w)
            if not clean:
                hm, pafs = network_like(hm, pafs, rng)
            scenes.append((hm, pafs))
            found.append(len(decode_poses(hm, pafs)))
        ours = time_decoder(decode_poses, scenes, runs)
        ref = time_decoder(reference_decode, scenes, reference_runs)
        out[name] = {"people": n, "map": [map_h, map_w], "target_ms": target, "ours": ours, "reference": ref,
                     "speedup": ref["ms_p50"] / ours["ms_p50"], "people_found_mean": float(np.mean(found)),
                     "meets_target": ours["ms_p50"] <= target}
        if omz is not None:
            out[name]["omz"] = time_decoder(omz, scenes, reference_runs)
            out[name]["speedup_vs_omz"] = out[name]["omz"]["ms_p50"] / ours["ms_p50"]
        log.info("%s: ours %.3f ms, reference %.2f ms", name, ours["ms_p50"], ref["ms_p50"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coco-dir", type=Path, default=DEFAULT_COCO,
                        help=f"folder with the images and {GT_FILE} (default: %(default)s)")
    parser.add_argument("--heights", type=input_height_type, nargs="+", default=[368, 256],
                        help=f"input heights, multiples of {STRIDE} (default 368 256)")
    parser.add_argument("--runs", type=count_type(1), default=300,
                        help="timed runs of decode_poses per case (default 300)")
    parser.add_argument("--reference-runs", type=count_type(1), default=20,
                        help="timed runs of the original decoder (and the OMZ one) per case (default 20)")
    parser.add_argument("--clean", action="store_true", help="time on clean ground-truth maps (default: network-like)")
    parser.add_argument("--seed", type=count_type(0), default=0,
                        help="seed of the synthetic scenes and map noise, >= 0 (default 0)")
    parser.add_argument("--skip-fidelity", action="store_true", help="only time the decoders")
    parser.add_argument("--skip-speed", action="store_true", help="only measure AP")
    parser.add_argument("--no-omz", action="store_true",
                        help=f"leave out the Open Model Zoo decoder even when installed ({OMZ_PACKAGE})")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of tables")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO, format="%(message)s")
    if not (args.coco_dir / GT_FILE).is_file():
        parser.error(f"{args.coco_dir / GT_FILE} not found (use --coco-dir)")
    try:  # a broken annotation file: one line now, not a traceback in the middle of the run
        read_coco_keypoints(args.coco_dir / GT_FILE)
    except AnnotationFileError as exc:
        parser.error(f"--coco-dir: {exc}")

    report: dict = {"ap_target": AP_TARGET}
    omz, why = (None, "left out (--no-omz)") if args.no_omz else load_omz_decoder()
    report["omz"] = {"measured": omz is not None, "package": OMZ_PACKAGE, "note": why}
    if omz is None:
        log.info("omz baseline: %s", why)
    if not args.skip_fidelity:
        decoders = {"ours": decode_poses, "reference": reference_decode, **({"omz": omz} if omz else {})}
        fid = fidelity(args.coco_dir, args.heights, decoders)
        report["fidelity"] = {str(h): res for h, res in fid.items()}
        report["fidelity_meets_target"] = all(res["ours"]["AP"] >= AP_TARGET for res in fid.values())
        report["fidelity_network_like"] = {
            str(h): res for h, res in fidelity(args.coco_dir, args.heights, decoders, args.seed).items()}
    if not args.skip_speed:
        report["speed"] = speed(args.coco_dir, args.runs, args.reference_runs, args.clean, args.seed, omz)
        report["speed_maps"] = "clean ground truth" if args.clean else "network-like (blurred, noised)"
        report["speed_meets_target"] = all(res["meets_target"] for res in report["speed"].values())
    if args.json:
        print(dumps_strict(report, indent=2))
        return 0
    if "fidelity" in report:
        with_omz = report["omz"]["measured"]
        print("\nFidelity: COCO keypoint AP on ground-truth maps of coco_mini (target ours >= %.2f)" % AP_TARGET)
        print(f"{'height':>6} | {'ours AP':>8} {'AP50':>6} {'AP75':>6} {'AR':>6} | {'original AP':>11} {'AR':>6}"
              + (f" | {'OMZ AP':>7} {'AR':>6}" if with_omz else ""))
        for title, key in (("", "fidelity"), ("the same maps blurred, scaled and noised like a network output "
                                              "(network_like):", "fidelity_network_like")):
            if title:
                print(title)
            for h, res in report[key].items():
                o, r = res["ours"], res["reference"]
                print(f"{h:>6} | {o['AP']:8.4f} {o['AP50']:6.3f} {o['AP75']:6.3f} {o['AR']:6.3f} | "
                      f"{r['AP']:11.4f} {r['AR']:6.3f}"
                      + (f" | {res['omz']['AP']:7.4f} {res['omz']['AR']:6.3f}" if with_omz else ""))
    if "speed" in report:
        print(f"\nSpeed ({report['speed_maps']} maps), median ms")
        print(f"{'case':>18} | {'ours':>7} {'p95':>7} {'target':>6} | {'original':>9} | {'speedup':>7} | found"
              + (f" | {'OMZ':>7} | {'speedup':>7}" if report["omz"]["measured"] else ""))
        for name, res in report["speed"].items():
            print(f"{name:>18} | {res['ours']['ms_p50']:7.3f} {res['ours']['ms_p95']:7.3f} {res['target_ms']:6.1f} "
                  f"| {res['reference']['ms_p50']:9.2f} | {res['speedup']:6.1f}x | {res['people_found_mean']:>5.1f}"
                  + (f" | {res['omz']['ms_p50']:7.2f} | {res['speedup_vs_omz']:6.1f}x" if "omz" in res else ""))
    if not report["omz"]["measured"]:
        print(f"\nOpen Model Zoo baseline not measured: {report['omz']['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
