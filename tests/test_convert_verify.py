"""Map agreement metrics and calibration loading (pure NumPy / OpenCV, fast)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pose_format import PAD_VALUE

from convert import ConversionError, agreement, coco_images, folder_images, load_samples, max_abs_diff, peak_mask


def _maps(peaks, h=12, w=16, shift=(0, 0)):
    hm = np.zeros((1, 19, h, w), np.float32)
    for k, (x, y) in peaks:
        hm[0, k, y + shift[1], x + shift[0]] = 0.8
    return {"heatmaps": hm, "pafs": np.zeros((1, 38, h, w), np.float32)}


def test_peak_mask_finds_local_maxima_above_threshold():
    hm = np.zeros((19, 8, 8), np.float32)
    hm[0, 2, 3] = 0.5
    hm[0, 2, 4] = 0.4   # neighbour of a higher peak: not a peak
    hm[1, 6, 6] = 0.05  # below threshold
    hm[18, 1, 1] = 0.9  # background channel ignored
    mask = peak_mask(hm)
    assert mask.shape == (18, 8, 8)
    assert list(zip(*np.nonzero(mask))) == [(0, 2, 3)]


def test_agreement_identical_shifted_and_missing():
    ref = [_maps([(0, (3, 4)), (5, (10, 7))])]
    same = agreement(ref, ref)
    assert same.peak_recall == same.peak_precision == same.peak_f1 == 1.0 and same.heatmaps_max_abs == 0
    assert same.reference_peaks == 2
    shifted = agreement(ref, [_maps([(0, (3, 4)), (5, (10, 7))], shift=(1, 1))])
    assert shifted.peak_f1 == 1.0  # within one cell
    assert shifted.heatmaps_max_abs == pytest.approx(0.8)
    missing = agreement(ref, [_maps([(0, (3, 4))])])
    assert missing.peak_recall == 0.5 and missing.peak_precision == 1.0
    assert missing.peak_f1 == pytest.approx(2 / 3)
    far = agreement(ref, [_maps([(0, (6, 4)), (5, (10, 7))])])
    assert far.peak_recall == 0.5 and far.peak_precision == 0.5
    assert max_abs_diff(ref, [_maps([(0, (3, 4)), (5, (10, 7))])]) == 0.0


def test_load_samples_letterboxes_like_the_runtime(coco_mini_dir):
    paths = folder_images(coco_mini_dir)
    assert len(paths) == 4
    fixed = load_samples(paths, height=128, width=160, progress=False)
    assert [s.input.shape for s in fixed.samples] == [(1, 128, 160, 3)] * 4
    assert all(s.input.dtype == np.uint8 for s in fixed.samples)
    free = load_samples(paths, height=256, progress=False)
    for s in free.samples:
        _, h, w, _ = s.input.shape
        image = cv2.imread(str(s.path))
        assert h == 256 and w % 8 == 0 and w - 8 < round(image.shape[1] * 256 / image.shape[0]) <= w
        assert (s.input[0, :, -1] == PAD_VALUE).all() or w == round(image.shape[1] * 256 / image.shape[0])
    assert len(load_samples(paths, limit=2, progress=False).samples) == 2


def test_coco_images_and_errors(coco_mini_dir, tmp_path):
    items = coco_images(coco_mini_dir / "person_keypoints_mini.json", coco_mini_dir)
    assert items and all(item.path.is_file() and isinstance(item.image_id, int) and item.size[0] > 0 for item in items)
    with pytest.raises(ConversionError, match="not found"):
        coco_images(tmp_path / "none.json", coco_mini_dir)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConversionError, match="not a COCO annotation file"):
        coco_images(tmp_path / "bad.json", coco_mini_dir)
    with pytest.raises(ConversionError, match="image folder not found"):
        folder_images(tmp_path / "nowhere")


def test_coco_images_with_people_counts_only_person_annotations(coco_mini_dir, tmp_path):
    """An image whose only keypoint annotations are of another category (a dog), or a crowd region, has no person to
    calibrate on; coco_images used to count any annotation with keypoints, whatever its category, as a person."""
    ann = json.loads((coco_mini_dir / "person_keypoints_mini.json").read_text())
    ann["categories"].append({"id": 18, "name": "dog", "supercategory": "animal"})
    for a in ann["annotations"]:
        if a["image_id"] == 785:
            a["category_id"] = 18
        if a["image_id"] == 40083:
            a["iscrowd"] = 1
    (tmp_path / "mixed.json").write_text(json.dumps(ann))
    ids = {item.image_id for item in coco_images(tmp_path / "mixed.json", coco_mini_dir)}
    assert ids == {196141, 197388}
    assert {item.image_id for item in coco_images(tmp_path / "mixed.json", coco_mini_dir, with_people=False)} == {
        785, 40083, 196141, 197388}
    for a in ann["annotations"]:
        a["category_id"] = 18
    (tmp_path / "dogs.json").write_text(json.dumps(ann))
    with pytest.raises(ConversionError, match="lists no images with annotated people"):
        coco_images(tmp_path / "dogs.json", coco_mini_dir)


def test_coco_samples_are_read_in_their_annotated_size(coco_mini_dir, half_size_coco_mini, tmp_path):
    """Validation / calibration images of a COCO file stored at another size than annotated (a resized copy) are
    pre-processed in the annotation's pixels, as training and evaluation read them: their letterbox meta maps the
    network's keypoints to the annotation's coordinates (the file's own pixels scored AP 0). A missing file is
    skipped with a reason that says so."""
    ann = coco_mini_dir / "person_keypoints_mini.json"
    full = load_samples(coco_images(ann, coco_mini_dir), height=256, progress=False).samples
    half = load_samples(coco_images(ann, half_size_coco_mini), height=256, progress=False).samples
    assert [s.image_id for s in half] == [s.image_id for s in full]
    for a, b in zip(full, half):
        assert b.input.shape == a.input.shape and b.meta == a.meta
        assert np.abs(b.input.astype(int) - a.input.astype(int)).mean() < 12  # the same picture, a little blurred
    missing = coco_images(ann, coco_mini_dir)[:1] + [coco_images(ann, coco_mini_dir)[0]._replace(
        path=tmp_path / "gone.jpg")]
    loaded = load_samples(missing, height=128, progress=False)
    assert len(loaded.samples) == 1 and loaded.skipped[0][0] == tmp_path / "gone.jpg"
    assert "gone.jpg" in loaded.skipped[0][1] and "No such file" in loaded.skipped[0][1]


@pytest.mark.parametrize("int8, said", [
    ({"method": "accuracy_control", "heads": "int8", "max_drop": 0.01},
     "INT8 (accuracy_control; output heads in float: none, then the layers NNCF reverted to float to keep the AP "
     "drop <= 0.01):"),
    ({"method": "quantize", "heads": "int8"}, "INT8 (quantize; output heads in float: none):"),
    ({"method": "quantize", "heads": "last"}, "INT8 (quantize; output heads in float: the final conv of each output):"),
])
def test_table_says_what_int8_kept_in_float(int8, said):
    """The table used to print 'heads kept in float: int8' (the policy's name), as if something were kept."""
    from convert import format_table

    text = format_table({"name": "m", "input": "dynamic", "int8": {**int8, "float_convolutions": ["conv"]}})
    assert said in text and "convolutions left in float: 1" in text


def test_table_shows_the_int8_settings_and_calibration():
    """The table named the method and heads only: two runs with other presets, ranges, bias correction or
    calibration printed the same INT8 header, so an experimenter's console log could not tell them apart."""
    from convert import format_table

    int8 = {"method": "quantize", "heads": "last", "preset": "performance", "activation_ranges": "mean_minmax",
            "bias_correction": "fast", "float_cpm": False, "float_convolutions": [],
            "calibration": {"images": 5, "skipped": 1, "source": "--calib-synthetic 6", "limit": 300, "seed": 3,
                            "height": 256}}
    text = format_table({"name": "m", "input": "dynamic", "int8": int8})
    assert ("  settings: preset performance, activation ranges mean_minmax, fast bias correction, CPM's last conv in "
            "INT8") in text
    assert ("  calibration: --calib-synthetic 6: 5 images (1 unreadable skipped), at most 300, seed 3, height 256"
            in text)


def test_table_does_not_say_int8_executed_in_bf16():
    """The plugin's precision hint of an INT8 IR (bf16) is that of its float parts only: the table said 'executed
    bf16' for INT8 as if it ran in bf16. report.json keeps the hint under the same key."""
    from convert import format_table

    figures = {"latency_ms_p50": 1.0, "async_fps": 2.0, "input_shape": [1, 256, 456, 3]}
    speed = {"FP32 (default)": {**figures, "execution_precision": "bf16"},
             "INT8 (default)": {**figures, "execution_precision": "bf16"}}
    rows = format_table({"name": "m", "input": "dynamic", "speed": speed}).splitlines()
    assert next(r for r in rows if r.strip().startswith("FP32 (default)")).split()[2] == "bf16"
    assert next(r for r in rows if r.strip().startswith("INT8 (default)")).split()[2] == "int8+bf16"
    assert "(int8+bf16: the INT8 IR's quantized layers run in int8, its float parts in bf16)" in map(str.strip, rows)
