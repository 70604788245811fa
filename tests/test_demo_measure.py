"""demos.measure.evaluate_ir: the AP of an IR through the deployed runtime."""
import json

import numpy as np
import pytest

from ov_inference import Pose
from pose_format import coco17_to_18


@pytest.fixture
def ground_truth_estimator(coco_mini_dir, monkeypatch):
    """Replaces PoseEstimator with one that 'detects' the annotated people of the image it is given, in that image's
    pixels (as a network does); returns the list of image sizes it saw."""
    import ov_inference.estimator as estimator_module

    doc = json.loads((coco_mini_dir / "person_keypoints_mini.json").read_text())
    order = sorted(doc["images"], key=lambda im: im["id"])
    seen: list[tuple[int, int]] = []

    class GroundTruthEstimator:
        execution_precision = "f32"
        last_timings = {"decode_ms": 0.1}

        def __init__(self, xml, input_height, precision=None):
            pass

        def __call__(self, image):
            info = order[len(seen)]
            seen.append(image.shape[1::-1])
            scale = np.array([image.shape[1] / info["width"], image.shape[0] / info["height"], 1], np.float32)
            return [Pose(coco17_to_18(np.array(a["keypoints"], np.float32).reshape(17, 3)) * scale, 1.0)
                    for a in doc["annotations"] if a["image_id"] == info["id"] and a["num_keypoints"] > 0]

    monkeypatch.setattr(estimator_module, "PoseEstimator", GroundTruthEstimator)
    return seen, [(im["width"], im["height"]) for im in order]


def test_evaluate_ir_scores_images_of_another_size_in_the_annotations_pixels(coco_mini_dir, half_size_coco_mini,
                                                                           ground_truth_estimator, tmp_path):
    """A resized copy of the images (annotations unchanged) is read in the annotated size, as training and
    convert read it: a model that finds every person keeps AP near 1 (in the file's own pixels: AP 0)."""
    from demos.measure import evaluate_ir

    seen, annotated = ground_truth_estimator
    stats = evaluate_ir(tmp_path / "m.xml", coco_mini_dir / "person_keypoints_mini.json", half_size_coco_mini, 256)
    assert seen == annotated
    assert stats["images"] == 4 and stats["skipped_images"] == 0 and stats["AP"] > 0.9
