"""Model loading, kind detection, rt_info, reshape per aspect ratio, fidelity and bad model files."""
from __future__ import annotations

import logging
import shutil

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ov_inference import (CorruptModelError, ModelFileError, PoseEstimator, UnsupportedModelError, inspect_model,
                          read_model, read_rt_info)
from ov_inference.adapter import KIND_LWPOSE, KIND_OMZ, model_precision
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


def test_model_precision_from_rt_info_else_from_the_weights(tmp_path, omz_xml):
    assert inspect_model(tiny_pose_model()).precision == "FP32"
    assert inspect_model(tiny_pose_model(rt_info=dict(rt_info_fields(), precision="INT8"))).precision == "INT8"
    assert inspect_model(read_model(omz_xml)).precision == "FP32"  # OMZ: no rt_info, f32 weights
    fp16 = tmp_path / "fp16.xml"
    ov.save_model(tiny_pose_model(rt_info={}), str(fp16), compress_to_fp16=True)
    assert PoseEstimator(fp16).model_precision == "FP16"
    quantized = tiny_pose_model(kind="omz")
    data = quantized.inputs[0].get_node()
    targets = list(data.output(0).get_target_inputs())
    fq = ops.fake_quantize(data, *[ops.constant(np.float32(v)) for v in (0, 255, 0, 255)], 256)
    for target in targets:
        target.replace_source_output(fq.output(0))
    quantized.validate_nodes_and_infer_types()
    assert inspect_model(quantized).precision == "INT8"
    param = ops.parameter([1, 3, 8, 8], ov.Type.f32)
    weights = ops.convert(ops.constant(np.ones((2, 3, 1, 1), np.int8)), ov.Type.f32)  # int8 weight compression
    compressed = ov.Model([ops.convolution(param, weights, [1, 1], [0, 0], [0, 0], [1, 1])], [param])
    assert model_precision(compressed, {}) == "INT8"


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


def test_cache_reads_take_the_lock_the_writers_take():
    """``sizes()`` and ``len()`` wait while another thread holds the cache's lock (a compile or an eviction), so they
    never iterate the ordered dict while ``get`` mutates it."""
    import threading

    cache = PoseEstimator(tiny_pose_model(), input_height=64).cache
    cache.get(64, 64)
    results = []
    with cache._lock:
        readers = [threading.Thread(target=lambda: results.append(cache.sizes())),
                   threading.Thread(target=lambda: results.append(len(cache)))]
        for reader in readers:
            reader.start()
            reader.join(0.2)
        assert results == []                 # both still waiting on the lock
    for reader in readers:
        reader.join(5)
    assert sorted(map(str, results)) == ["1", "[(64, 64)]"]


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


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (3, 2000, 3), (2000, 64, 4), (240, 320), (240, 320, 1),
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

    def fake_decode(heatmaps, pafs, stride=STRIDE, decoder_options=None, valid_size=None):
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


@pytest.mark.parametrize("kwargs, error, message", [
    # accepted before, a 4104 x 6156 (or 100000-high) network input at the first frame
    ({"input_height": 4104}, ValueError, "input_height must be at most 4096"),
    # accepted before, though every command line refuses it (pose_format.input_side_error): one map cell high
    ({"input_height": 8}, ValueError, "input_height must be a multiple of 8 and >= 16, got 8"),
    ({"input_height": 0}, ValueError, "input_height must be a multiple of 8 and >= 16, got 0"),
    # accepted before: every frame shrunk into an 8-pixel-wide input (no poses), or a 1 x 384 frame made 98304 wide
    ({"max_input_width": 0}, ValueError, "max_input_width must be from 8 to 4096"),
    ({"max_input_width": 5}, ValueError, "max_input_width must be from 8 to 4096"),
    ({"max_input_width": 10 ** 9}, ValueError, "max_input_width must be from 8 to 4096"),
    ({"max_input_width": 400.5}, TypeError, "max_input_width must be an integer"),
])
def test_input_sides_are_bounded(kwargs, error, message):
    with pytest.raises(error, match=message):
        PoseEstimator(tiny_pose_model(), **kwargs)


def test_input_height_is_also_a_multiple_of_the_model_stride():
    model = tiny_pose_model(rt_info=dict(rt_info_fields(), stride="16"))
    with pytest.raises(ValueError, match="input_height must be a multiple of the model's stride 16, got 24"):
        PoseEstimator(model, input_height=24)
    assert PoseEstimator(model, input_height=32).input_height == 32


@pytest.mark.parametrize("cache_size", [1.5, "2"])  # 1.5 was accepted, "2" a bare "'<' not supported"
def test_cache_size_must_be_an_integer(cache_size):
    with pytest.raises(TypeError, match="cache_size must be an integer"):
        PoseEstimator(tiny_pose_model(), cache_size=cache_size)


@pytest.mark.parametrize("device", [None, 1, b"CPU", ["CPU"]])  # None ran on OpenVINO's default, 1 a raw signature list
def test_device_must_be_a_string(device):
    with pytest.raises(TypeError, match=r"device must be an OpenVINO device name such as 'CPU'.*, got "):
        PoseEstimator(tiny_pose_model(), device=device)


@pytest.mark.parametrize("device", ["CPU", "AUTO:CPU", "HETERO:CPU", "MULTI:CPU"])
def test_device_strings_reach_openvino(device):
    est = PoseEstimator(tiny_pose_model(), device=device, input_height=64)
    assert est.device == device and len(est(np.zeros((64, 64, 3), np.uint8))) == 0


# -- bad model files ---------------------------------------------------------------------------------------------
def test_missing_xml(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found: .*nope.xml"):
        PoseEstimator(tmp_path / "nope.xml")
    (tmp_path / "ir").mkdir()
    (tmp_path / "ir" / "pose.xml").write_text("<net/>")
    with pytest.raises(ModelFileError, match=r"is a folder, expected the IR's \.xml file \(it holds pose\.xml\)"):
        PoseEstimator(tmp_path / "ir")


def test_an_image_or_video_given_as_the_model_is_named_as_such(tmp_path, capfd):
    """--model and --input swapped: OpenVINO handed the picture to its TensorFlow front end, which printed parse
    errors ('E0000 ... text_format.cc') before the clean error; the file is refused before OpenVINO reads it."""
    for name in ("photo.JPG", "clip.mp4"):
        (tmp_path / name).write_bytes(b"not a model")
        with pytest.raises(ModelFileError, match=rf"model .*{name} is an image or video file, expected the IR's "):
            PoseEstimator(tmp_path / name)
    assert "E0000" not in capfd.readouterr().err


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


@pytest.mark.parametrize("size, height, width", [((250, 167), 128, None),    # shrink, one INTER_AREA step
                                                 ((250, 166), 128, None),    # shrink, integer step first
                                                 ((250, 167), 368, None),    # enlarge
                                                 ((250, 101), 128, 200)])    # a fixed input width decides
def test_letterbox_content_follows_meta_scale_on_both_axes(size, height, width):
    """Input pixel x shows image pixel ``meta.to_image(x)`` on both axes: the content is resized to whole input
    pixels (``round(w * scale) / w`` on x), and ``to_image`` used ``meta.scale`` on both axes, which put keypoints
    mapped back up to half an input pixel off towards the right (or, width-bound, bottom) edge. Seen through a ramp
    whose grey level is the image pixel's coordinate."""
    from pose_format import letterbox

    w, h = size
    for axis in (0, 1):
        ramp = np.broadcast_to(np.arange(w)[None, :] if axis == 0 else np.arange(h)[:, None], (h, w))
        out, meta = letterbox(np.repeat(ramp[..., None], 3, axis=2).astype(np.uint8), height, width)
        cw, ch = meta.content_size
        n = (cw, ch)[axis]
        shown = out[:ch, :cw, 0].astype(np.float64).mean(axis=axis)[n // 2:n - 2]  # right / bottom half
        expected = meta.to_image(np.stack([np.arange(n)] * 2, axis=1))[n // 2:n - 2, axis]
        assert abs((shown - expected).mean()) < 0.15, (axis, (shown - expected).mean())


def test_decoder_options_reach_the_decoder(monkeypatch):
    from ov_inference import DecoderOptions

    opts = DecoderOptions(peak_threshold=0.3, max_peaks_per_type=5)
    est = PoseEstimator(tiny_pose_model(), input_height=64, decoder_options=opts)
    seen = []
    monkeypatch.setattr("ov_inference.estimator.decode_poses",
                        lambda heatmaps, pafs, stride=STRIDE, decoder_options=None, valid_size=None:
                        seen.append(decoder_options) or [])
    assert est(np.zeros((64, 64, 3), np.uint8)) == []
    assert seen == [opts]
    with pytest.raises(TypeError, match="decoder_options must be a DecoderOptions"):  # not at the first frame
        PoseEstimator(tiny_pose_model(), input_height=64, decoder_options={"peak_threshold": 0.3})


# -- model errors that used to surface as raw OpenVINO tracebacks or per-frame errors -----------------------------
def test_unknown_device_is_a_clear_compile_error():
    from ov_inference import ModelCompileError, available_devices

    est = PoseEstimator(tiny_pose_model(), device="FOO", input_height=64)
    with pytest.raises(ModelCompileError) as info:
        est.infer_maps(np.zeros((64, 96, 3), np.uint8))
    message = str(info.value)
    assert "'FOO'" in message and "not registered" in message
    assert "available devices: " + ", ".join(available_devices()) in message and "CPU" in available_devices()
    assert isinstance(info.value, ValueError) and not isinstance(info.value.__cause__, ModelCompileError)


def test_a_precision_hint_given_as_an_openvino_type_is_the_same_hint(caplog):
    import openvino as ov

    with caplog.at_level(logging.WARNING, logger="ov_inference.adapter"):
        est = PoseEstimator(tiny_pose_model(), input_height=64, config={"INFERENCE_PRECISION_HINT": ov.Type.f32})
        est.infer_maps(np.zeros((64, 96, 3), np.uint8))
    assert est.execution_precision == "f32" and "does not execute in" not in caplog.text  # it used to say so


@pytest.mark.parametrize("device", ["AUTO:CPU", "HETERO:CPU"])
def test_virtual_devices_run_and_their_precision_is_unknown(device):
    # AUTO / MULTI / HETERO compile fine but raise for INFERENCE_PRECISION_HINT: the compile's own log line made
    # every frame fail with a raw RuntimeError
    est = PoseEstimator(tiny_pose_model(), device=device, input_height=64, precision="f32")
    heatmaps, pafs, _ = est.infer_maps(np.zeros((64, 96, 3), np.uint8))
    assert heatmaps.shape == (19, 8, 12) and pafs.shape == (38, 8, 12)
    assert est.execution_precision == "unknown"


def test_model_that_cannot_be_reshaped_raises_model_compile_error():
    from ov_inference import ModelCompileError

    est = PoseEstimator(tiny_pose_model(cells_wide=15), input_height=64)       # only inputs 120 pixels wide
    assert est.infer_maps(np.zeros((64, 114, 3), np.uint8))[0].shape == (19, 8, 15)
    with pytest.raises(ModelCompileError, match=r"cannot reshape the lwpose model input to \[1, 64, 64, 3\]"):
        est.infer_maps(np.zeros((64, 64, 3), np.uint8))


# -- the model's stride and pad value drive the pre-processing ----------------------------------------------------
def test_preprocessing_uses_the_models_stride_and_pad_value():
    from ov_inference import letterbox_frame

    frame = np.full((64, 100, 3), 200, np.uint8)
    image, meta = letterbox_frame(frame, 64)                                  # pose_format's 8 and 128
    assert image.shape == (64, 104, 3) and np.all(image[:, 100:] == PAD_VALUE)
    image, meta = letterbox_frame(frame, 64, stride=16, pad_value=0)
    assert image.shape == (64, 112, 3) and meta.input_size == (112, 64)
    assert np.all(image[:, 100:] == 0) and np.all(image[:, :100] == 200)
    with pytest.raises(ValueError, match="multiple of 16"):
        letterbox_frame(frame, 72, stride=16)

    model = tiny_pose_model(stride=16, rt_info=dict(rt_info_fields(), stride="16", pad_value="0"))
    est = PoseEstimator(model, input_height=64, precision="f32")
    assert (est.spec.stride, est.spec.pad_value) == (16, 0)
    inputs, meta = est.preprocess(frame)
    assert inputs["image"].shape == (1, 64, 112, 3) and np.all(inputs["image"][0, :, 100:] == 0)
    heatmaps, pafs, _ = est.infer_maps(frame)
    assert heatmaps.shape == (19, 4, 7) and pafs.shape == (38, 4, 7)
    # the last cell column is 4 frame pixels of 200 and 12 of the model's pad value 0
    np.testing.assert_allclose(heatmaps[0, :, -1], 200 * 4 / 16 / 255, atol=1e-4)
    with pytest.raises(UnsupportedModelError, match="pad_value is 300"):
        inspect_model(tiny_pose_model(rt_info=dict(rt_info_fields(), pad_value="300")))


@pytest.mark.parametrize("key, value", [("stride", "inf"), ("stride", "8.5"), ("pad_value", "-inf"),
                                        ("pad_value", "127.6"), ("stride", "nan"), ("stride", "eight")])
def test_rt_info_numbers_that_are_not_whole_are_unsupported(key, value):
    # "inf" used to escape as OverflowError (a traceback past the CLI's error handling); "8.5" was truncated to 8
    with pytest.raises(UnsupportedModelError, match=f"rt_info\\[{RT_INFO_SECTION}\\]\\[{key}\\].*not a whole number"):
        inspect_model(tiny_pose_model(rt_info=dict(rt_info_fields(), **{key: value})))
    assert inspect_model(tiny_pose_model(rt_info=dict(rt_info_fields(), stride="8.0"))).stride == 8


# -- keypoints found in the letterbox padding --------------------------------------------------------------------
def _spread_person() -> np.ndarray:
    """``[18, 3]`` keypoints (input pixels) of a person spread along a wide, short input: head and arms in rows
    0..26, hips, knees and ankles further down (y 44..60)."""
    xy = {0: (200, 6), 1: (200, 20), 2: (170, 20), 3: (140, 20), 4: (110, 20), 5: (230, 20), 6: (260, 20),
          7: (290, 20), 8: (185, 44), 9: (185, 52), 10: (185, 60), 11: (215, 44), 12: (215, 52), 13: (215, 60),
          14: (190, 4), 15: (210, 4), 16: (180, 6), 17: (220, 6)}
    kp = np.zeros((18, 3), np.float32)
    for k, (x, y) in xy.items():
        kp[k] = (x, y, 2)
    return kp


def test_keypoints_in_the_padding_of_a_1xN_frame_are_dropped():
    """A 2 x 300 frame becomes a 4096 x 64 input whose content is only 27 rows tall (the rest is padding): the
    legs, found in the padding, are dropped as missing keypoints, and the score is that of the person without them."""
    targets = pytest.importorskip("train.targets")
    from ov_inference import decode_poses, letterbox_frame
    from ov_inference.estimator import decode_outputs

    _, meta = letterbox_frame(np.zeros((2, 300, 3), np.uint8), 64)
    assert meta.input_size == (4096, 64) and round(2 * meta.scale) == 27
    legs = [8, 9, 10, 11, 12, 13]
    truth = _spread_person()
    maps = targets.render_heatmaps(truth[None], 8, 512), targets.render_pafs(truth[None], 8, 512)
    (whole,) = decode_poses(*maps)                                            # no valid area: all 18 found
    assert whole.num_keypoints == 18

    (pose,) = decode_outputs(*maps, meta)
    assert pose.num_keypoints == 12 and np.all(pose.keypoints[legs] == 0)
    upper = truth.copy()
    upper[legs] = 0
    (expected,) = decode_poses(targets.render_heatmaps(upper[None], 8, 512),
                               targets.render_pafs(upper[None], 8, 512))
    assert pose.score == pytest.approx(expected.score, rel=1e-5) and pose.score < whole.score
    kept = pose.present
    mapped = expected.to_image(meta).keypoints[kept]
    np.testing.assert_allclose(pose.keypoints[kept, 2], mapped[:, 2])
    np.testing.assert_allclose(pose.keypoints[kept, :2], np.clip(mapped[:, :2], 0, [299, 1]), atol=1e-4)
    assert np.abs(pose.keypoints[kept, :2] - mapped[:, :2]).max() < STRIDE / 2 / meta.scale   # < half a cell


def test_keypoints_within_half_a_cell_of_a_tall_thin_frame_are_kept_and_clipped():
    """A 64 x 10 frame (input 16 x 64, content 10 wide): a keypoint in map column 1 (centre x = 11.5, less than
    half a cell past the content edge 9.5) is kept and clipped to the frame; a person wholly in the padding of a
    wider input is dropped."""
    from ov_inference import DecoderOptions, decode_poses
    from ov_inference.estimator import decode_outputs
    from ov_inference.preprocessing import letterbox_frame

    _, meta = letterbox_frame(np.zeros((64, 10, 3), np.uint8), 64)
    assert meta.input_size == (16, 64)
    heatmaps = np.zeros((19, 8, 2), np.float32)
    heatmaps[0, 1, 1] = heatmaps[14, 3, 1] = heatmaps[15, 5, 0] = 0.9         # three unconnected keypoints
    pafs = np.zeros((38, 8, 2), np.float32)
    opts = DecoderOptions(min_keypoints=1, min_mean_score=0.0)
    poses = decode_outputs(heatmaps, pafs, meta, decoder_options=opts)
    assert len(poses) == 3 and all(p.keypoints[:, 0].max() <= 9 for p in poses)
    # the same maps in a 4-cell-wide input whose content is 1 pixel wide: column 1 is past half a cell, dropped
    _, thin = letterbox_frame(np.zeros((64, 1, 3), np.uint8), 64)
    assert thin.input_size == (8, 64)
    assert [p.num_keypoints for p in decode_outputs(heatmaps, pafs, thin, decoder_options=opts)] == [1]
    assert len(decode_poses(heatmaps, pafs, decoder_options=opts, valid_size=(1.0, 64.0))) == 1


@pytest.mark.parametrize("shape, side", [((20000, 50, 3), "wide"), ((2000, 3, 4), "wide"), ((10, 100000), "high")])
def test_a_frame_thinner_than_one_input_pixel_is_refused(shape, side):
    """A 50 x 20000 frame at input height 256 is 0.64 input pixels wide: its content was stretched to 1 pixel while
    the mapping back still used the height's scale, so every keypoint landed past the frame and was clipped to its
    border. Such a frame is refused with a per-frame error (ValueError) naming it instead."""
    from ov_inference import AsyncPipeline
    from ov_inference.preprocessing import letterbox_frame

    frame = np.zeros(shape, np.uint8)
    with pytest.raises(ValueError, match=rf"frame {shape[1]}x{shape[0]} is too thin: .* under one input pixel {side}"):
        letterbox_frame(frame, 256)
    est = PoseEstimator(tiny_pose_model(), input_height=256)
    (result,) = AsyncPipeline(est).run([(frame, "thin")])
    assert result.error is not None and "too thin" in result.error and result.poses == []


# -- flip test-time augmentation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lwpose", "omz"])
def test_flip_averages_the_frame_and_its_mirror(kind, seed_ir, omz_xml):
    """flip=True runs the frame and its mirror in one batch-2 inference and averages the maps exactly as
    merge_predictions does with two separate inferences (the mirror's maps flipped back)."""
    from ov_inference import AsyncPipeline, merge_predictions

    model = seed_ir if kind == "lwpose" else omz_xml
    rng = np.random.default_rng(5)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (100, 157, 3), dtype=np.uint8), (0, 0), 3)  # content 100 of 104
    plain = PoseEstimator(model, input_height=64, precision="f32")
    flip = PoseEstimator(model, input_height=64, precision="f32", flip=True)
    hm0, pf0, meta = plain.infer_maps(frame)
    hm1, pf1, meta1 = plain.infer_maps(np.ascontiguousarray(frame[:, ::-1]))
    assert meta1.input_size == meta.input_size == (104, 64)
    want_hm, want_pf = merge_predictions([(hm0, pf0, meta, False), (hm1, pf1, meta, True)], meta)
    got_hm, got_pf, _ = flip.infer_maps(frame)
    np.testing.assert_allclose(got_hm, want_hm, atol=1e-4)
    np.testing.assert_allclose(got_pf, want_pf, atol=1e-4)
    assert not np.allclose(got_hm, hm0, atol=1e-3)  # the mirror changed something
    assert list(flip.compiled().inputs[0].get_shape())[0] == 2 and "flip=True" in repr(flip)
    # the async pipeline decodes the same averaged maps
    result = next(iter(AsyncPipeline(flip, num_requests=2).run([(frame, 0)])))
    sync = flip(frame)
    assert len(result.poses) == len(sync)
    for a, b in zip(result.poses, sync):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)


def test_flip_merge_time_is_in_the_sync_decode_timing(monkeypatch):
    """With flip=True a synchronous call's ``decode_ms`` covers outputs -> poses, the merge of the mirrored maps
    included, as :class:`ov_inference.AsyncPipeline`'s ``decode_ms`` does; no step of the call goes untimed."""
    import time

    from ov_inference import tta

    def slow_merge(*args, **kwargs):
        time.sleep(0.05)
        return tta.merge_predictions(*args, **kwargs)

    monkeypatch.setattr("ov_inference.estimator.merge_predictions", slow_merge)
    est = PoseEstimator(tiny_pose_model(), input_height=64, flip=True)
    est(np.zeros((64, 96, 3), np.uint8))
    assert est.last_timings["decode_ms"] >= 50
