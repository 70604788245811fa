"""COCO keypoints as training samples: one augmented crop per crop-centre person, with targets and loss mask.

Reads a COCO ``person_keypoints_*.json`` with pycocotools. Per image:

- every non-crowd person with at least one labeled keypoint gets targets (18 keypoints, the neck added by
  :func:`pose_format.coco17_to_18`); only those with >= ``min_keypoints`` (5) keypoints and area >= ``min_area``
  (32^2) are crop centres, i.e. samples;
- crowd regions and people without keypoint labels are masked out of the loss (RLE and polygon segmentations,
  decoded by ``pycocotools``; their bbox when they have no segmentation);
- labeled keypoints outside the image are treated as not labeled (counted and logged);
- images missing on disk are skipped when the index is built, images that fail to decode are skipped when read,
  both counted in :attr:`CocoPoseDataset.skipped` and logged with their paths; each sample also carries
  ``skipped``, the undecodable images passed over to make it, so DataLoader workers' skips reach the trainer.
"""
from __future__ import annotations

import logging
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ov_inference.coco import coco_ground_truth, person_category_ids
from ov_inference.sources import read_annotated_image
from pose_format import coco17_to_18, inside_image, normalize
from train.augment import AugmentConfig, apply_transform, sample_transform
from train.targets import render_targets

log = logging.getLogger(__name__)

__all__ = ["ImageRecord", "CocoPoseDataset", "load_coco_records", "read_record_image"]


@dataclass
class ImageRecord:
    """One annotated image: its people ``keypoints [P, 18, 3]`` (image pixels), crop centres and ignored regions."""

    image_id: int
    path: Path
    width: int
    height: int
    keypoints: np.ndarray
    centers: np.ndarray  # [C, 2] image pixels: bbox centres of the crop-centre people
    center_heights: np.ndarray  # [C] bbox heights, image pixels
    ignore_ann_ids: tuple[int, ...]


def read_record_image(record: ImageRecord) -> np.ndarray | None:
    """The record's image in its annotated size (:func:`ov_inference.read_annotated_image`), or None when the file
    is missing or cannot be decoded."""
    try:
        return read_annotated_image(record.path, record.width, record.height)
    except ValueError:
        return None


def load_coco_records(ann_file: str | os.PathLike, images_dir: str | os.PathLike, min_keypoints: int = 5,
                      min_area: float = 32 ** 2, check_files: bool = True) -> tuple[object, list[ImageRecord], Counter]:
    """Parse a COCO keypoints file into :class:`ImageRecord` s; returns ``(coco, records, counts)``.

    ``counts`` has ``missing_images``, ``images_without_people``, ``out_of_image_keypoints`` and
    ``malformed_annotations``.
    """
    ann_file, images_dir = Path(ann_file), Path(images_dir)
    if images_dir.exists() and not images_dir.is_dir():
        raise NotADirectoryError(f"{images_dir} is a file, expected the folder of the images of {ann_file.name}")
    if not images_dir.is_dir():
        raise FileNotFoundError(f"image folder not found: {images_dir}")
    coco = coco_ground_truth(ann_file)  # checked: a broken file is an AnnotationFileError naming it
    person_ids = person_category_ids(coco)
    counts: Counter = Counter()
    records: list[ImageRecord] = []
    for image_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(image_id)[0]
        path = images_dir / info["file_name"]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id, catIds=person_ids, iscrowd=None))
        w, h = info["width"], info["height"]
        people, centers, heights, ignore = [], [], [], []
        for ann in anns:
            kp = ann.get("keypoints") or []
            if ann.get("iscrowd", 0) or ann.get("num_keypoints", 0) == 0 or not kp:
                ignore.append(ann["id"])
                continue
            if len(kp) != 51:
                counts["malformed_annotations"] += 1
                log.warning("annotation %s of image %s has %d keypoint numbers, expected 51: masked out",
                            ann["id"], image_id, len(kp))
                ignore.append(ann["id"])
                continue
            k17 = np.asarray(kp, dtype=np.float64).reshape(17, 3)
            outside = (k17[:, 2] > 0) & ~inside_image(k17[:, :2], w, h)
            if outside.any():
                counts["out_of_image_keypoints"] += int(outside.sum())
                k17[outside] = 0
            k18 = coco17_to_18(k17)
            n_labeled = int((k17[:, 2] > 0).sum())
            if n_labeled == 0:
                ignore.append(ann["id"])
                continue
            people.append(k18)
            bx, by, bw, bh = ann["bbox"]
            if n_labeled >= min_keypoints and ann.get("area", bw * bh) >= min_area:
                centers.append((bx + bw / 2, by + bh / 2))
                heights.append(bh)
        for ann in coco.loadAnns(ignore):
            if not ann.get("segmentation"):  # a box-only annotation (own data): its box is the region known
                ann["segmentation"] = _bbox_polygon(ann.get("bbox"))
                continue
            problem = _segmentation_problem(ann.get("segmentation"), w, h)
            if problem is not None:  # checked here: pycocotools would fail on it in a DataLoader worker mid-run
                counts["malformed_annotations"] += 1
                ann["segmentation"] = _bbox_polygon(ann.get("bbox"))
                log.warning("annotation %s of image %s: %s; %s", ann["id"], image_id, problem,
                            "its bbox is masked instead" if ann["segmentation"] else "nothing is masked for it")
        if not people:
            counts["images_without_people"] += 1
            continue
        if check_files and not path.is_file():
            counts["missing_images"] += 1
            log.warning("image %s referenced by %s is missing: skipped", path, ann_file.name)
            continue
        records.append(ImageRecord(
            image_id=image_id, path=path, width=w, height=h, keypoints=np.asarray(people, np.float32),
            centers=np.asarray(centers, np.float64).reshape(-1, 2), center_heights=np.asarray(heights, np.float64),
            ignore_ann_ids=tuple(ignore)))
    if counts["missing_images"]:
        log.warning("%d image(s) referenced by %s are missing and were skipped", counts["missing_images"], ann_file)
    if counts["out_of_image_keypoints"]:
        log.info("%d labeled keypoint(s) outside their image were treated as unlabeled",
                 counts["out_of_image_keypoints"])
    return coco, records, counts


def _segmentation_problem(segmentation, width: int, height: int) -> str | None:
    """What is wrong with a COCO ``segmentation`` of an image of ``width`` x ``height`` pixels (polygons: lists of
    at least 3 finite x, y pairs; RLE: ``counts`` and ``size`` ``[height, width]``), or ``None`` (empty is fine)."""
    if not segmentation:
        return None
    if isinstance(segmentation, list):
        for polygon in segmentation:
            if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
                return "a segmentation polygon must list at least 3 x, y pairs"
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in polygon):
                return "a segmentation polygon holds a value that is not a finite number"
        return None
    if isinstance(segmentation, dict):
        counts, size = segmentation.get("counts"), segmentation.get("size")
        if not (isinstance(size, list) and len(size) == 2 and [int(v) if isinstance(v, (int, float)) else v
                                                                for v in size] == [height, width]):
            return f"an RLE segmentation needs size [{height}, {width}] (the image's), got {size!r}"
        if isinstance(counts, list):
            if not all(isinstance(v, int) and v >= 0 for v in counts) or sum(counts) != height * width:
                return "an uncompressed RLE's counts must be run lengths adding up to the image's pixels"
            return None
        if not isinstance(counts, str) or not counts:
            return "an RLE segmentation's counts must be a list of run lengths or a compressed string"
        runs = _rle_string_counts(counts)  # pycocotools decodes a short string into uninitialised memory
        if runs is None or min(runs) < 0 or sum(runs) != height * width:
            return "its compressed RLE does not decode to run lengths covering the image's pixels"
        return None
    return f"a segmentation must be a list of polygons or an RLE dict, got {type(segmentation).__name__}"


def _rle_string_counts(text: str) -> list[int] | None:
    """The run lengths of a COCO compressed RLE string (pycocotools' ``rleFrString``: 5-bit groups in characters
    from ``0``, a continuation bit, sign extension, and runs after the second stored as differences), or ``None``
    when the string ends inside a number."""
    counts: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(text):
                return None
            c = ord(text[pos]) - 48
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if not more and c & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _bbox_polygon(bbox) -> list:
    """``[[x0, y0, x1, y0, x1, y1, x0, y1]]`` for a valid COCO ``[x, y, w, h]`` box, else ``[]``."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                                             for v in bbox) and bbox[2] > 0 and bbox[3] > 0):
        return []
    x, y, w, h = (float(v) for v in bbox)
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


#: undecodable image ids one sample reports (a sample passes over more only after that many bad images in a row)
SKIPPED_ID_SLOTS = 4


class CocoPoseDataset:
    """Map-style dataset (``torch.utils.data.Dataset`` protocol): one sample per crop-centre person.

    A sample is a dict of float32 arrays: ``image [3, S, S]`` (normalized planar BGR, S = crop size),
    ``heatmaps [19, S/8, S/8]``, ``pafs [38, S/8, S/8]``, ``mask [1, S/8, S/8]`` (loss weight), plus ``image_id``,
    ``skipped`` (images found undecodable while making this sample: each is counted once per process, then
    passed over without another read) and ``skipped_ids`` (int64 ``[SKIPPED_ID_SLOTS]``: the first of those images'
    COCO ids, -1 padded, so that a trainer can count each bad image once across DataLoader workers).
    Augmentation draws from ``numpy.random.default_rng([seed, epoch, index])``: repeatable with any number of
    workers. The key is an index (epoch from :meth:`set_epoch`) or an ``(epoch, index)`` pair, which is how a
    sampler tells persistent DataLoader workers the epoch (their copies of the dataset never see ``set_epoch``).
    """

    def __init__(self, ann_file: str | os.PathLike, images_dir: str | os.PathLike,
                 augment: AugmentConfig = AugmentConfig(), seed: int = 0, min_keypoints: int = 5,
                 min_area: float = 32 ** 2):
        self.coco, self.records, counts = load_coco_records(ann_file, images_dir, min_keypoints, min_area)
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.skipped: Counter = Counter({"missing_images": counts["missing_images"], "undecodable_images": 0})
        #: indexes of :attr:`records` found undecodable by this process (each worker has its own copy)
        self.undecodable: set[int] = set()
        self.counts = counts
        self.samples = [(r, c) for r, rec in enumerate(self.records) for c in range(len(rec.centers))]
        if not self.samples:
            raise ValueError(f"no usable training person in {ann_file} (need >= {min_keypoints} keypoints and "
                             f"area >= {min_area:g}; {counts['missing_images']} image(s) missing)")
        log.info("%s: %d images, %d crop-centre people", Path(ann_file).name, len(self.records), len(self.samples))

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def ignore_mask(self, record: ImageRecord) -> np.ndarray:
        """Loss weight ``[H, W]`` float32 in image pixels: 0 on crowd regions and people without keypoints."""
        mask = np.ones((record.height, record.width), np.float32)
        for ann in self.coco.loadAnns(list(record.ignore_ann_ids)):
            if not ann.get("segmentation"):
                continue
            region = self.coco.annToMask(ann)  # checked (or replaced by its bbox) by load_coco_records
            if region.shape != mask.shape:
                continue
            mask[region > 0] = 0.0
        return mask

    def _sample_index(self, index: int) -> int:
        """``index`` in ``0 .. len - 1`` (a negative one counts from the end, as on a list); ``IndexError`` when out
        of range, which also ends ``for sample in dataset``."""
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample index {index} out of range for {len(self)} samples")
        return index % len(self)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        index = self._sample_index(index)
        skipped_ids: list[int] = []
        for attempt in range(len(self.samples)):
            r, c = self.samples[(index + attempt) % len(self.samples)]
            record = self.records[r]
            if r in self.undecodable:  # known bad in this process: passed over without reading it again
                continue
            image = read_record_image(record)
            if image is not None:
                break
            self.undecodable.add(r)
            self.skipped["undecodable_images"] += 1
            skipped_ids.append(record.image_id)
            log.warning("image %s could not be decoded: skipped from now on (%d so far)", record.path,
                        self.skipped["undecodable_images"])
        else:
            raise ValueError(f"no image of the dataset could be decoded ({len(self.undecodable)} tried in "
                             f"{Path(self.records[0].path).parent})")
        rng = np.random.default_rng([self.seed, epoch, index])
        mask = self.ignore_mask(record) if record.ignore_ann_ids else None
        matrix, flip = sample_transform(rng, record.centers[c], record.center_heights[c], self.augment)
        size = self.augment.crop_size
        crop, crop_mask, kp = apply_transform(image, mask, record.keypoints, matrix, flip, size)
        targets = render_targets(kp, size, size, crop_mask)
        named = skipped_ids[:SKIPPED_ID_SLOTS]
        slots = np.full(SKIPPED_ID_SLOTS, -1, np.int64)
        slots[:len(named)] = named
        return {"image": normalize(crop), **targets, "image_id": record.image_id, "skipped": len(skipped_ids),
                "skipped_ids": slots}

