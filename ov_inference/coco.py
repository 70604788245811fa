"""COCO keypoint results and evaluation.

:func:`poses_to_coco` turns decoded people into COCO result records (JSON-serializable, COCO-17 keypoint order);
:func:`evaluate_keypoints` scores such records against COCO ground truth with pycocotools' OKS AP. pycocotools is
not a runtime dependency: it is imported inside :func:`evaluate_keypoints` only (extra ``lwpose[train]``).
"""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Iterable

import numpy as np

from pose_format import LetterboxMeta, read_coco_keypoints
from ov_inference.pose import Pose

__all__ = ["COCO_KEYPOINT_STATS", "poses_to_coco", "evaluate_keypoints", "coco_ground_truth", "person_category_ids"]

log = logging.getLogger(__name__)

#: Names of the 10 numbers of COCO keypoint evaluation, in ``COCOeval.stats`` order.
COCO_KEYPOINT_STATS: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def poses_to_coco(poses: Iterable[Pose], image_id: int, category_id: int = 1,
                  meta: LetterboxMeta | None = None) -> list[dict]:
    """COCO keypoint result records, one per pose.

    Each record is ``{"image_id", "category_id", "keypoints": [x1, y1, v1, ... x17, y17, v17], "score"}`` with
    COCO-17 keypoints in image pixels, ``v = 2`` for a present keypoint and ``0, 0, 0`` for a missing one.
    Poses must already be in image pixels, unless ``meta`` is given: then they are taken as network-input pixels
    and mapped back with :meth:`pose_format.LetterboxMeta.to_image`.
    """
    records = []
    for pose in poses:
        if meta is not None:
            pose = pose.to_image(meta)
        k17 = pose.coco17.astype(np.float64)
        present = k17[:, 2] > 0
        flat = np.zeros((17, 3), dtype=np.float64)
        flat[present, :2] = k17[present, :2]
        flat[present, 2] = 2
        records.append({
            "image_id": int(image_id),
            "category_id": int(category_id),
            "keypoints": [int(v) if i % 3 == 2 else float(v) for i, v in enumerate(flat.ravel())],  # v: 0 or 2
            "score": float(pose.score),
        })
    return records


def coco_ground_truth(gt):
    """A pycocotools ``COCO`` from a path (read with :func:`pose_format.read_coco_keypoints`: a broken file is an
    ``AnnotationFileError`` naming it), a dataset dict or an existing ``COCO`` object."""
    try:
        from pycocotools.coco import COCO
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "COCO evaluation needs pycocotools, which the runtime does not install: "
            "pip install 'lwpose[train]' (or pip install pycocotools)") from exc
    if isinstance(gt, COCO):
        return gt
    if isinstance(gt, (str, Path)):
        dataset = read_coco_keypoints(gt)
    elif isinstance(gt, dict):
        dataset = gt
    else:
        raise TypeError(f"gt must be a path, a COCO dataset dict or a pycocotools COCO, got {type(gt).__name__}")
    missing = [k for k in ("images", "annotations", "categories") if k not in dataset]
    if missing:
        raise ValueError(f"COCO ground truth lacks {missing}")
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def person_category_ids(gt) -> list[int]:
    """The ids of the categories named ``person`` in COCO ground truth (a pycocotools ``COCO`` or its dataset dict),
    or ``[1]`` (COCO's person id) when none is: the people that training reads and evaluation scores."""
    categories = gt.dataset["categories"] if hasattr(gt, "dataset") else gt["categories"]
    return sorted(c["id"] for c in categories if c.get("name") == "person") or [1]


def evaluate_keypoints(gt, results: list[dict], image_ids: Iterable[int] | None = None) -> dict[str, float]:
    """COCO OKS keypoint AP/AR of ``results`` (records as :func:`poses_to_coco` makes) against ``gt``.

    ``gt``: path to a COCO keypoints JSON, its dict, or a pycocotools ``COCO``. ``image_ids``: the images to
    evaluate (default: every ground-truth image, so an image without results counts as all misses). Returns
    ``{"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}`` (pycocotools' convention: -1 for a
    statistic without ground truth, e.g. APm when there is no medium person); empty results give zeros.
    ``results`` are people: they are scored against the person category of :func:`person_category_ids`, whatever
    its id, and other categories of the file are not scored. ``results`` is not modified.
    """
    coco_gt = coco_ground_truth(gt)
    from pycocotools.cocoeval import COCOeval

    results = list(results)  # any iterable (a generator is read once)

    ids = sorted(coco_gt.getImgIds()) if image_ids is None else sorted({int(i) for i in image_ids})
    unknown = sorted(set(ids) - set(coco_gt.getImgIds()))
    if unknown:
        raise ValueError(f"image ids {unknown[:10]} are not in the ground truth")
    incomplete = [i for i, r in enumerate(results)
                  if not isinstance(r, dict) or not {"image_id", "keypoints", "score"} <= set(r)]
    if incomplete:
        raise ValueError(f"results {incomplete[:10]} are not records with image_id, keypoints and score "
                         "(see poses_to_coco)")
    wanted = set(ids)
    person = person_category_ids(coco_gt)[0]
    results = [{**r, "category_id": person} for r in results if int(r["image_id"]) in wanted]
    bad = [r["image_id"] for r in results if len(r["keypoints"]) != 51]
    if bad:
        raise ValueError(f"results for images {bad[:10]} do not have 51 keypoint values (17 x (x, y, v))")
    broken = [r["image_id"] for r in results if not np.isfinite(np.asarray(r["keypoints"], np.float64)).all()
              or not np.isfinite(float(r["score"]))]
    if broken:  # pycocotools would count a NaN keypoint as a perfect match
        raise ValueError(f"results for images {broken[:10]} have NaN or infinite keypoints or scores")
    if not results:
        log.info("no results to evaluate: AP = 0")
        return {name: 0.0 for name in COCO_KEYPOINT_STATS}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.imgIds = ids
        ev.params.catIds = [person]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    log.debug("pycocotools:\n%s", out.getvalue())
    return {name: float(v) for name, v in zip(COCO_KEYPOINT_STATS, ev.stats)}
