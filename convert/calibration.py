"""Calibration and validation images, pre-processed exactly as the runtime does (:func:`pose_format.letterbox`).

Samples are raw u8 NHWC BGR ``[1, H, W, 3]`` arrays, the IR's input: resized to the input height keeping the
aspect ratio, width padded on the right with :data:`pose_format.PAD_VALUE` to a multiple of the stride (or to
a fixed ``width``: the fidelity checks' inputs of a static IR). Samples may have different widths; NNCF accepts
that. The runtime reshapes even a static IR to each frame's own size, so a static IR is calibrated and validated
on such samples too (reshaped, :func:`convert.ir.reshaped`).
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence, Union

import numpy as np

from ov_inference.coco import person_category_ids
from ov_inference.sources import SourceError, list_images, read_annotated_image, read_image
from ov_inference.preprocessing import letterbox_frame
from pose_format import INPUT_HEIGHT_LIVE, AnnotationFileError, LetterboxMeta, letterbox, read_coco_keypoints

from convert.errors import ConversionError

log = logging.getLogger(__name__)

#: Input height used to calibrate a dynamic-shape IR (the live-use height).
DEFAULT_CALIB_HEIGHT = INPUT_HEIGHT_LIVE


class CocoImage(NamedTuple):
    """An image of a COCO keypoints file: its path, id and annotated ``(width, height)`` in pixels (a file of another
    size is resized to it when read, :func:`ov_inference.read_annotated_image`)."""

    path: Path
    image_id: int | None
    size: tuple[int, int] | None


#: What :func:`load_samples` reads: an image path, a :class:`CocoImage`, or a ``(path, image_id)`` pair.
ImageItem = Union[str, Path, CocoImage, tuple]


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


def coco_images(annotations: str | Path, images_dir: str | Path, *, with_people: bool = True) -> list[CocoImage]:
    """The images of a COCO keypoints file (by default only those with annotated people, :func:`people_image_ids`)."""
    ann_path, folder = Path(annotations), Path(images_dir)
    if not folder.is_dir():
        raise ConversionError(f"image folder not found: {folder}")
    try:
        coco = read_coco_keypoints(ann_path)
    except AnnotationFileError as exc:
        raise ConversionError(str(exc)) from None
    people = people_image_ids(coco)
    out = [CocoImage(folder / im["file_name"], int(im["id"]), (im["width"], im["height"]))
           for im in coco["images"] if not with_people or im["id"] in people]
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


def _as_coco_image(item: ImageItem) -> CocoImage:
    """A path (no id, no annotated size), a ``(path, image_id)`` pair or a :class:`CocoImage` as a :class:`CocoImage`
    (``size`` None: the file's own)."""
    if isinstance(item, CocoImage):
        return item
    if isinstance(item, tuple):
        return CocoImage(Path(item[0]), item[1], None)
    return CocoImage(Path(item), None, None)


def _read(item: CocoImage) -> np.ndarray:
    """The item's image, in its annotated size when it has one; ``ValueError`` naming the path when unreadable."""
    return read_image(item.path) if item.size is None else read_annotated_image(item.path, *item.size)


def load_samples(items: Sequence[ImageItem], *, height: int = DEFAULT_CALIB_HEIGHT, width: int | None = None,
                 limit: int | None = None, seed: int = 0, progress: bool = True,
                 what: str = "calibration") -> SampleSet:
    """Read and letterbox up to ``limit`` images (a seeded random subset when there are more).

    ``items``: paths, :class:`CocoImage` s (read in their annotated size, the pixels of their keypoints) or
    ``(path, image_id)`` pairs. ``height``/``width`` are input pixels (``width=None``: keep the aspect ratio and pad
    to a multiple of the stride). Unreadable images (missing, not an image, corrupt: the reason is kept) are skipped,
    logged and listed in ``skipped``; if none is left the call raises :class:`ConversionError`.
    """
    from tqdm import tqdm

    images = [_as_coco_image(i) for i in items]
    if not images:
        raise ConversionError(f"no {what} images given")
    if limit is not None and len(images) > limit:
        images = sorted(random.Random(seed).sample(images, limit), key=lambda p: str(p.path))
    samples, skipped = [], []
    for item in tqdm(images, desc=f"{what} images", unit="img", disable=not progress, leave=False):
        try:
            image = _read(item)
        except ValueError as exc:
            skipped.append((item.path, str(exc)))
            log.warning("skipping %s image: %s", what, exc)
            continue
        # a dynamic IR's input as the runtime makes it (width capped for panoramas), a static one's at its size
        inp, meta = letterbox(image, height, width) if width is not None else letterbox_frame(image, height)
        samples.append(Sample(inp[None], meta, item.path, item.image_id))
    if skipped:
        log.warning("%d of %d %s images could not be read and were skipped", len(skipped), len(images), what)
    if not samples:
        raise ConversionError(f"none of the {len(images)} {what} images could be read "
                              f"(first: {skipped[0][1]})")
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
