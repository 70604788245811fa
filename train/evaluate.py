"""COCO keypoint evaluation of a PyTorch checkpoint, single-scale or with test-time augmentation.

``python -m train.evaluate --checkpoint C --ann A --images D [--height 368] [--scales S ...] [--multiscale] [--flip]
[--out detections.json]`` prints the AP table (AP, AP50, AP75, APm, APl, AR) and writes the detections in COCO
results format.

Inference follows the deployed runtime: :func:`pose_format.letterbox` to the input height (width padded to a
multiple of 8 with :data:`pose_format.PAD_VALUE`), :func:`pose_format.normalize`, the network's last stage,
:func:`ov_inference.decode_poses` (network-input pixels), mapped back to image pixels with the letterbox meta by
:func:`ov_inference.poses_to_coco`.

Test-time augmentation (:mod:`ov_inference.tta`): ``--scales`` runs the network at each scale times the base
``--height`` (input height ``round(height * s / 8) * 8``, at least 8; the original repository's ``val.py
--multiscale`` is ``--scales 0.5 1 1.5 2``, also spelled ``--multiscale``), ``--flip`` also on the horizontally
mirrored input (its content mirrored inside the same letterbox); all maps are resampled onto the base height's map
grid, averaged, decoded once and mapped back with the base letterbox meta. Cost: ``len(scales) * (2 if flip else
1)`` forward passes per image. The default (``--scales 1``, no flip) is the plain single-scale path.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ov_inference import (MULTISCALE_SCALES, MapPrediction, coco_ground_truth, decode_poses, evaluate_keypoints,
                          merge_predictions, mirror_content, poses_to_coco, scaled_height)
from ov_inference.coco import person_category_ids
from ov_inference.output_paths import check_output_file
from ov_inference.sources import read_annotated_image
from pose_format import (INPUT_HEIGHT_ACCURATE, AnnotationFileError, LetterboxMeta, dumps_strict, input_side_error,
                         letterbox, normalize, read_coco_keypoints, write_text_atomic)
from pose_format.cli_types import input_height_type

log = logging.getLogger(__name__)

__all__ = ["TABLE_STATS", "predict_maps", "predict_tta", "evaluated_images", "detect_coco", "evaluate_model",
           "format_table", "describe_tta", "main"]

#: The statistics printed in the AP table.
TABLE_STATS = ("AP", "AP50", "AP75", "APm", "APl", "AR")


@torch.no_grad()
def predict_maps(model: nn.Module, image: np.ndarray, input_height: int = INPUT_HEIGHT_ACCURATE, flip: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, LetterboxMeta]:
    """Last-stage ``heatmaps [19, h, w]`` and ``pafs [38, h, w]`` (float32, map cells) for a BGR image, and its meta.

    ``flip``: mirror the letterboxed input's image content horizontally (its first
    :func:`ov_inference.content_width` columns; the padding stays on the right) before the forward pass; the maps
    returned are those of the mirrored input (:func:`ov_inference.flip_maps_back` turns them back).
    """
    inp, meta = letterbox(image, input_height)
    if flip:
        inp = mirror_content(inp, meta)
    device = next(model.parameters()).device
    x = torch.from_numpy(normalize(inp))[None].to(device)
    outputs = model(x)
    return outputs[-2][0].float().cpu().numpy(), outputs[-1][0].float().cpu().numpy(), meta


def _check_scales(scales, input_height: int) -> tuple[float, ...]:
    """``scales`` as a tuple of floats, or ``ValueError("scales ...")`` unless they are finite and positive and each
    gives an input height (:func:`ov_inference.scaled_height` of ``input_height``, pixels) that is a valid input
    side (:func:`pose_format.input_side_error`: ``1e6`` ran OpenCV out of memory in the resize)."""
    scales = tuple(float(s) for s in scales)
    if not scales or not all(math.isfinite(s) and s > 0 for s in scales):
        raise ValueError(f"scales must be finite and positive, got {' '.join(f'{s:g}' for s in scales) or 'none'}")
    for s in scales:
        message = input_side_error(scaled_height(input_height, s))
        if message is not None:
            raise ValueError(f"scales: {s:g} x height {input_height} gives an input height that {message}")
    return scales


def predict_tta(model: nn.Module, image: np.ndarray, input_height: int = INPUT_HEIGHT_ACCURATE,
                scales: tuple[float, ...] = (1.0,), flip: bool = False
                ) -> tuple[np.ndarray, np.ndarray, LetterboxMeta]:
    """Maps averaged over ``scales`` (times ``input_height``) and, with ``flip``, the mirrored input, on the map grid
    of the ``input_height`` letterbox; returns ``(heatmaps, pafs, base_meta)`` like :func:`predict_maps`.

    Runs ``len(scales) * (2 if flip else 1)`` forward passes through :func:`predict_maps` (scale ``s`` at input
    height :func:`ov_inference.scaled_height` ``(input_height, s)``) and merges them with
    :func:`ov_inference.merge_predictions`. ``scales == (1.0,)`` without flip is exactly :func:`predict_maps`.
    """
    scales = _check_scales(scales, input_height)
    if scales == (1.0,) and not flip:
        return predict_maps(model, image, input_height)
    preds, base_meta = [], None
    for s in scales:
        height = scaled_height(input_height, s)
        for mirrored in ((False, True) if flip else (False,)):
            hm, pf, meta = predict_maps(model, image, height, flip=mirrored)
            preds.append(MapPrediction(hm, pf, meta, mirrored))
        if height == input_height:
            base_meta = meta
    if base_meta is None:
        base_meta = letterbox(image, input_height)[1]
    heatmaps, pafs = merge_predictions(preds, base_meta)
    return heatmaps, pafs, base_meta


def describe_tta(input_height: int, scales: tuple[float, ...] = (1.0,), flip: bool = False) -> str:
    """One line naming the evaluation's input heights, scales and flip, e.g. for the table header."""
    scales = _check_scales(scales, input_height)
    heights = " ".join(str(scaled_height(input_height, s)) for s in scales)
    passes = len(scales) * (2 if flip else 1)
    return (f"height {input_height}, scales {' '.join(f'{s:g}' for s in scales)} (input heights {heights}), "
            f"{'flip' if flip else 'no flip'}: {passes} forward pass{'es' if passes > 1 else ''} per image")


def evaluated_images(doc: dict, max_images: int | None = None) -> list[dict]:
    """The ``images`` entries of the COCO document ``doc`` an evaluation reads, in its order: by id, the first
    ``max_images`` (all when ``None``)."""
    return sorted(doc["images"], key=lambda im: im["id"])[:max_images]


def detect_coco(model: nn.Module, ann_file: str | os.PathLike, images_dir: str | os.PathLike,
                input_height: int = INPUT_HEIGHT_ACCURATE, max_images: int | None = None,
                progress: bool = True, *, scales: tuple[float, ...] = (1.0,), flip: bool = False
                ) -> tuple[list[dict], list[int], dict]:
    """Run the model on the annotated images; returns ``(results, image_ids, counts)``.

    ``results`` are COCO keypoint result records in the annotation's image pixels (an image file of another size
    is resized to its annotated width and height first); ``image_ids`` the images actually evaluated
    (missing or undecodable ones are skipped, counted in ``counts`` and logged). ``scales`` / ``flip``: test-time
    augmentation of :func:`predict_tta` (default: single scale, no flip).
    """
    from tqdm import tqdm

    scales = _check_scales(scales, input_height)
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}")
    doc = ann_file if isinstance(ann_file, dict) else read_coco_keypoints(ann_file)
    images = evaluated_images(doc, max_images)
    person = person_category_ids(doc)[0]  # the detections' category_id: the file's person category
    was_training = model.training
    model.eval()
    results, ids = [], []
    counts = {"evaluated": 0, "missing_images": 0, "undecodable_images": 0}
    try:
        for info in tqdm(images, desc="evaluate", unit="img", disable=not progress, leave=False):
            path = Path(images_dir) / info["file_name"]
            if not path.is_file():
                counts["missing_images"] += 1
                log.warning("image %s is missing: skipped", path)
                continue
            try:
                image = read_annotated_image(path, int(info["width"]), int(info["height"]))
            except ValueError as exc:
                counts["undecodable_images"] += 1
                log.warning("%s: skipped", exc)
                continue
            heatmaps, pafs, meta = predict_tta(model, image, input_height, scales, flip)
            poses = decode_poses(heatmaps, pafs)
            results.extend(poses_to_coco(poses, info["id"], person, meta=meta))
            ids.append(int(info["id"]))
            counts["evaluated"] += 1
    finally:
        model.train(was_training)
    return results, ids, counts


def evaluate_model(model: nn.Module, ann_file: str | os.PathLike, images_dir: str | os.PathLike,
                   input_height: int = INPUT_HEIGHT_ACCURATE, max_images: int | None = None,
                   out_json: str | os.PathLike | None = None, progress: bool = True, *,
                   scales: tuple[float, ...] = (1.0,), flip: bool = False) -> dict:
    """COCO keypoint AP of ``model`` on ``ann_file``: the statistics dict of :func:`ov_inference.evaluate_keypoints`
    plus ``images``, ``detections``, ``seconds``, ``height`` (base input height, pixels), ``scales``, ``flip`` and
    ``refinement_stages`` (of ``model``; ``None`` for a model without them); writes the detections to ``out_json``
    when given. ``scales`` / ``flip``: test-time augmentation (see :func:`predict_tta`)."""
    start = time.perf_counter()
    scales = _check_scales(scales, input_height)
    gt = coco_ground_truth(ann_file)  # read and checked once, for detection and scoring
    results, ids, counts = detect_coco(model, gt.dataset, images_dir, input_height, max_images, progress,
                                       scales=scales, flip=flip)
    if not ids:
        raise ValueError(f"no image of {ann_file} could be read from {images_dir}")
    stats = evaluate_keypoints(gt, results, image_ids=ids)
    if out_json is not None:
        write_text_atomic(out_json, dumps_strict(results))
    return {**stats, "images": counts["evaluated"], "skipped_images": counts["missing_images"]
            + counts["undecodable_images"], "detections": len(results), "seconds": time.perf_counter() - start,
            "height": int(input_height), "scales": list(scales), "flip": bool(flip),
            "refinement_stages": _refinement_stages(model)}


def _refinement_stages(model: nn.Module) -> int | None:
    """Refinement stages ``model`` runs after its initial stage (``None`` for a model without
    ``refinement_stages``)."""
    stages = getattr(model, "refinement_stages", None)
    return None if stages is None else len(stages)


def format_table(stats: dict, title: str | None = None) -> str:
    """Two-line text table of :data:`TABLE_STATS`, after a ``title`` line when given."""
    head = " ".join(f"{name:>6}" for name in TABLE_STATS)
    row = " ".join(f"{stats[name]:6.3f}" for name in TABLE_STATS)
    return f"{title}\n{head}\n{row}" if title else f"{head}\n{row}"


def main(argv: list[str] | None = None) -> int:
    from train.checkpoint import CheckpointError, load_model

    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint in the published layout")
    parser.add_argument("--ann", required=True, type=Path, help="COCO person keypoints JSON (ground truth)")
    parser.add_argument("--images", required=True, type=Path, help="folder of the annotation file's images")
    parser.add_argument("--height", type=input_height_type, default=INPUT_HEIGHT_ACCURATE,
                        help=f"network input height, pixels (default {INPUT_HEIGHT_ACCURATE})")
    parser.add_argument("--scales", type=float, nargs="+", default=None, metavar="S",
                        help="test-time scales, times --height, maps averaged (default 1; the original's multiscale: "
                             "0.5 1 1.5 2)")
    parser.add_argument("--multiscale", action="store_true",
                        help="shorthand for --scales " + " ".join(f"{s:g}" for s in MULTISCALE_SCALES))
    parser.add_argument("--flip", action="store_true",
                        help="also average the maps of the horizontally mirrored input (twice the forward passes)")
    parser.add_argument("--num-refinement-stages", type=int, default=None,
                        help="refinement stages to keep, the first N of the checkpoint (default: every stage it holds)")
    parser.add_argument("--out", type=Path, default=Path("detections.json"),
                        help="detections in COCO results format (default detections.json)")
    parser.add_argument("--max-images", type=int, default=None, help="evaluate the first N images only")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON instead of a table")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--allow-unsafe-checkpoint", action="store_true",
                        help="allow a checkpoint that needs full unpickling (trusted files only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.multiscale and args.scales is not None:
        parser.error("give either --multiscale or --scales, not both")
    scales = MULTISCALE_SCALES if args.multiscale else tuple(args.scales or (1.0,))
    try:
        scales = _check_scales(scales, args.height)
    except ValueError as exc:
        parser.error(f"--{exc}")
    for flag, value in (("--threads", args.threads), ("--max-images", args.max_images)):
        if value is not None and value < 1:
            parser.error(f"{flag} must be at least 1, got {value}")
    if args.num_refinement_stages is not None and args.num_refinement_stages < 0:
        parser.error(f"--num-refinement-stages must be 0 or more, got {args.num_refinement_stages}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.images.is_dir():
        parser.error(f"--images {args.images} is not a folder")
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a folder, expected the detections JSON file to write")
    try:  # before any image is evaluated: the results were lost when --out could not be written at the end
        check_output_file(args.out, "the detections", source=args.ann)
    except OSError as exc:
        parser.error(f"--out: {exc}")
    try:
        read_coco_keypoints(args.ann)  # a broken annotation file fails before the model loads
        model = load_model(args.checkpoint, args.num_refinement_stages,
                           allow_unsafe=args.allow_unsafe_checkpoint)
        stats = evaluate_model(model, args.ann, args.images, args.height, args.max_images, args.out,
                               scales=scales, flip=args.flip)
    except (CheckpointError, AnnotationFileError) as exc:
        parser.error(str(exc))
    except (ValueError, OSError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(dumps_strict(stats))
    else:
        title = f"{describe_tta(args.height, scales, args.flip)}; {stats['refinement_stages']} refinement stage(s)"
        print(format_table(stats, title))
        skipped = f", {stats['skipped_images']} skipped (missing or unreadable)" if stats["skipped_images"] else ""
        print(f"{stats['images']} images{skipped}, {stats['detections']} detections -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
