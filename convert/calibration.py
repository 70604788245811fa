"""Calibration and validation images, pre-processed exactly as the runtime does (:func:`pose_format.letterbox`).

Samples are raw u8 NHWC BGR ``[1, H, W, 3]`` arrays, the IR's input: resized to the input height keeping the
aspect ratio, width padded on the right with :data:`pose_format.PAD_VALUE` to a multiple of the stride (or to
the IR's static width). Samples of a dynamic IR may have different widths; NNCF accepts that.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ov_inference.coco import person_category_ids
from ov_inference.sources import SourceError, list_images
from ov_inference.preprocessing import letterbox_frame
from pose_format import INPUT_HEIGHT_LIVE, AnnotationFileError, LetterboxMeta, letterbox, read_coco_keypoints

from convert.errors import ConversionError

log = logging.getLogger(__name__)

#: Input height used to calibrate a dynamic-shape IR (the live-use height).
DEFAULT_CALIB_HEIGHT = INPUT_HEIGHT_LIVE


@dataclass
class Sample:
    """One pre-processed image: ``input`` u8 ``[1, H, W, 3]``, its letterbox meta and (COCO) image id."""

    input: np.ndarray
    meta: LetterboxMeta
    path: Path
    image_id: int | None = None


@dataclass
class SampleSet:
    """Pre-processed images plus the ones that could not be read (path, reason)."""

    samples: list[Sample]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def inputs(self) -> list[np.ndarray]:
        return [s.input for s in self.samples]


def folder_images(images_dir: str | Path) -> list[Path]:
    """Image files directly in ``images_dir``, sorted by name."""
    try:
        return list_images(images_dir)
    except SourceError as exc:
        raise ConversionError(str(exc)) from None


def coco_images(annotations: str | Path, images_dir: str | Path, *, with_people: bool = True) -> list[tuple[Path, int]]:
    """``(path, image_id)`` of the images of a COCO keypoints file (by default only those with annotated people,
    :func:`people_image_ids`)."""
    ann_path, folder = Path(annotations), Path(images_dir)
    if not folder.is_dir():
        raise ConversionError(f"image folder not found: {folder}")
    try:
        coco = read_coco_keypoints(ann_path)
    except AnnotationFileError as exc:
        raise ConversionError(str(exc)) from None
    people = people_image_ids(coco)
    out = [(folder / im["file_name"], int(im["id"])) for im in coco["images"] if not with_people or im["id"] in people]
    if not out:
        raise ConversionError(f"{ann_path} lists no images{' with annotated people' if with_people else ''}")
    return out


def people_image_ids(coco: dict) -> set[int]:
    """Ids of the images of a COCO keypoints dataset dict (:func:`pose_format.read_coco_keypoints`) with at least one
    annotated person: a non-crowd annotation of the person category (:func:`ov_inference.coco.person_category_ids`)
    with labeled keypoints, i.e. a person training learns from and COCO evaluation scores."""
    person = set(person_category_ids(coco))
    return {a["image_id"] for a in coco["annotations"]
            if a["category_id"] in person and not a["iscrowd"] and a["num_keypoints"] > 0}


def load_samples(items: list[Path] | list[tuple[Path, int]], *, height: int = DEFAULT_CALIB_HEIGHT,
                 width: int | None = None, limit: int | None = None, seed: int = 0,
                 progress: bool = True, what: str = "calibration") -> SampleSet:
    """Read and letterbox up to ``limit`` images (a seeded random subset when there are more).

    ``items`` are paths or ``(path, image_id)`` pairs. ``height``/``width`` are input pixels (``width=None``:
    keep the aspect ratio and pad to a multiple of the stride). Unreadable images are skipped, logged and
    counted in ``skipped``; if none is left the call raises :class:`ConversionError`.
    """
    from tqdm import tqdm

    pairs = [(Path(i), None) if not isinstance(i, tuple) else (Path(i[0]), i[1]) for i in items]
    if not pairs:
        raise ConversionError(f"no {what} images given")
    if limit is not None and len(pairs) > limit:
        pairs = sorted(random.Random(seed).sample(pairs, limit), key=lambda p: str(p[0]))
    samples, skipped = [], []
    for path, image_id in tqdm(pairs, desc=f"{what} images", unit="img", disable=not progress, leave=False):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or image.size == 0:
            skipped.append((path, "unreadable or not an image"))
            log.warning("skipping unreadable %s image %s", what, path)
            continue
        # a dynamic IR's input as the runtime makes it (width capped for panoramas), a static one's at its size
        inp, meta = letterbox(image, height, width) if width is not None else letterbox_frame(image, height)
        samples.append(Sample(inp[None], meta, path, image_id))
    if skipped:
        log.warning("%d of %d %s images could not be read and were skipped", len(skipped), len(pairs), what)
    if not samples:
        raise ConversionError(f"none of the {len(pairs)} {what} images could be read "
                              f"(first: {skipped[0][0]}: {skipped[0][1]})")
    return SampleSet(samples, skipped)


def synthetic_dataset(out_dir: str | Path, num_images: int, seed: int = 0,
                      progress: bool = True) -> tuple[Path, Path]:
    """Write ``num_images`` synthetic people (:func:`train.synthetic.generate_dataset`) to ``out_dir``.

    Returns ``(annotations.json, images folder)``.
    """
    try:
        from train.synthetic import generate_dataset
    except ImportError as exc:
        raise ConversionError("--calib-synthetic needs train.synthetic (the training package's synthetic "
                              f"people generator), which is not available: {exc}") from exc
    if num_images < 1:
        raise ConversionError(f"--calib-synthetic needs at least 1 image, got {num_images}")
    ann = generate_dataset(Path(out_dir), num_images, seed=seed, progress=progress)
    return ann, Path(out_dir) / "images"
