"""Model loading, kind detection, rt_info, reshape per aspect ratio, fidelity and bad model files."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from ov_inference import (CorruptModelError, ModelFileError, PoseEstimator, UnsupportedModelError, inspect_model,
                          read_model, read_rt_info)
from ov_inference.adapter import KIND_LWPOSE, KIND_OMZ
from pose_format import PAD_VALUE, RT_INFO_SECTION, STRIDE, rt_info_fields
from test_runtime_support import not_a_pose_model, save, tiny_pose_model


@pytest.fixture(scope="session")
def seed_ir(tmp_path_factory, seed_dir):
    """This project's IR (FP32, dynamic H/W) converted from the published-layout fixture checkpoint."""
    convert = pytest.importorskip("convert")
    out = tmp_path_factory.mktemp("seed_ir") / "seed.xml"
    return convert.checkpoint_to_ir(seed_dir / "checkpoint.pth", out)


@pytest.fixture(scope="module")
def omz_estimator(omz_xml):
    return PoseEstimator(omz_xml, input_height=128)


# -- kinds and rt_info -------------------------------------------------------------------------------------------
def test_omz_ir_is_recognised(omz_xml):
    spec = inspect_model(read_model(omz_xml))
    assert spec.kind == KIND_OMZ and spec.layout == "NCHW" and spec.input_name == "data"
    assert spec.static_size == (256, 456)
    assert (spec.heatmaps_index, spec.pafs_index) == (1, 0)  # Mconv7_stage2_L2 / L1, told apart by channels
    assert spec.rt_info == {}


def test_project_ir_kind_and_rt_info_round_trip(seed_ir):
    model = read_model(seed_ir)
    spec = inspect_model(model)
    assert spec.kind == KIND_LWPOSE and spec.layout == "NHWC" and spec.input_dtype == np.uint8
    rt = read_rt_info(model)
    for key, value in rt_info_fields().items():
        if key != "package_version":
            assert rt[key] == value, key
    assert rt["precision"] == "FP32" and len(rt["source_sha256"]) == 64
    assert model.get_rt_info([RT_INFO_SECTION, "stride"]).astype(str) == str(STRIDE)


def test_outputs_found_by_channel_count_and_rt_info_optional():
    model = tiny_pose_model(rt_info={})
    spec = inspect_model(model)
    assert spec.kind == KIND_LWPOSE and spec.rt_info == {} and spec.stride == STRIDE and spec.pad_value == PAD_VALUE
    renamed = tiny_pose_model()
    for out in renamed.outputs:
        out.get_tensor().set_names({f"out_{out.get_partial_shape()[1]}"})
    spec = inspect_model(renamed)
    assert (spec.heatmaps_index, spec.pafs_index) == (0, 1)


def test_rt_info_stride_is_read_back():
    model = tiny_pose_model(rt_info=dict(rt_info_fields(), stride="16"))
    assert inspect_model(model).stride == 16


# -- reshape ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frame_hw, input_w", [((720, 1280), 232), ((480, 640), 176), ((1000, 500), 64),
                                                ((128, 128), 128)])
def test_omz_reshapes_to_each_aspect_ratio(omz_estimator, frame_hw, input_w):
    frame = np.full((*frame_hw, 3), 90, np.uint8)
    heatmaps, pafs, meta = omz_estimator.infer_maps(frame)
    assert meta.input_size == (input_w, 128)
    assert heatmaps.shape == (19, 128 // STRIDE, input_w // STRIDE)
    assert pafs.shape == (38, 128 // STRIDE, input_w // STRIDE)
    assert heatmaps.dtype == np.float32 and np.isfinite(heatmaps).all()


def test_compiles_once_per_input_size_and_evicts_lru():
    est = PoseEstimator(tiny_pose_model(), input_height=64, cache_size=2)
    frames = [np.zeros((64, 96, 3), np.uint8), np.zeros((64, 96, 3), np.uint8), np.zeros((64, 64, 3), np.uint8),
              np.zeros((64, 96, 3), np.uint8), np.zeros((64, 160, 3), np.uint8)]
    for frame in frames:
        est.infer_maps(frame)
    assert est.cache.compiles == 3           # 96, 64, 160 wide; the repeats hit the cache
    assert est.cache.sizes() == [(64, 96), (64, 160)]


# -- what the estimator feeds and returns ------------------------------------------------------------------------
def test_inputs_per_kind(omz_estimator):
    frame = np.random.default_rng(0).integers(0, 255, (100, 155, 3), dtype=np.uint8)  # -> 198 wide, padded to 200
    inputs, meta = omz_estimator.preprocess(frame)
    tensor = inputs["data"]
    assert tensor.dtype == np.float32 and tensor.shape == (1, 3, 128, 200)
    assert np.all(tensor[0, :, :, meta.input_size[0] - 1] == PAD_VALUE)  # padded with raw 128 (normalizes to 0)
    ours = PoseEstimator(tiny_pose_model(), input_height=128)
    inputs, meta2 = ours.preprocess(frame)
    assert inputs["image"].dtype == np.uint8 and inputs["image"].shape == (1, 128, 200, 3)
    assert np.array_equal(inputs["image"][0].transpose(2, 0, 1), tensor[0].astype(np.uint8))
    assert meta2 == meta


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (3, 2000, 3), (2000, 3, 4), (240, 320), (240, 320, 1),
                                   (240, 320, 4), (3000, 4000, 3)])
def test_any_frame_size_and_channels(shape):
    est = PoseEstimator(tiny_pose_model(), input_height=64, precision="f32")  # exact maps also on bf16 CPUs
    frame = np.full(shape, 200, np.uint8)
    heatmaps, pafs, meta = est.infer_maps(frame)
    assert meta.image_size == (shape[1], shape[0])
    assert meta.input_size[1] == 64 and meta.input_size[0] % STRIDE == 0 and meta.input_size[0] <= est.max_input_width
    assert heatmaps.shape[1:] == pafs.shape[1:] == (64 // STRIDE, meta.input_size[0] // STRIDE)
    # heatmap channel 0 of the tiny model is each 8x8 cell's mean intensity / 255: the maps are of this input
    image = est.preprocess(frame)[0]["image"][0].astype(np.float64)
    cells = image.reshape(8, STRIDE, -1, STRIDE, 3).mean(axis=(1, 3, 4)) / 255
    np.testing.assert_allclose(heatmaps[0], cells, atol=1e-4)
    assert image[0, 0, 0] == 200
    assert isinstance(est(frame), list)


def test_poses_come_back_in_frame_pixels(monkeypatch):
    from ov_inference import Pose

    est = PoseEstimator(tiny_pose_model(), input_height=64)
    captured = {}

    def fake_decode(heatmaps, pafs, stride=STRIDE, decoder_options=None):
        captured["shape"] = heatmaps.shape
        captured["options"] = decoder_options
        kpts = np.zeros((18, 3), np.float32)
        kpts[0] = (3.5, 3.5, 0.9)     # centre of map cell (0, 0) in input pixels
        kpts[1] = (63.5, 31.5, 0.8)
        return [Pose(kpts, 1.0)]

    monkeypatch.setattr("ov_inference.estimator.decode_poses", fake_decode)
    frame = np.zeros((128, 256, 3), np.uint8)   # scale 0.5 -> input 64 x 128
    (pose,) = est(frame)
    assert captured["shape"] == (19, 8, 16)
    assert captured["options"] is None  # decoder defaults
    np.testing.assert_allclose(pose.keypoints[0, :2], [7.5, 7.5])      # (x + 0.5) / 0.5 - 0.5
    np.testing.assert_allclose(pose.keypoints[1, :2], [127.5, 63.5])
    assert set(est.last_timings) == {"preprocess_ms", "infer_ms", "decode_ms"}


def test_fidelity_project_ir_reproduces_expected_maps(seed_ir, seed_dir):
    expected = np.load(seed_dir / "expected.npz")
    image = cv2.imread(str(seed_dir / "input.png"), cv2.IMREAD_COLOR)
    est = PoseEstimator(seed_ir, input_height=image.shape[0], precision="f32")
    heatmaps, pafs, meta = est.infer_maps(image)
    assert est.execution_precision == "f32"
    assert meta.scale == 1.0 and meta.input_size == (image.shape[1], image.shape[0])
    np.testing.assert_allclose(heatmaps, expected["heatmaps"][0], atol=1e-4)
    np.testing.assert_allclose(pafs, expected["pafs"][0], atol=1e-4)


def test_precision_choice_and_report(omz_xml):
    est = PoseEstimator(omz_xml, input_height=64, precision="f32")
    assert est.execution_precision == "f32"
    assert PoseEstimator(omz_xml, input_height=64).execution_precision in ("f32", "bf16", "f16")
    with pytest.raises(ValueError, match="precision"):
        PoseEstimator(omz_xml, precision="int4")
    with pytest.raises(ValueError, match="multiple of 8"):
        PoseEstimator(omz_xml, input_height=100)


# -- bad model files ---------------------------------------------------------------------------------------------
def test_missing_xml(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found: .*nope.xml"):
        PoseEstimator(tmp_path / "nope.xml")


def test_missing_bin(tmp_path, omz_xml):
    xml = tmp_path / "m.xml"
    shutil.copy(omz_xml, xml)
    with pytest.raises(ModelFileError, match=r"weights file not found: .*m\.bin"):
        PoseEstimator(xml)


def test_corrupt_xml(tmp_path, omz_xml):
    xml = tmp_path / "m.xml"
    xml.write_bytes(omz_xml.read_bytes()[:3000])
    shutil.copy(omz_xml.with_suffix(".bin"), tmp_path / "m.bin")
    with pytest.raises(CorruptModelError, match=r"cannot read model .*m\.xml"):
        PoseEstimator(xml)


def test_truncated_bin(tmp_path, omz_xml):
    xml = tmp_path / "m.xml"
    shutil.copy(omz_xml, xml)
    (tmp_path / "m.bin").write_bytes(omz_xml.with_suffix(".bin").read_bytes()[:1000])
    with pytest.raises(CorruptModelError):
        PoseEstimator(xml)


def test_not_a_pose_model(tmp_path):
    xml = save(not_a_pose_model(), tmp_path / "classifier.xml")
    with pytest.raises(UnsupportedModelError) as info:
        PoseEstimator(xml)
    message = str(info.value)
    assert "heatmaps" in message and "Mconv7_stage2_L1" in message      # what was expected
    assert "image u8 [1,32,32,3]" in message                           # what was found


def test_wrong_channel_counts_and_f32_without_preprocessing():
    with pytest.raises(UnsupportedModelError, match="PAF-like"):
        inspect_model(tiny_pose_model(paf_channels=20))
    with pytest.raises(UnsupportedModelError, match="pre-processing"):
        inspect_model(tiny_pose_model("omz", input_name="image"))
    with pytest.raises(UnsupportedModelError, match="model_type"):
        inspect_model(tiny_pose_model(rt_info={"model_type": "yolo"}))


def test_model_argument_type():
    with pytest.raises(TypeError, match="path to an .xml"):
        PoseEstimator(42)


def test_letterbox_shrink_matches_inter_area(coco_mini_dir):
    """pose_format.letterbox shrinks in two fast steps (integer INTER_AREA, then INTER_LINEAR); same picture."""
    from pose_format import letterbox

    photo = cv2.imread(str(sorted(coco_mini_dir.glob("*.jpg"))[0]))
    frame = cv2.resize(photo, (1280, 720), interpolation=cv2.INTER_CUBIC)
    out, meta = letterbox(frame, 256)
    reference = cv2.resize(frame, (455, 256), interpolation=cv2.INTER_AREA).astype(np.float64)
    assert out.shape == (256, 456, 3) and meta.input_size == (456, 256)
    assert np.abs(out[:, :455] - reference).mean() < 1.0
    assert np.all(out[:, 455:] == PAD_VALUE)


def test_decoder_options_reach_the_decoder(monkeypatch):
    from ov_inference import DecoderOptions

    opts = DecoderOptions(peak_threshold=0.3, max_peaks_per_type=5)
    est = PoseEstimator(tiny_pose_model(), input_height=64, decoder_options=opts)
    seen = []
    monkeypatch.setattr("ov_inference.estimator.decode_poses",
                        lambda heatmaps, pafs, stride=STRIDE, decoder_options=None: seen.append(decoder_options) or [])
    assert est(np.zeros((64, 64, 3), np.uint8)) == []
    assert seen == [opts]
