"""Reading a COCO keypoints annotation file, checked once for every part of the project.

Training, evaluation, calibration and the benchmarks all read ``person_keypoints_*.json`` files, often the user's
own exports. :func:`read_coco_keypoints` parses one and checks the fields the project relies on, so a broken file
fails at once with its name and the first offending entry (not later as a ``KeyError`` inside pycocotools).
Fields that COCO's tools can derive are filled in when absent: ``categories`` (person, id 1), and per annotation
``iscrowd`` (0), ``num_keypoints`` (labeled keypoints counted) and ``area`` (bbox width x height). The JSON module
only: no pycocotools, no torch.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["AnnotationFileError", "read_coco_keypoints"]

#: Fields every image entry needs (COCO's names).
IMAGE_FIELDS = ("id", "file_name", "width", "height")
#: Fields every annotation needs.
ANNOTATION_FIELDS = ("id", "image_id", "bbox")


class AnnotationFileError(ValueError):
    """A COCO annotation file that is missing, unreadable or lacks what the project needs (the message names it)."""


def _first_lacking(entries: list, fields: tuple[str, ...], kind: str, path: Path) -> None:
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise AnnotationFileError(f"{path}: {kind} #{i} is a {type(entry).__name__}, not an object")
        lacking = [f for f in fields if f not in entry]
        if lacking:
            raise AnnotationFileError(f"{path}: {kind} #{i} (id {entry.get('id', '?')}) lacks {', '.join(lacking)}")


def _check_image_sizes(images: list[dict], path: Path) -> None:
    """Each image's ``width`` and ``height`` (pixels) must be a positive whole number (one written as a float, e.g.
    ``640.0``, becomes the int): 0 or negative sizes failed later inside OpenCV's resize, a missing value (null)
    inside ``int()``, and a string or fraction was taken as it came."""
    for image in images:
        for field in ("width", "height"):
            value = image[field]
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (number and value > 0 and float(value).is_integer()):  # NaN and inf fail here too
                raise AnnotationFileError(f"{path}: image {image['id']} has {field} {value!r}, expected a positive "
                                          "whole number of pixels")
            image[field] = int(value)


def read_coco_keypoints(path: str | Path) -> dict:
    """The dataset dict of a COCO keypoints JSON file, checked and completed (see the module docstring).

    Raises :class:`AnnotationFileError` (a ``ValueError``) naming ``path`` when it is not a file, is not JSON, is
    not a COCO object with ``images`` and ``annotations`` lists, or when an image lacks ``id`` / ``file_name`` /
    ``width`` / ``height`` or has a width or height that is not a positive whole number, an annotation lacks ``id`` /
    ``image_id`` / ``bbox`` or has a bbox that is not 4 numbers, or an annotation points at an image the file does
    not list.
    """
    path = Path(path)
    if path.is_dir():
        raise AnnotationFileError(f"{path} is a folder, expected a COCO annotation JSON file")
    if not path.is_file():
        raise AnnotationFileError(f"annotation file not found: {path}")
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise AnnotationFileError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
                                  ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationFileError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise AnnotationFileError(f"{path} holds a JSON {type(data).__name__}, expected a COCO object with "
                                  "'images' and 'annotations'")
    lacking = [k for k in ("images", "annotations") if not isinstance(data.get(k), list)]
    if lacking:
        raise AnnotationFileError(f"{path} is not a COCO annotation file: no {' or '.join(repr(k) for k in lacking)} "
                                  "list")
    _first_lacking(data["images"], IMAGE_FIELDS, "image", path)
    _check_image_sizes(data["images"], path)
    _first_lacking(data["annotations"], ANNOTATION_FIELDS, "annotation", path)
    image_ids = {im["id"] for im in data["images"]}
    for ann in data["annotations"]:
        bbox = ann["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise AnnotationFileError(f"{path}: annotation {ann['id']} has bbox {bbox!r}, expected [x, y, w, h]")
        if ann["image_id"] not in image_ids:
            raise AnnotationFileError(f"{path}: annotation {ann['id']} refers to image {ann['image_id']}, "
                                      "which the file does not list")
        ann.setdefault("iscrowd", 0)
        ann.setdefault("area", float(bbox[2] * bbox[3]))
        if "num_keypoints" not in ann:
            kp = ann.get("keypoints") or []
            ann["num_keypoints"] = sum(1 for v in kp[2::3] if v > 0)
        ann.setdefault("category_id", 1)
    if not isinstance(data.get("categories"), list) or not data["categories"]:
        data["categories"] = [{"id": 1, "name": "person", "supercategory": "person"}]
    return data
