"""COCO result records and keypoint evaluation (pycocotools)."""
import builtins
import copy
import json

import numpy as np
import pytest

from ov_inference import Pose, evaluate_keypoints, poses_to_coco
from ov_inference.coco import COCO_KEYPOINT_STATS
from pose_format import KEYPOINT_NAMES, AnnotationFileError, LetterboxMeta, coco17_to_18, read_coco_keypoints


@pytest.fixture(scope="module")
def gt_path(coco_mini_dir):
    return coco_mini_dir / "person_keypoints_mini.json"


@pytest.fixture(scope="module")
def gt(gt_path):
    return json.loads(gt_path.read_text())


def gt_as_results(gt: dict) -> list[dict]:
    """Every labeled person of the ground truth as a detection (keypoints exact, v > 0 -> present)."""
    results = []
    for i, ann in enumerate(gt["annotations"]):
        if ann["num_keypoints"] == 0:
            continue
        kp = coco17_to_18(ann["keypoints"]).astype(np.float32)
        kp[:, 2] = kp[:, 2] > 0
        results += poses_to_coco([Pose(kp, score=1.0 + i)], ann["image_id"])
    return results


def test_record_layout():
    kp = np.zeros((18, 3), np.float32)
    kp[0] = (10.5, 20.25, 0.9)  # nose -> COCO 0
    kp[KEYPOINT_NAMES.index("l_eye")] = (30, 40, 0.3)  # -> COCO 1 (left_eye)
    kp[1] = (5, 5, 1.0)  # neck: not in COCO
    (rec,) = poses_to_coco([Pose(kp, 3.5)], image_id=7, category_id=1)
    assert set(rec) == {"image_id", "category_id", "keypoints", "score"}
    assert rec["image_id"] == 7 and rec["category_id"] == 1 and rec["score"] == 3.5
    assert len(rec["keypoints"]) == 51
    assert rec["keypoints"][:6] == [10.5, 20.25, 2.0, 30.0, 40.0, 2.0]
    assert rec["keypoints"][6:] == [0.0] * 45
    assert all(type(v) is int for v in rec["keypoints"][2::3])  # visibility flags are written 2 / 0, not 2.0
    json.dumps(rec)  # plain Python types
    assert poses_to_coco([], 1) == []


def test_records_mapped_from_input_pixels():
    kp = np.zeros((18, 3), np.float32)
    kp[0] = (99.5, 49.5, 1.0)
    meta = LetterboxMeta(scale=0.5, image_size=(400, 200), input_size=(200, 100))
    (rec,) = poses_to_coco([Pose(kp, 1.0)], 1, meta=meta)
    assert rec["keypoints"][:3] == pytest.approx([199.5, 99.5, 2.0])


def test_ground_truth_as_results_scores_one(gt, gt_path):
    results = gt_as_results(gt)
    before = copy.deepcopy(results)
    for source in (gt_path, str(gt_path), gt):
        stats = evaluate_keypoints(source, results)
        assert list(stats) == list(COCO_KEYPOINT_STATS)
        assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)
    assert results == before  # pycocotools adds fields to what it loads: not to the caller's records


def person_as_category_3_with_a_dog(gt: dict) -> dict:
    """``gt`` with the person category at id 3 and a ``dog`` category (id 1) holding a keypoint-labeled copy of the
    first person: a file of the user's own export."""
    other = copy.deepcopy(gt)
    other["categories"] = [{**other["categories"][0], "id": 3}, {"id": 1, "name": "dog", "supercategory": "animal"}]
    for ann in other["annotations"]:
        ann["category_id"] = 3
    other["annotations"].append({**copy.deepcopy(gt["annotations"][0]), "id": 1, "category_id": 1})
    return other


def test_results_are_scored_against_the_person_category_only(gt):
    other = person_as_category_3_with_a_dog(gt)
    stats = evaluate_keypoints(other, gt_as_results(gt))  # records of category 1, as poses_to_coco writes them
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)


def test_pycocotools_object_and_image_subset(gt, gt_path):
    from pycocotools.coco import COCO

    coco = COCO(str(gt_path))
    results = gt_as_results(gt)
    one = gt["images"][0]["id"]
    # Only the first image's people, evaluated on that image: perfect; on all images: recall drops.
    own = [r for r in results if r["image_id"] == one]
    assert evaluate_keypoints(coco, own, image_ids=[one])["AP"] == pytest.approx(1.0)
    assert evaluate_keypoints(coco, own)["AR"] < 0.5


def test_wrong_detections_score_lower(gt):
    results = gt_as_results(gt)
    for r in results[::2]:
        r["keypoints"] = [v + 25.0 if i % 3 != 2 else v for i, v in enumerate(r["keypoints"])]
    assert evaluate_keypoints(gt, results)["AP"] < 0.9


def test_empty_results_give_zero(gt):
    stats = evaluate_keypoints(gt, [])
    assert stats == {name: 0.0 for name in COCO_KEYPOINT_STATS}


def test_bad_input(gt, tmp_path):
    with pytest.raises(AnnotationFileError, match="not found"):
        evaluate_keypoints(tmp_path / "missing.json", [])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        evaluate_keypoints(broken, [])
    with pytest.raises(ValueError, match="lacks"):
        evaluate_keypoints({"images": []}, [])
    with pytest.raises(TypeError, match="gt must be"):
        evaluate_keypoints(42, [])
    with pytest.raises(ValueError, match="not in the ground truth"):
        evaluate_keypoints(gt, [], image_ids=[123456789])
    with pytest.raises(ValueError, match="image_id, keypoints and score"):
        evaluate_keypoints(gt, [{"image_id": 785, "keypoints": [0.0] * 51}])
    bad = gt_as_results(gt)[:1]
    bad[0]["keypoints"] = bad[0]["keypoints"][:50]
    with pytest.raises(ValueError, match="51"):
        evaluate_keypoints(gt, bad)


def test_missing_pycocotools_names_the_extra(gt, monkeypatch):
    real_import = builtins.__import__

    def no_pycocotools(name, *args, **kwargs):
        if name.startswith("pycocotools"):
            raise ImportError("No module named 'pycocotools'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pycocotools)
    with pytest.raises(ImportError, match=r"lwpose\[train\]"):
        evaluate_keypoints(gt, [])


@pytest.mark.parametrize("content, message", [
    ("", "is not valid JSON (Expecting value at line 1, column 1)"),
    ("[1, 2]", "holds a JSON list, expected a COCO object"),
    ("{}", "no 'images' or 'annotations' list"),
    ('{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": []}', "image #0 (id 1) lacks width, height"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9}], "annotations": [{"id": 5, '
     '"image_id": 1}]}', "annotation #0 (id 5) lacks bbox"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9}], "annotations": [{"id": 5, '
     '"image_id": 2, "bbox": [0, 0, 1, 1]}]}', "annotation 5 refers to image 2, which the file does not list"),
    ('{"images": [], "annotations": [7]}', "annotation #0 is a int, not an object"),
    # image sizes that failed later inside OpenCV's resize (0, negative) or int() (null), or were taken as is
    *[(f'{{"images": [{{"id": 3, "file_name": "a.jpg", "width": 9, "height": {v}}}], "annotations": []}}',
       f"image 3 has height {shown}, expected a positive whole number of pixels")
      for v, shown in (("0", "0"), ("-5", "-5"), ('"480"', "'480'"), ("null", "None"), ("12.5", "12.5"),
                       ("true", "True"), ("NaN", "nan"), ("Infinity", "inf"))],
    ('{"images": [{"id": 4, "file_name": "a.jpg", "width": [640], "height": 9}], "annotations": []}',
     "image 4 has width [640], expected a positive whole number of pixels"),
])
def test_broken_annotation_files_are_named(tmp_path, content, message):
    path = tmp_path / "ann.json"
    path.write_text(content)
    with pytest.raises(AnnotationFileError) as error:
        read_coco_keypoints(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_annotation_file_defaults_are_filled(tmp_path):
    path = tmp_path / "ann.json"
    kp = [0] * 51
    kp[2], kp[5] = 2, 1
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9}],
                                "annotations": [{"id": 5, "image_id": 1, "bbox": [0, 0, 4, 3], "keypoints": kp}]}))
    doc = read_coco_keypoints(path)
    assert doc["categories"][0]["name"] == "person"
    assert {k: doc["annotations"][0][k] for k in ("iscrowd", "area", "num_keypoints", "category_id")} == {
        "iscrowd": 0, "area": 12.0, "num_keypoints": 2, "category_id": 1}
    assert evaluate_keypoints(path, [])["AP"] == 0.0  # pycocotools accepts the completed file
    doc = json.loads(path.read_text())
    doc["images"][0]["width"] = 9.0  # a whole number written as a float: taken as the integer
    path.write_text(json.dumps(doc))
    width = read_coco_keypoints(path)["images"][0]["width"]
    assert width == 9 and isinstance(width, int)
    with pytest.raises(AnnotationFileError, match="is a folder, expected a COCO annotation JSON file"):
        read_coco_keypoints(tmp_path)


def test_results_iterables_and_non_finite_keypoints(gt):
    good = gt_as_results(gt)
    assert evaluate_keypoints(gt, iter(good))["AP"] == evaluate_keypoints(gt, good)["AP"] > 0.9  # read once
    bad = copy.deepcopy(good[:1])
    bad[0]["keypoints"][0] = float("nan")  # pycocotools would score NaN as a perfect match
    with pytest.raises(ValueError, match="NaN or infinite"):
        evaluate_keypoints(gt, bad)
