"""COCO dataset: crop centres, masks (polygon and RLE), bad images, out-of-image keypoints, augmentation."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from pose_format import FLIP_PERMUTATION_18, LIMBS, NUM_KEYPOINTS, PAD_VALUE, STRIDE, AnnotationFileError, coco17_to_18
from train.augment import AugmentConfig, apply_transform, sample_transform
from train.dataset import CocoPoseDataset, load_coco_records
from train.targets import render_heatmaps

ANN = "person_keypoints_mini.json"


def test_coco_mini_records(coco_mini_dir):
    coco, records, counts = load_coco_records(coco_mini_dir / ANN, coco_mini_dir)
    assert len(records) == 4 and counts["missing_images"] == 0
    n_people = sum(len(r.keypoints) for r in records)
    assert n_people == 12  # every person with keypoints gets targets
    anns = coco.loadAnns(coco.getAnnIds())
    eligible = [a for a in anns if a["num_keypoints"] >= 5 and a["area"] >= 32 ** 2 and not a["iscrowd"]]
    assert sum(len(r.centers) for r in records) == len(eligible)
    assert sum(len(r.ignore_ann_ids) for r in records) == 2  # the two people without keypoints
    rec = next(r for r in records if r.image_id == 785)
    k17 = np.array(coco.loadAnns(coco.getAnnIds(imgIds=785))[0]["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(rec.keypoints[0], coco17_to_18(k17), atol=1e-4)


def test_samples_and_masks(coco_mini_dir):
    ds = CocoPoseDataset(coco_mini_dir / ANN, coco_mini_dir, AugmentConfig(crop_size=128), seed=1)
    assert len(ds) >= 10
    s = ds[0]
    assert s["image"].shape == (3, 128, 128) and s["image"].dtype == np.float32
    assert s["heatmaps"].shape == (19, 16, 16) and s["pafs"].shape == (38, 16, 16) and s["mask"].shape == (1, 16, 16)
    again = ds[0]
    np.testing.assert_array_equal(s["image"], again["image"])  # same seed/epoch/index: same sample
    ds.set_epoch(1)
    assert not np.array_equal(ds[0]["image"], s["image"])
    # the unlabeled person of image 40083 is masked out in image pixels
    rec = next(r for r in ds.records if r.image_id == 40083)
    m = ds.ignore_mask(rec)
    ann = ds.coco.loadAnns(list(rec.ignore_ann_ids))[0]
    region = ds.coco.annToMask(ann).astype(bool)
    assert region.sum() > 100 and np.all(m[region] == 0) and np.all(m[~region] == 1)


def test_indexing_follows_the_sequence_protocol(coco_mini_dir):
    """An index past the end is an IndexError (it wrapped around: ``for sample in dataset`` never ended, and
    ``dataset[len(dataset)]`` returned the first person); a negative index counts from the end, as on a list."""
    ds = CocoPoseDataset(coco_mini_dir / ANN, coco_mini_dir, AugmentConfig(crop_size=32), seed=1)
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(IndexError):
        ds[(0, -len(ds) - 1)]
    np.testing.assert_array_equal(ds[-1]["image"], ds[len(ds) - 1]["image"])
    assert len(list(iter(ds))) == len(ds)


def test_crowd_rle_masked(coco_mini_dir, tmp_path):
    doc = json.loads((coco_mini_dir / ANN).read_text())
    img = doc["images"][0]
    region = np.zeros((img["height"], img["width"]), np.uint8, order="F")
    region[10:60, 20:120] = 1
    rle = mask_utils.encode(region)
    rle["counts"] = rle["counts"].decode()
    doc["annotations"].append({"id": 999999, "image_id": img["id"], "category_id": 1, "iscrowd": 1,
                               "segmentation": rle, "area": float(region.sum()), "bbox": [20, 10, 100, 50],
                               "num_keypoints": 0, "keypoints": [0] * 51})
    (tmp_path / ANN).write_text(json.dumps(doc))
    ds = CocoPoseDataset(tmp_path / ANN, coco_mini_dir, AugmentConfig(crop_size=128))
    rec = next(r for r in ds.records if r.image_id == img["id"])
    assert 999999 in rec.ignore_ann_ids
    m = ds.ignore_mask(rec)
    assert np.all(m[10:60, 20:120] == 0) and m.sum() == m.size - region.sum()


def test_box_only_people_without_keypoints_mask_their_box(coco_mini_dir, tmp_path):
    """A person without keypoints or a crowd that has a bbox but no segmentation (own data, exported as boxes) is
    masked out over its box, the only region known: it was not masked at all, so the loss taught the network that
    the person there is background."""
    doc = json.loads((coco_mini_dir / ANN).read_text())
    img = doc["images"][0]
    base = {"image_id": img["id"], "category_id": 1, "area": 500.0, "num_keypoints": 0}
    doc["annotations"] += [{**base, "id": 900001, "iscrowd": 0, "bbox": [20, 10, 100, 50]},
                           {**base, "id": 900002, "iscrowd": 1, "segmentation": [], "bbox": [200, 100, 30, 40]}]
    (tmp_path / ANN).write_text(json.dumps(doc))
    ds = CocoPoseDataset(tmp_path / ANN, coco_mini_dir, AugmentConfig(crop_size=64))
    assert ds.counts["malformed_annotations"] == 0
    rec = next(r for r in ds.records if r.image_id == img["id"])
    mask = ds.ignore_mask(rec)
    assert np.all(mask[10:60, 20:120] == 0) and np.all(mask[100:140, 200:230] == 0)


def test_malformed_segmentations_are_counted_and_their_bbox_masked(coco_mini_dir, tmp_path, caplog):
    """A bad polygon or RLE of a masked-out person would make pycocotools fail inside a DataLoader worker mid-run:
    it is found while indexing, named, counted, and its bbox masked instead."""
    doc = json.loads((coco_mini_dir / ANN).read_text())
    img = doc["images"][0]
    base = {"image_id": img["id"], "category_id": 1, "area": 500.0, "num_keypoints": 0, "keypoints": [0] * 51}
    doc["annotations"] += [
        {**base, "id": 900001, "iscrowd": 0, "segmentation": [[1, 2, 3, 4]], "bbox": [20, 10, 100, 50]},
        {**base, "id": 900002, "iscrowd": 1, "segmentation": {"counts": "#@!garbage", "size": [img["height"],
                                                                                                img["width"]]},
         "bbox": [200, 100, 30, 40]},
        {**base, "id": 900003, "iscrowd": 1, "segmentation": {"counts": [5, 5], "size": [3, 3]}, "bbox": [0, 0, 0, 0]},
        {**base, "id": 900004, "iscrowd": 1, "segmentation": {"counts": "0", "size": [img["height"], img["width"]]},
         "bbox": [0, 0, 0, 0]},  # pycocotools would decode it into uninitialised memory
    ]
    (tmp_path / ANN).write_text(json.dumps(doc))
    with caplog.at_level(logging.WARNING):
        ds = CocoPoseDataset(tmp_path / ANN, coco_mini_dir, AugmentConfig(crop_size=64))
    assert ds.counts["malformed_annotations"] == 4
    assert all(f"annotation {i} of image {img['id']}" in caplog.text for i in (900001, 900002, 900003, 900004))
    rec = next(r for r in ds.records if r.image_id == img["id"])
    mask = ds.ignore_mask(rec)
    assert np.all(mask[10:60, 20:120] == 0) and np.all(mask[100:140, 200:230] == 0)
    for index, (r, _) in enumerate(ds.samples):  # every sample of that image is made without an error
        if ds.records[r].image_id == img["id"]:
            assert ds[index]["mask"].shape == (1, 8, 8)


def test_missing_and_undecodable_images_are_skipped_and_counted(coco_mini_dir, tmp_path, caplog):
    for name in ("000000000785.jpg", "000000040083.jpg", "000000196141.jpg"):
        shutil.copy(coco_mini_dir / name, tmp_path / name)
    (tmp_path / "000000040083.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    with caplog.at_level(logging.WARNING):
        ds = CocoPoseDataset(coco_mini_dir / ANN, tmp_path, AugmentConfig(crop_size=64))
    assert ds.skipped["missing_images"] == 1 and "000000197388.jpg" in caplog.text
    bad = [i for i, (r, _) in enumerate(ds.samples) if ds.records[r].image_id == 40083]
    assert bad
    with caplog.at_level(logging.WARNING):
        sample = ds[bad[0]]
    assert sample["image_id"] != 40083
    assert ds.skipped["undecodable_images"] >= 1 and "could not be decoded" in caplog.text


def test_out_of_image_keypoints(coco_mini_dir, tmp_path, caplog):
    doc = json.loads((coco_mini_dir / ANN).read_text())
    ann = doc["annotations"][0]
    img = next(i for i in doc["images"] if i["id"] == ann["image_id"])
    ann["keypoints"][0:3] = [img["width"] + 50, -20, 2]  # nose far outside the image
    (tmp_path / ANN).write_text(json.dumps(doc))
    with caplog.at_level(logging.INFO):
        _, records, counts = load_coco_records(tmp_path / ANN, coco_mini_dir)
    assert counts["out_of_image_keypoints"] == 1
    rec = next(r for r in records if r.image_id == ann["image_id"])
    assert rec.keypoints[0, 0, 2] == 0  # treated as not labeled: no target for it
    with pytest.raises(AnnotationFileError, match="annotation file not found"):
        load_coco_records(tmp_path / "absent.json", coco_mini_dir)


def test_keypoints_on_the_last_pixel_are_inside(coco_mini_dir, tmp_path):
    """Pixel centres are at integer coordinates (format.md: cell i covers x = 8 i + 3.5), so the image spans
    [-0.5, w - 0.5): a keypoint between the last pixel's centre and its edge is labeled, one past the edge is not."""
    doc = json.loads((coco_mini_dir / ANN).read_text())
    ann = next(a for a in doc["annotations"] if a["num_keypoints"] >= 5)
    img = next(i for i in doc["images"] if i["id"] == ann["image_id"])
    w, h = img["width"], img["height"]
    ann["keypoints"][0:3] = [w - 0.7, h - 0.6, 2]  # nose on the last pixel column and row
    ann["keypoints"][3:6] = [-0.4, 10, 2]  # left eye on the first column
    ann["keypoints"][6:9] = [w - 0.5, 10, 2]  # right eye on the right edge: outside
    (tmp_path / ANN).write_text(json.dumps(doc))
    _, _, counts = load_coco_records(tmp_path / ANN, coco_mini_dir)
    assert counts["out_of_image_keypoints"] == 1


def test_augmentation_keeps_keypoints_on_their_pixels():
    """A bright dot at a keypoint lands where the transformed keypoint says, for random scale/rotation/flip."""
    rng = np.random.default_rng(0)
    cfg = AugmentConfig(crop_size=96)
    image = np.zeros((200, 300, 3), np.uint8)
    kp = np.zeros((1, NUM_KEYPOINTS, 3), np.float32)
    kp[0, 2] = (150, 80, 2)  # r_shoulder
    image[78:83, 148:153] = 255
    hits = 0
    for _ in range(20):
        matrix, flip = sample_transform(rng, np.array([150.0, 100.0]), 120.0, cfg)
        out, mask, k = apply_transform(image, np.ones((200, 300), np.float32), kp, matrix, flip, cfg.crop_size)
        which = 5 if flip else 2  # a flip turns the right shoulder into a left one
        assert k[0, which, 2] == 2 and k[0, 7 - which, 2] == 0
        x, y = k[0, which, :2]
        if 2 <= x < 94 and 2 <= y < 94:
            assert out[int(round(y)), int(round(x))].max() > 100
            hits += 1
        assert mask.min() >= 0.99  # padding counts as valid background
    assert hits > 5
    # outside the source image the crop is padded with PAD_VALUE (normalizes to 0)
    out, _, _ = apply_transform(image[:40, :40], None, kp, np.array([[1.0, 0, 0], [0, 1.0, 0]]), False, 64)
    assert (out[50:, 50:] == PAD_VALUE).all() and (out[:40, :40] == image[:40, :40]).all()


def test_augmentation_limits():
    rng = np.random.default_rng(1)
    cfg = AugmentConfig(crop_size=64, max_rotation=40, scale_range=(0.5, 1.1))
    for _ in range(50):
        m, _ = sample_transform(rng, np.array([10.0, 10.0]), 100.0, cfg)
        lin = m[:, :2]
        scale = np.sqrt(abs(np.linalg.det(lin)))
        angle = np.degrees(np.arctan2(abs(lin[0, 1]), abs(lin[0, 0])))
        assert 0.6 * 64 * 0.5 / 100 - 1e-9 <= scale <= 0.6 * 64 * 1.1 / 100 + 1e-9
        assert angle <= 40 + 1e-6
    with pytest.raises(ValueError, match="multiple of 8"):
        AugmentConfig(crop_size=100)
    # without augmentation the centre person sits at the crop centre (31.5, 31.5): 4 px from 4 cell centres
    det = AugmentConfig(crop_size=64, enabled=False)
    m, flip = sample_transform(rng, np.array([10.0, 20.0]), 50.0, det)
    kp = np.zeros((1, NUM_KEYPOINTS, 3), np.float32)
    kp[0, 0] = (10, 20, 2)
    _, _, k = apply_transform(np.zeros((40, 40, 3), np.uint8), None, kp, m, flip, 64)
    np.testing.assert_allclose(k[0, 0, :2], (31.5, 31.5), atol=1e-4)
    heat = render_heatmaps(k, 64 // STRIDE, 64 // STRIDE)
    assert heat[0].max() == pytest.approx(np.exp(-(4.0 ** 2 * 2) / 98), abs=1e-4)


def test_images_of_another_size_than_annotated_are_resized_to_their_annotation(coco_mini_dir, tmp_path):
    """A resized copy of the images (annotations unchanged) trains on the same crops and targets: keypoints and
    masks are in the annotation's pixels, so the image is brought to that size, not the other way round."""
    import cv2

    half = tmp_path / "half"
    half.mkdir()
    for src in coco_mini_dir.glob("*.jpg"):
        image = cv2.imread(str(src))
        cv2.imwrite(str(half / src.name), cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                                                     interpolation=cv2.INTER_AREA), [cv2.IMWRITE_JPEG_QUALITY, 95])
    config = AugmentConfig(crop_size=128)
    full = CocoPoseDataset(coco_mini_dir / ANN, coco_mini_dir, config, seed=3)
    small = CocoPoseDataset(coco_mini_dir / ANN, half, config, seed=3)
    for index in range(8):
        a, b = full[index], small[index]
        for key in ("heatmaps", "pafs", "mask"):
            np.testing.assert_array_equal(a[key], b[key])
        # the same content, only softer (half the resolution), so alike once blurred (<= 0.005 measured; a crop
        # taken at the annotation's coordinates in the smaller image: >= 0.05)
        blurred = [cv2.GaussianBlur(x["image"].transpose(1, 2, 0), (0, 0), 2) for x in (a, b)]
        assert np.abs(blurred[0] - blurred[1]).mean() < 0.015, index


def test_flipped_samples_mirror_image_mask_and_targets(coco_mini_dir):
    """The same draw with and without the flip: the flipped sample is the mirror image of the other, with its
    crowd / no-keypoint mask mirrored too, left/right heatmap channels swapped, and each limb's PAF that of its
    mirror limb with x negated (so a limb's field still points from its first keypoint to its second)."""
    kw = dict(crop_size=64, center_jitter=8.0)
    plain = CocoPoseDataset(coco_mini_dir / ANN, coco_mini_dir, AugmentConfig(flip_prob=0.0, **kw), seed=2)
    flipped = CocoPoseDataset(coco_mini_dir / ANN, coco_mini_dir, AugmentConfig(flip_prob=1.0, **kw), seed=2)
    masked = [i for i, (r, _) in enumerate(plain.samples) if plain.records[r].ignore_ann_ids]
    perm = list(FLIP_PERMUTATION_18) + [NUM_KEYPOINTS]
    mirror = [LIMBS.index((FLIP_PERMUTATION_18[a], FLIP_PERMUTATION_18[b])) for a, b in LIMBS]
    assert masked
    for index in masked:
        s, f = plain[index], flipped[index]
        np.testing.assert_array_equal(f["image"], s["image"][:, :, ::-1])
        np.testing.assert_array_equal(f["mask"], s["mask"][:, :, ::-1])
        np.testing.assert_allclose(f["heatmaps"], s["heatmaps"][perm][:, :, ::-1], atol=1e-4)
        np.testing.assert_allclose(f["pafs"][0::2], -s["pafs"][0::2][mirror][:, :, ::-1], atol=1e-4)
        np.testing.assert_allclose(f["pafs"][1::2], s["pafs"][1::2][mirror][:, :, ::-1], atol=1e-4)
    assert min(plain[i]["mask"].min() for i in masked) < 1  # a masked region is in some crop
