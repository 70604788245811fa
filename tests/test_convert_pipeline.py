"""python -m convert end to end (small static shape, tiny calibration), its report, and bad input."""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
import onnx
import openvino as ov
import pytest
import torch

from pose_format import IR_HEATMAPS_NAME, IR_PAFS_NAME

import convert.leftovers
import convert.pipeline
from convert import ConvertOptions, cpm_output_convolution, head_convolutions, layer_profile, run_conversion
from ov_inference import read_rt_info
from ov_inference.adapter import get_core
from convert.__main__ import main

H, W = 128, 160


def _ops(model) -> set[str]:
    return {op.get_type_name() for op in model.get_ops()}


def _no_staging_left(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if ".staging-" in p.name]


@pytest.fixture(scope="module")
def converted(seed_dir, coco_mini_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("conv") / "out"
    rc = main(["--checkpoint", str(seed_dir / "checkpoint.pth"), "--output-dir", str(out), "--name", "seed",
               "--precision", "FP32", "FP16", "INT8", "--height", str(H), "--width", str(W),
               "--calib-images", str(coco_mini_dir), "--int8-heads", "last", "--verify-images", str(coco_mini_dir),
               "--min-peak-f1", "0",  # random weights: INT8 peaks need not agree (the budget is tested below)
               "--bench-seconds", "0.2", "--quiet"])
    assert rc == 0
    return out


def test_outputs_and_rt_info(converted, seed_dir, coco_mini_dir):
    core = get_core()
    for precision in ("FP32", "FP16", "INT8"):
        model = core.read_model(converted / precision / "seed.xml")
        assert list(model.inputs[0].get_shape()) == [1, H, W, 3]
        assert list(model.output(IR_HEATMAPS_NAME).get_shape()) == [1, 19, H // 8, W // 8]
        assert list(model.output(IR_PAFS_NAME).get_shape()) == [1, 38, H // 8, W // 8]
        info = read_rt_info(model)
        assert info["precision"] == precision
        assert info["model_type"] == "lightweight_openpose"
        assert len(info["source_sha256"]) == 64
    int8 = core.read_model(converted / "INT8" / "seed.xml")
    assert "FakeQuantize" in _ops(int8)
    assert "FakeQuantize" not in _ops(core.read_model(converted / "FP32" / "seed.xml"))
    info = read_rt_info(int8)
    assert info["int8_heads"] == "last"
    # the IR says how it was quantized, enough to repeat it without its report (it used to give the heads only)
    assert {k: info[f"int8_{k}"] for k in ("method", "preset", "model_type", "float_cpm", "activation_ranges",
                                            "bias_correction", "float_convolutions")} == {
        "method": "quantize", "preset": "mixed", "model_type": "cnn", "float_cpm": "True",
        "activation_ranges": "minmax", "bias_correction": "full", "float_convolutions": "3"}
    assert info["int8_calibration"] == (f"--calib-images {coco_mini_dir}: 4 images (0 unreadable skipped), "
                                        f"at most 300, seed 1, height {H}")
    # the final conv of each output kept in float: no FakeQuantize feeds it
    for name in head_convolutions(int8, 1):
        conv = next(op for op in int8.get_ops() if op.get_friendly_name() == name)
        assert all(conv.input_value(i).get_node().get_type_name() != "FakeQuantize" for i in range(2))
    assert _no_staging_left(converted.parent)


def test_onnx_file(converted):
    model = onnx.load(str(converted / "seed.onnx"))
    onnx.checker.check_model(model)
    assert [o.name for o in model.graph.output] == [IR_HEATMAPS_NAME, IR_PAFS_NAME]
    assert model.graph.input[0].name == "image"
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17


def test_report(converted, coco_mini_dir):
    report = json.loads((converted / "report.json").read_text())
    fid = report["fidelity"]
    assert fid["count"] == 4
    for key in ("torch_vs_onnx", "torch_vs_ir_fp32", "onnx_vs_ir_fp32"):
        assert 0 <= fid[key] < 1e-4, key
    assert 0 < fid["fp16_vs_fp32"] < 1e-2
    agree = report["int8"]["agreement"]
    assert 0 < agree["heatmaps_mean_abs"] <= agree["heatmaps_max_abs"]
    assert 0 <= agree["peak_f1"] <= 1
    assert report["int8"]["calibration"] == {"images": 4, "skipped": 0, "source": f"--calib-images {coco_mini_dir}",
                                             "limit": 300, "seed": 1, "height": H}
    assert (report["int8"]["preset"], report["int8"]["model_type"], report["int8"]["ignored"]) == ("mixed", "cnn", [])
    # the defaults: the CPM's last convolution in float, so min-max activation ranges, full bias correction
    assert report["int8"]["float_cpm"] is True and len(report["int8"]["float_convolutions"]) == 3  # + heads last
    assert (report["int8"]["activation_ranges"], report["int8"]["bias_correction"]) == ("minmax", "full")
    assert set(report["speed"]) == {"FP32 (f32)", "FP32 (default)", "FP16 (default)", "INT8 (default)"}
    assert report["speed"]["FP32 (f32)"]["execution_precision"] == "f32"
    assert all(s["async_fps"] > 0 and s["latency_ms_p50"] > 0 for s in report["speed"].values())


def test_layer_profile_shows_int8_kernels(converted):
    core = get_core()
    fp32 = layer_profile(core.read_model(converted / "FP32" / "seed.xml"), precision_hint="f32", runs=3)
    int8 = layer_profile(core.read_model(converted / "INT8" / "seed.xml"), runs=3)
    assert fp32.execution_precision == "f32"
    assert fp32.by_type["Convolution"] > 0 and int8.by_type["Convolution"] > 0
    assert fp32.total_ms == pytest.approx(sum(fp32.by_type.values()))
    # the f32 model's convolutions run float kernels; the INT8 model's run integer ones
    assert not any("I8" in k or "u8" in k.lower() for k in fp32.kernels)
    assert any("I8" in k or "u8" in k.lower() for k in int8.kernels), int8.kernels


def test_onnx_source_all_stages_synthetic_calibration_accuracy_control(converted, coco_mini_dir, tmp_path, seed_dir):
    # an all-stages ONNX export: the IR still exposes the last stage only, named heatmaps / pafs
    from convert import export_onnx, load_network

    net = load_network(seed_dir / "checkpoint.pth")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_onnx(net, tmp_path / "all.onnx", height=H, width=W, all_stages=True)
    # torch's internal pytree deprecation is not the user's business
    assert not [w for w in caught if "LeafSpec" in str(w.message)]
    assert [o.name for o in onnx.load(str(path)).graph.output] == [
        "stage0_heatmaps", "stage0_pafs", IR_HEATMAPS_NAME, IR_PAFS_NAME]
    out = tmp_path / "ac"
    report = run_conversion(ConvertOptions(
        output_dir=out, onnx=path, precisions=("FP32", "INT8"), height=H, width=W,
        calib_synthetic=3, accuracy_control=True, max_drop=0.01, activation_ranges="histogram",
        fast_bias_correction=True, val_ann=coco_mini_dir / "person_keypoints_mini.json", val_images=coco_mini_dir,
        bench_seconds=0, progress=False))
    assert report["source"]["kind"] == "onnx"
    assert "torch_vs_onnx" not in report["fidelity"] and report["fidelity"]["onnx_vs_ir_fp32"] < 1e-4
    assert report["int8"]["method"] == "accuracy_control"
    assert (report["int8"]["activation_ranges"], report["int8"]["bias_correction"]) == ("histogram", "fast")
    assert report["int8"]["calibration"]["images"] == 3  # generated synthetic people
    assert read_rt_info(get_core().read_model(out / "INT8" / "all.xml"))["int8_method"] == "accuracy_control"
    assert set(report["ap"]) == {"images", "FP32", "INT8"} and report["ap"]["images"] == 4
    model = get_core().read_model(out / "INT8" / "all.xml")
    assert [o.get_any_name() for o in model.outputs] == [IR_HEATMAPS_NAME, IR_PAFS_NAME]


def _activation_ranges(model) -> dict[str, float]:
    """Width (input_high - input_low) of every activation FakeQuantize of ``model``, by its friendly name."""
    widths = {}
    for op in model.get_ops():
        if op.get_type_name() == "FakeQuantize" and op.input_value(0).get_node().get_type_name() != "Constant":
            low, high = (op.input_value(i).get_node().get_data() for i in (1, 2))
            widths[op.get_friendly_name()] = float(np.max(high - low))
    return widths


def test_minmax_activation_ranges_cover_the_nncf_default(converted, coco_mini_dir):
    """``minmax`` sets each activation range from the extremes over all calibration images; NNCF's default
    (``mean_minmax``) from the mean of each image's extremes, so it can only be narrower: it clips the strongest
    responses, which in a pose network are the confident keypoint peaks."""
    from convert import QuantizeOptions, folder_images, load_samples, quantize_int8

    fp32 = get_core().read_model(converted / "FP32" / "seed.xml")
    calib = load_samples(folder_images(coco_mini_dir), height=H, width=W, progress=False).inputs()
    widths = {ranges: _activation_ranges(quantize_int8(fp32, calib, QuantizeOptions(activation_ranges=ranges)))
              for ranges in ("minmax", "mean_minmax")}
    assert widths["minmax"].keys() == widths["mean_minmax"].keys() and len(widths["minmax"]) > 20
    narrower = [name for name, w in widths["minmax"].items() if w < widths["mean_minmax"][name] * 0.99]
    wider = [name for name, w in widths["minmax"].items() if w > widths["mean_minmax"][name] * 1.01]
    assert not narrower and wider
    # the normalized input, (pixel - 128) / 256: its range is exactly the pixels' over all images, or their mean
    (first,) = [name for name in widths["minmax"] if name.startswith("Divide")]
    lows, highs = np.array([x.min() for x in calib], float), np.array([x.max() for x in calib], float)
    assert widths["minmax"][first] == pytest.approx((highs.max() - lows.min()) / 256, rel=0.01)
    assert widths["mean_minmax"][first] == pytest.approx((highs.mean() - lows.mean()) / 256, rel=0.01)


def test_quantize_options_are_checked():
    from convert import ConversionError, QuantizeOptions

    with pytest.raises(ConversionError, match="unknown activation_ranges 'mean'; choose from auto, minmax, "):
        QuantizeOptions(activation_ranges="mean")
    # auto: min-max ranges only with the CPM convolution in float (quantized, its input's outliers stretch them)
    assert QuantizeOptions().ranges == "minmax" and QuantizeOptions().float_cpm
    assert QuantizeOptions(float_cpm=False).ranges == "mean_minmax"
    assert QuantizeOptions(float_cpm=False, activation_ranges="histogram").ranges == "histogram"


def test_fidelity_failure_writes_nothing(seed_dir, coco_mini_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(convert.pipeline, "FP32_TOLERANCE", 1e-12)
    out = tmp_path / "out"
    rc = main(["--checkpoint", str(seed_dir / "checkpoint.pth"), "--output-dir", str(out), "--precision", "FP32",
               "--height", str(H), "--width", str(W), "--verify-images", str(coco_mini_dir), "--bench-seconds", "0",
               "--quiet"])
    assert rc == 2
    assert not out.exists() and _no_staging_left(tmp_path)


def _run(tmp_path, *extra):
    return main(["--output-dir", str(tmp_path / "out"), "--bench-seconds", "0", "--quiet", *map(str, extra)])


def test_missing_and_corrupt_checkpoint(tmp_path, caplog):
    assert _run(tmp_path, "--checkpoint", tmp_path / "missing.pth") == 1
    assert "not found" in caplog.text
    assert _run(tmp_path, "--checkpoint", tmp_path) == 1
    assert f"checkpoint {tmp_path}: is a folder, expected a checkpoint" in caplog.text
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00garbage")
    assert _run(tmp_path, "--checkpoint", bad) == 1
    assert "bad.pth" in caplog.text
    assert not (tmp_path / "out").exists() and _no_staging_left(tmp_path)


def test_other_architecture(tmp_path, caplog):
    path = tmp_path / "resnet_like.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.bias": torch.zeros(2)}}, path)
    assert _run(tmp_path, "--checkpoint", path) == 1
    assert "conv1.weight" in caplog.text
    assert not (tmp_path / "out").exists() and _no_staging_left(tmp_path)


def test_empty_calibration_folder(seed_dir, tmp_path, caplog):
    (tmp_path / "empty").mkdir()
    assert _run(tmp_path, "--checkpoint", seed_dir / "checkpoint.pth", "--precision", "INT8",
                "--calib-images", tmp_path / "empty") == 1
    assert "no images" in caplog.text
    assert not (tmp_path / "out").exists() and _no_staging_left(tmp_path)


def test_unreadable_calibration_images(seed_dir, coco_mini_dir, tmp_path, caplog):
    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "broken.jpg").write_bytes(b"not a jpeg")
    (calib / "empty.png").write_bytes(b"")
    assert _run(tmp_path, "--checkpoint", seed_dir / "checkpoint.pth", "--precision", "INT8",
                "--calib-images", calib) == 1
    assert "none of the 2 calibration images could be read" in caplog.text
    assert not (tmp_path / "out").exists()
    # with one good image the broken ones are skipped and counted
    img = cv2.imread(str(next(coco_mini_dir.glob("*.jpg"))))
    cv2.imwrite(str(calib / "good.jpg"), img)
    report = run_conversion(ConvertOptions(output_dir=tmp_path / "out", checkpoint=seed_dir / "checkpoint.pth",
                                           precisions=("INT8",), height=H, width=W, calib_images=calib,
                                           int8_heads="int8", bench_seconds=0, progress=False))
    assert (report["int8"]["calibration"]["images"], report["int8"]["calibration"]["skipped"]) == (1, 2)
    assert (tmp_path / "out" / "INT8" / "checkpoint.xml").is_file()
    assert not (tmp_path / "out" / "FP32").exists()


def _small(seed_dir, out, name, *precisions, **extra):
    return run_conversion(ConvertOptions(output_dir=out, checkpoint=seed_dir / "checkpoint.pth", name=name,
                                         precisions=precisions, height=H, width=W, bench_seconds=0, progress=False,
                                         **extra))


def test_api_takes_str_paths(seed_dir, tmp_path):
    """ConvertOptions paths may be str, as in the README's API example: an ONNX source given as a str used to fail
    with AttributeError at the very end, after the whole conversion."""
    _small(seed_dir, tmp_path / "a", "a", "FP32")
    report = run_conversion(ConvertOptions(output_dir=str(tmp_path / "b"), onnx=str(tmp_path / "a" / "a.onnx"),
                                           precisions=("FP32",), verify_images=str(seed_dir), bench_seconds=0,
                                           progress=False))
    assert report["source"]["kind"] == "onnx" and (tmp_path / "b" / "FP32" / "a.xml").is_file()


def test_second_conversion_keeps_other_models_and_drops_stale_files(seed_dir, tmp_path):
    out = tmp_path / "out"
    _small(seed_dir, out, "a", "FP32", "FP16")
    _small(seed_dir, out, "b", "FP32")
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {"FP32/a.xml", "FP32/a.bin", "FP16/a.xml", "FP16/a.bin", "a.onnx", "FP32/b.xml", "FP32/b.bin",
            "b.onnx", "report.json"} == files
    assert json.loads((out / "report.json").read_text())["name"] == "b"
    # converting "a" again with fewer precisions removes a's FP16 IR of the earlier run, keeps b
    _small(seed_dir, out, "a", "FP32")
    assert not (out / "FP16").exists()  # nor an empty FP16 folder
    assert (out / "FP32" / "a.xml").is_file() and (out / "FP32" / "b.xml").is_file()
    assert _no_staging_left(tmp_path)


def test_unsafe_checkpoint_needs_the_flag(seed_dir, tmp_path, caplog):
    import numpy as np

    ckpt = torch.load(seed_dir / "checkpoint.pth", map_location="cpu", weights_only=True)
    path = tmp_path / "with_numpy.pth"
    torch.save({**ckpt, "best_ap": np.float64(0.5)}, path)  # a numpy scalar: weights_only=True refuses it
    common = ["--checkpoint", path, "--precision", "FP32", "--height", H, "--width", W]
    assert _run(tmp_path, *common) == 1
    assert "--allow-unsafe-checkpoint" in caplog.text
    assert not (tmp_path / "out").exists()
    assert _run(tmp_path, *common, "--allow-unsafe-checkpoint") == 0
    assert (tmp_path / "out" / "FP32" / "with_numpy.xml").is_file()


def test_int8_outside_budget_is_written_and_exits_3(seed_dir, coco_mini_dir, tmp_path, monkeypatch, capsys,
                                                    caplog):
    from dataclasses import replace as dc_replace

    real = convert.pipeline.agreement
    monkeypatch.setattr(convert.pipeline, "agreement", lambda *a, **k: dc_replace(real(*a, **k), peak_f1=0.0))
    rc = _run(tmp_path, "--checkpoint", seed_dir / "checkpoint.pth", "--precision", "INT8", "--height", H,
              "--width", W, "--calib-images", coco_mini_dir, "--int8-heads", "int8", "--no-int8-float-cpm")
    assert rc == 3
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["int8"]["within_budget"] is False and report["int8"]["budget"] == "peak F1 >= 0.9"
    assert report["int8"]["float_convolutions"] == []  # heads=int8, CPM too: every convolution quantized
    assert report["int8"]["activation_ranges"] == "mean_minmax"  # auto, with the CPM quantized
    assert "NOT MET" in capsys.readouterr().out
    assert (tmp_path / "out" / "INT8" / "checkpoint.xml").is_file()
    advice = [r.getMessage() for r in caplog.records if "outside the accuracy budget" in r.getMessage()][0]
    assert str(tmp_path / "out" / "INT8" / "checkpoint.xml") in advice and "try --int8-heads heads" in advice
    assert "--int8-float-cpm" in advice  # the CPM convolution was quantized
    assert "--accuracy-control" not in advice  # no validation set: accuracy control cannot run


@pytest.mark.parametrize("args, message", [
    (["--precision", "INT8"], "INT8 needs one calibration source"),
    (["--precision", "INT8", "--calib-synthetic", "0"], "--calib-synthetic must be >= 1"),
    (["--min-peak-f1", "1.5"], "--min-peak-f1"),
    (["--height", "256"], "both --height and --width"),
    (["--height", "100", "--width", "160"], "multiple of 8"),
    (["--accuracy-control"], "--accuracy-control needs"),
    (["--name", "../escape"], "must be a plain file name"),
    (["--verify-count", "0"], "--verify-count must be at least 1"),
    (["--val-size", "0"], "--val-size must be at least 1"),
    (["--bench-seconds", "-1"], "--bench-seconds must be 0 (skip) or a finite number"),
    (["--bench-seconds", "inf"], "--bench-seconds must be 0 (skip) or a finite number"),
    (["--precision", "INT8", "--calib-synthetic", "2", "--calib-seed", "-1"], "--calib-seed must be 0 or more"),
    (["--opset", "99"], "--opset 99 is not supported: use 17 to 23"),
    (["--num-refinement-stages", "-1"], "--num-refinement-stages must be 0 or more"),
    (["--calib-synthetic", "4"], "--calib-synthetic only applies to INT8"),
    (["--int8-float-cpm"], "--int8-float-cpm only applies to INT8"),
    (["--no-int8-float-cpm"], "--no-int8-float-cpm only applies to INT8"),
    (["--ignore", "node_conv2d_56/WithoutBiases"], "--ignore only applies to INT8"),
    (["--fast-bias-correction"], "--fast-bias-correction only applies to INT8"),
    (["--val-size", "5"], "--val-size applies to a validation set"),
    # INT8 options given at their default value are refused too (their argparse defaults hid them)
    (["--int8-heads", "auto"], "--int8-heads only applies to INT8"),
    (["--preset", "performance"], "--preset only applies to INT8"),
    (["--activation-ranges", "auto"], "--activation-ranges only applies to INT8"),
    (["--model-type", "cnn"], "--model-type only applies to INT8"),
    (["--calib-size", "300"], "--calib-size only applies to INT8"),
    (["--calib-seed", "1", "--preset", "mixed"], "--calib-seed, --preset only apply to INT8"),
    (["--min-peak-f1", "0.9"], "--min-peak-f1 only applies to INT8"),
    (["--max-drop", "0.05"], "--max-drop only applies to INT8"),
    (["--precision", "INT8", "--calib-synthetic", "2", "--max-drop", "0.05"],
     "--max-drop is the AP budget: it needs a validation set"),
    (["--precision", "INT8", "--calib-synthetic", "2", "--min-peak-f1", "0.5", "--val-ann", __file__,
      "--val-images", Path(__file__).parent], "--min-peak-f1 is the budget without a validation set"),
    (["--output-dir", __file__ + "/out"], "is a file, not a folder"),
])
def test_option_errors(seed_dir, tmp_path, caplog, args, message):
    assert _run(tmp_path, "--checkpoint", seed_dir / "checkpoint.pth", *args) == 1
    assert message in caplog.text
    assert not (tmp_path / "out").exists() and _no_staging_left(tmp_path)


def test_dynamic_int8_calibrated_on_coco_people_all_stages_checkpoint(seed_dir, coco_mini_dir, tmp_path):
    """Dynamic H/W INT8 from a checkpoint, calibrated with --calib-coco (images with annotated people), with an
    all-stages ONNX file: the IR stays dynamic, quantized, and answers at two aspect ratios."""
    out = tmp_path / "dyn"
    ann = coco_mini_dir / "person_keypoints_mini.json"
    rc = main(["--checkpoint", str(seed_dir / "checkpoint.pth"), "--output-dir", str(out), "--name", "dyn",
               "--precision", "INT8", "--calib-coco", str(ann), "--calib-images", str(coco_mini_dir),
               "--calib-height", "64", "--int8-heads", "int8", "--all-stages", "--min-peak-f1", "0",
               "--int8-float-cpm", "--bench-seconds", "0", "--quiet"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    # --int8-float-cpm: exactly the CPM's last convolution (3x3, 128 -> 128) stays in float, not a refinement
    # stage's residual block (this checkpoint has one)
    (kept,) = report["int8"]["float_convolutions"]
    assert report["int8"]["float_cpm"] is True
    int8_model = get_core().read_model(out / "INT8" / "dyn.xml")
    assert cpm_output_convolution(int8_model) == kept
    conv = next(op for op in int8_model.get_ops() if op.get_friendly_name() == kept)
    assert list(conv.input_value(1).get_partial_shape().to_shape()) == [128, 128, 3, 3]
    with_people = {a["image_id"] for a in json.loads(ann.read_text())["annotations"] if a.get("num_keypoints", 0)}
    assert report["input"] == "dynamic" and report["int8"]["calibration"]["images"] == len(with_people)
    assert [o.name for o in onnx.load(str(out / "dyn.onnx")).graph.output][:2] == ["stage0_heatmaps", "stage0_pafs"]
    model = get_core().read_model(out / "INT8" / "dyn.xml")
    assert model.inputs[0].get_partial_shape().is_dynamic and "FakeQuantize" in _ops(model)
    core = get_core()
    for h, w in ((64, 96), (64, 128)):
        static = model.clone()
        static.reshape({static.inputs[0]: ov.PartialShape([1, h, w, 3])})
        result = core.compile_model(static, "CPU")({0: np.full((1, h, w, 3), 128, np.uint8)})
        assert result[IR_PAFS_NAME].shape == (1, 38, h // 8, w // 8)


def test_usage_errors_exit_1_not_the_fidelity_code(seed_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--checkpoint", str(seed_dir / "checkpoint.pth"), "--onnx", "x.onnx", "--output-dir", str(tmp_path)])
    assert stop.value.code == 1 and "not allowed with argument --checkpoint" in capsys.readouterr().err


def test_onnx_source_inside_the_output_folder_is_kept_and_its_static_size_used(converted, tmp_path, caplog):
    """The original repository's ONNX export is static: converting it without --height keeps its size (the fidelity
    check used to feed it other sizes), and a source file in the output folder is never removed as 'stale'."""
    out = tmp_path / "out"
    out.mkdir()
    source = out / "seed.onnx"
    source.write_bytes((converted / "seed.onnx").read_bytes())  # static H x W
    assert main(["--onnx", str(source), "--output-dir", str(out), "--precision", "FP32", "--bench-seconds", "0",
                 "--quiet"]) == 0
    assert source.is_file() and (out / "FP32" / "seed.xml").is_file()
    assert json.loads((out / "report.json").read_text())["input"] == [1, H, W, 3]
    assert f"has a static {H}x{W} input" in caplog.text
    assert _run(tmp_path, "--onnx", source, "--all-stages") == 1
    assert "--all-stages applies to --checkpoint sources only" in caplog.text


def test_failed_install_changes_nothing(seed_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _small(seed_dir, out, "a", "FP32")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real, calls = convert.pipeline.move_into_place, {"n": 0}

    def failing_third_move(staged, final):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(staged, final)

    monkeypatch.setattr(convert.pipeline, "move_into_place", failing_third_move)
    with pytest.raises(convert.ConversionError, match="No space left on device.*nothing was changed"):
        _small(seed_dir, out, "a", "FP32", "FP16")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_output_dir_that_is_a_file(seed_dir, tmp_path, caplog):
    (tmp_path / "out").write_text("not a folder")
    assert _run(tmp_path, "--checkpoint", seed_dir / "checkpoint.pth") == 1
    assert "exists and is not a folder" in caplog.text


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--checkpoint", "--onnx", "--calib-synthetic", "--accuracy-control", "--all-stages", "--dynamic"):
        assert flag in text


def test_nan_weights_fail_verification_and_write_nothing(seed_dir, tmp_path, caplog):
    """A diverged run's checkpoint (NaN weights) must not pass the fidelity gate as 'OK'."""
    state = torch.load(seed_dir / "checkpoint.pth", map_location="cpu", weights_only=True)
    key = next(k for k in state["state_dict"] if k.endswith("weight"))
    state["state_dict"][key] = torch.full_like(state["state_dict"][key], float("nan"))
    torch.save(state, tmp_path / "nan.pth")
    assert _run(tmp_path, "--checkpoint", tmp_path / "nan.pth", "--height", H, "--width", W) == 2
    assert "NaN or infinite outputs" in caplog.text and "fidelity OK" not in caplog.text
    assert not (tmp_path / "out").exists()


def _nan_outputs(model):
    """``model`` with every output multiplied by NaN."""
    import openvino.opset13 as ops
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model.clone())
    nan = ops.constant(np.float32("nan"))
    for name in (IR_HEATMAPS_NAME, IR_PAFS_NAME):
        ppp.output(name).postprocess().custom(lambda node: ops.multiply(node, nan).output(0))
    return ppp.build()


@pytest.mark.parametrize("precision", ["FP16", "INT8"])
def test_nan_fp16_or_int8_outputs_fail_verification_and_write_nothing(seed_dir, coco_mini_dir, tmp_path,
                                                                       monkeypatch, precision):
    """A broken FP16 / INT8 model (NaN outputs) used to pass: its figures were NaN (report.json not valid JSON) and,
    on images where FP32 finds no peak, its peak F1 was 1.0, within the INT8 budget."""
    if precision == "FP16":
        real_read = convert.pipeline._read
        monkeypatch.setattr(convert.pipeline, "_read", lambda path: _nan_outputs(real_read(path)))
        extra = {}
    else:
        monkeypatch.setattr(convert.pipeline, "quantize_int8", lambda model, inputs, options: _nan_outputs(model))
        extra = {"calib_images": coco_mini_dir, "calib_size": 1, "int8_heads": "last", "verify_images": seed_dir}
    with pytest.raises(convert.VerificationError, match=f"the {precision} IR.* NaN or infinite outputs"):
        _small(seed_dir, tmp_path / "out", "a", "FP32", precision, **extra)
    assert not (tmp_path / "out").exists()


def test_staging_is_inside_the_output_folder(seed_dir, tmp_path, monkeypatch):
    """Staged next to the files it replaces (same file system: an output folder that is a mount point works)."""
    seen = []
    real = convert.pipeline._convert
    monkeypatch.setattr(convert.pipeline, "_convert",
                        lambda opt, staging, scratch: seen.append(staging.parent) or real(opt, staging, scratch))
    _small(seed_dir, tmp_path / "out", "a", "FP32")
    assert seen == [tmp_path / "out"] and not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_static_onnx_with_another_size_and_unknown_ignore_names_are_refused_early(converted, seed_dir,
                                                                                  coco_mini_dir, tmp_path, caplog):
    assert _run(tmp_path, "--onnx", converted / "seed.onnx", "--height", 64, "--width", 64) == 1
    assert f"has a static {H}x{W} input: --height 64 --width 64 cannot apply" in caplog.text
    caplog.clear()
    assert _run(tmp_path, "--checkpoint", seed_dir / "checkpoint.pth", "--precision", "INT8", "--height", H,
                "--width", W, "--calib-images", coco_mini_dir, "--calib-size", 2, "--ignore", "no_such_node") == 1
    assert "--ignore no_such_node: no such operation in the IR" in caplog.text and "Traceback" not in caplog.text
    assert "quantiz" not in " ".join(r.getMessage() for r in caplog.records if r.name.startswith("nncf"))
    assert not (tmp_path / "out").exists()


def _two_head_onnx(path: Path, input_shape: list[int], channels_axis: int = 1, stride: int = 8,
                   outputs: tuple[tuple[str, int], ...] = (("h", 19), ("p", 38))) -> Path:
    """An ONNX file with one input of ``input_shape`` and two ``stride`` convolutions giving ``outputs``
    (name, channels): by default unnamed-looking outputs of 19 and 38 channels."""
    from onnx import TensorProto, helper, numpy_helper

    cin = input_shape[channels_axis]
    nodes, inits, x = [], [], "x"
    if channels_axis == 3:  # NHWC input
        nodes.append(helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]))
        x = "x_nchw"
    for name, cout in outputs:
        inits.append(numpy_helper.from_array(np.zeros((cout, cin, stride, stride), np.float32), f"w_{name}"))
        nodes.append(helper.make_node("Conv", [x, f"w_{name}"], [name], strides=[stride, stride]))
    graph = helper.make_graph(nodes, "foreign", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n, _ in outputs],
                              initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


@pytest.mark.parametrize("input_shape, channels_axis", [([1, 4, 64, 64], 1), ([1, 64, 64, 3], 3),
                                                       ([2, 3, 64, 64], 1)])
def test_onnx_without_a_3_channel_nchw_input_is_refused_by_name(tmp_path, caplog, input_shape, channels_axis):
    """A 4-channel input used to end in an OpenVINO RuntimeError traceback; an NHWC one in '--width must be a
    multiple of 8 ..., got 3' although no --width was given; a batch of 2 in a RuntimeError traceback at the
    fidelity check (the IR is batch 1, the ONNX file's batch-1 run failed)."""
    source = _two_head_onnx(tmp_path / "foreign.onnx", input_shape, channels_axis)
    assert _run(tmp_path, "--onnx", source, "--precision", "FP32") == 1
    assert "expected planar BGR NCHW [1, 3, H, W]" in caplog.text and "--width" not in caplog.text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags", [["--opset", "20"], ["--opset", "18"], ["--all-stages", "--opset", "20"]])
def test_export_options_with_an_onnx_source_are_refused(tmp_path, caplog, flags):
    """--opset chooses the opset of the ONNX export from a checkpoint; with --onnx nothing is exported, and the
    option was silently ignored (the IR came from the file's own opset)."""
    source = _two_head_onnx(tmp_path / "s8.onnx", [1, 3, 64, 64])
    assert _run(tmp_path, "--onnx", source, "--precision", "FP32", *flags) == 1
    assert "to --checkpoint sources only; an ONNX file is converted as it is" in caplog.text
    assert "--opset" in caplog.text.split("ERROR")[-1]
    assert not (tmp_path / "out").exists()


def test_onnx_of_another_stride_is_refused(tmp_path, caplog):
    """19- and 38-channel outputs at stride 4 used to give IRs whose rt_info says stride 8 (the runtime refuses
    them)."""
    assert _run(tmp_path, "--onnx", _two_head_onnx(tmp_path / "s8.onnx", [1, 3, 64, 64]), "--precision", "FP32") == 0
    assert _run(tmp_path, "--onnx", _two_head_onnx(tmp_path / "s4.onnx", [1, 3, 64, 64], stride=4),
                "--precision", "FP32") == 1
    assert "expected (8, 8) (stride 8): not a Lightweight OpenPose network" in caplog.text
    assert not (tmp_path / "out" / "FP32" / "s4.xml").exists()


@pytest.mark.parametrize("outputs, wrong", [
    ((("heatmaps", 18), ("pafs", 38)), "'heatmaps' is [1,18,8,8], expected [1, 19,"),
    ((("heatmaps", 19), ("pafs", 34)), "'pafs' is [1,34,8,8], expected [1, 38,")])
def test_onnx_outputs_named_like_ours_with_other_channel_counts_are_refused(tmp_path, caplog, outputs, wrong):
    """An ONNX file of another pose model whose outputs happen to be named heatmaps / pafs (18 keypoint maps, 17
    limbs) was taken by name, unchecked: its IR said 18 keypoints + background in rt_info, and the runtime decoded
    its 18 maps as this network's 19 without a word."""
    source = _two_head_onnx(tmp_path / "other.onnx", [1, 3, 64, 64], outputs=outputs)
    assert _run(tmp_path, "--onnx", source, "--precision", "FP32") == 1
    assert f"output {wrong} H/8, W/8]: not a Lightweight OpenPose network" in caplog.text
    assert "Traceback" not in caplog.text
    assert not (tmp_path / "out").exists()


def test_validation_ap_counts_images_without_people(seed_dir, coco_mini_dir, tmp_path):
    """As COCO evaluation does: detections on an image with nobody are false positives, so it is scored too."""
    ann = json.loads((coco_mini_dir / "person_keypoints_mini.json").read_text())
    first = ann["images"][0]
    ann["images"].append({**first, "id": 999_999})  # the same photo, listed with no people
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    report = _small(seed_dir, tmp_path / "out", "v", "FP32", val_ann=tmp_path / "ann.json", val_images=coco_mini_dir)
    assert report["ap"]["images"] == len(ann["images"])


def test_sigterm_cleans_up_like_ctrl_c(seed_dir, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "convert", "--checkpoint", str(seed_dir / "checkpoint.pth"),
                             "--output-dir", str(out), "--precision", "FP32", "FP16", "INT8", "--calib-synthetic",
                             "40", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out.is_dir() and any(".staging-" in p.name for p in out.iterdir())):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted; nothing was written" in err and "Traceback" not in err, (
        proc.returncode, err[-3000:])
    # created for this run: removed with its staging folder
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


def test_validation_set_without_people_is_refused(seed_dir, coco_mini_dir, tmp_path, caplog):
    """COCO AP on images with nobody annotated is 0 (or pycocotools' -1) whatever the model does: the report used
    to give AP 0.0000 per precision, and INT8's AP budget (or --accuracy-control) was 'met' by any model."""
    ann = json.loads((coco_mini_dir / "person_keypoints_mini.json").read_text())
    ann["annotations"] = [{**a, "iscrowd": 1} for a in ann["annotations"]]  # crowd regions only: nobody scored
    (tmp_path / "nobody.json").write_text(json.dumps(ann))
    assert _run(tmp_path, "--checkpoint", seed_dir / "checkpoint.pth", "--precision", "FP32", "--height", H,
                "--width", W, "--val-ann", tmp_path / "nobody.json", "--val-images", coco_mini_dir) == 1
    assert "no annotated person in the 4 validation images used" in caplog.text
    assert "COCO AP cannot be measured" in caplog.text
    assert not (tmp_path / "out").exists() and _no_staging_left(tmp_path)


def test_dynamic_with_a_static_onnx_is_refused(tmp_path, caplog):
    """An explicit --dynamic that a static ONNX input cannot honour is an error, like a contradicting --height (it
    used to give static IRs with a warning); without it the file's static size is used."""
    source = _two_head_onnx(tmp_path / "static.onnx", [1, 3, 64, 64])
    assert _run(tmp_path, "--onnx", source, "--dynamic") == 1
    assert f"{source} has a static 64x64 input: --dynamic cannot apply" in caplog.text
    assert not (tmp_path / "out").exists() and _no_staging_left(tmp_path)
    with pytest.raises(convert.ConversionError, match="either --dynamic or --height / --width"):
        run_conversion(ConvertOptions(output_dir=tmp_path / "out", onnx=source, dynamic=True, height=64, width=64))


def test_onnx_with_one_side_fixed_needs_that_side(tmp_path, caplog):
    """An ONNX input of fixed height and dynamic width (1x3x64xW) used to be taken as dynamic: the IR came out, then
    the fidelity check fed the file 256x384 noise and ended in an OpenVINO RuntimeError traceback. Static IRs of
    that height are made; a size or --dynamic that contradicts it is refused up front."""
    source = _two_head_onnx(tmp_path / "h64.onnx", [1, 3, 64, "W"])
    assert _run(tmp_path, "--onnx", source, "--precision", "FP32") == 1
    assert f"{source} has a partly static 64x? input: its IRs are static; give --height 64 and --width N" in caplog.text
    for flags in (["--dynamic"], ["--height", 128, "--width", 64]):
        assert _run(tmp_path, "--onnx", source, "--precision", "FP32", *flags) == 1
        assert f"{' '.join(map(str, flags))} cannot apply (give --height 64 and --width N" in caplog.text
    assert "Traceback" not in caplog.text and not (tmp_path / "out").exists()
    assert _run(tmp_path, "--onnx", source, "--precision", "FP32", "--height", 64, "--width", 96) == 0
    assert get_core().read_model(tmp_path / "out" / "FP32" / "h64.xml").inputs[0].get_partial_shape() == [1, 64, 96, 3]


def test_onnx_fixed_to_a_size_no_ir_can_have_names_the_file(tmp_path, caplog):
    """A 1x3x60x60 ONNX input used to be refused as '--height must be a multiple of 8 ..., got 60' although no
    --height was given: the file's own size is at fault."""
    source = _two_head_onnx(tmp_path / "s60.onnx", [1, 3, 60, 64])
    assert _run(tmp_path, "--onnx", source, "--precision", "FP32") == 1
    assert f"{source}: the fixed input height must be a multiple of 8" in caplog.text and "--height" not in caplog.text
    assert not (tmp_path / "out").exists()


def test_staging_left_by_a_killed_run_is_removed_by_the_next_but_not_a_running_ones(seed_dir, tmp_path,
                                                                                    monkeypatch):
    """kill -9 leaves the staging and scratch folders behind (no handler runs): a later conversion into the same
    folder removes them, but never the folders of a conversion still running."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    tmp = tmp_path / "tmp"  # the runs' temporary folder, for their scratch folders
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    proc = subprocess.Popen([sys.executable, "-m", "convert", "--checkpoint", str(seed_dir / "checkpoint.pth"),
                             "--output-dir", str(out), "--name", "busy", "--precision", "FP32", "INT8",
                             "--calib-synthetic", "40", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(tmp)})
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (out.is_dir() and not _no_staging_left(out)):
            time.sleep(0.05)
        (busy,) = [p for p in out.iterdir() if ".staging-" in p.name]
        while time.time() < deadline and not list(tmp.glob("lwpose-convert-*")):
            time.sleep(0.05)
        (scratch,) = tmp.glob("lwpose-convert-*")
        assert scratch.name.startswith(f"lwpose-convert-{proc.pid}@")
        _small(seed_dir, out, "a", "FP32")  # a concurrent conversion: the running one's folders stay
        assert proc.poll() is None and busy.is_dir() and scratch.is_dir()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert busy.is_dir() and scratch.is_dir()  # nothing cleaned up after kill -9
    _small(seed_dir, out, "a", "FP32")
    assert _no_staging_left(out) and (out / "FP32" / "a.xml").is_file()
    assert not list(tmp.glob("lwpose-convert-*"))  # the killed run's scratch folder too, and the new run's own


KILLED_INSTALL = """
import os, signal, sys, tempfile
from pathlib import Path
import convert.pipeline as pipeline
from convert.leftovers import owner

out, when = Path(sys.argv[1]), sys.argv[2]
staging = Path(tempfile.mkdtemp(prefix=f".a.staging-{owner()}-", dir=out))
for rel in ("a.onnx", "FP32/a.xml", "FP32/a.bin", "report.json"):
    (staging / rel).parent.mkdir(exist_ok=True)
    (staging / rel).write_text("new " + rel)
real_move, real_rmtree, moves = pipeline.move_into_place, pipeline.shutil.rmtree, []

def move(staged, final):
    moves.append(final)
    if when == "moving" and len(moves) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_move(staged, final)

def rmtree(path, **kwargs):
    if when == "discarding" and ".replaced-" in str(path):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_rmtree(path, **kwargs)

pipeline.move_into_place, pipeline.shutil.rmtree = move, rmtree
pipeline.install_outputs(staging, out, "a")
"""


@pytest.mark.parametrize("when", ["moving", "discarding"])
def test_install_killed_midway_is_undone_by_the_next_conversion(seed_dir, tmp_path, when):
    """kill -9 while the new files were moved into the output folder left it part old, part new, the old files in a
    '.a.replaced-*' folder that nothing restored or removed. The backup folder is named after its process now, and the
    next conversion into the folder puts the old files back (killed while moving), or keeps the new ones (killed once
    they were all in place, while removing the backup)."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    _small(seed_dir, out, "a", "FP32", "FP16")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_INSTALL, str(out), when], cwd=Path(__file__).parents[1],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.wait(timeout=120) == -signal.SIGKILL
    (backup,) = [p for p in out.iterdir() if ".replaced-" in p.name]
    assert backup.name.startswith(f".a.replaced-{proc.pid}@")
    _small(seed_dir, out, "b", "FP32")  # the next conversion into the folder, of another model
    files = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()
             and p.name not in ("b.xml", "b.bin", "b.onnx", "report.json")}
    if when == "moving":
        assert files == {rel: data for rel, data in before.items() if rel.name != "report.json"}
    else:
        assert files == {Path(rel): f"new {rel}".encode() for rel in ("a.onnx", "FP32/a.xml", "FP32/a.bin")}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_only_dead_conversions_scratch_folders_of_this_machine_are_removed(tmp_path, monkeypatch):
    """A scratch folder in the temporary folder is removed only when it is a conversion's (its name), made on this
    machine by a process that is gone: a running one's, another machine's and other programs' stay."""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = convert.leftovers.host_name()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    names = {f"lwpose-convert-{dead.pid}@{host}-abc123": False, f"lwpose-convert-{os.getpid()}@{host}-abc123": True,
             f"lwpose-convert-{dead.pid}@other.host-abc123": True, f"lwpose-bench-{dead.pid}@{host}-abc123": True,
             "lwpose-convert-abc123": True, f".seed.staging-{dead.pid}@{host}-abc123": True}
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "x").write_text("x")
    convert.pipeline.remove_stale_scratch()
    assert {name: (tmp_path / name).is_dir() for name in names} == names


@pytest.mark.parametrize("kind", ["file", "missing folder"])
def test_unwritable_temporary_folder_is_a_conversion_error_naming_it(seed_dir, tmp_path, monkeypatch, kind):
    """A temporary folder where no scratch folder can be made ended the conversion with a raw mkdtemp traceback."""
    tmp = tmp_path / "tmp"
    if kind == "file":
        tmp.write_text("not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    with pytest.raises(convert.ConversionError, match=f"scratch folder in the temporary folder {tmp}: .*TMPDIR"):
        _small(seed_dir, tmp_path / "out", "a", "FP32")
    assert not (tmp_path / "out").exists()


def test_peak_f1_verdict_without_any_fp32_peak_warns(tmp_path, caplog):
    """Peak F1 is 1.0 when FP32 has no peak on the verification images (no people in them): the INT8 budget was
    reported met without a word, though nothing was compared."""
    opt = convert.pipeline.with_int8_defaults(ConvertOptions(output_dir=tmp_path, precisions=("INT8",)))
    agree = {"reference_peaks": 0, "peak_f1": 1.0}
    report = {"int8": {"agreement": agree}, "fidelity": {"count": 3, "images": str(tmp_path)}}
    assert convert.pipeline._int8_verdict(opt, report)["within_budget"]
    assert "finds no keypoint peak on the 3 verification images" in caplog.text
    caplog.clear()
    convert.pipeline._int8_verdict(opt, {**report, "int8": {"agreement": {"reference_peaks": 5, "peak_f1": 1.0}}})
    assert "no keypoint peak" not in caplog.text


def test_ap_drop_verdict_with_a_zero_fp32_ap_warns(tmp_path, caplog):
    """With FP32 AP 0 on the validation set (a model that finds nobody there) INT8 cannot drop: its AP budget was
    reported met without a word, though nothing was compared (and accuracy control had nothing to control)."""
    opt = convert.pipeline.with_int8_defaults(ConvertOptions(output_dir=tmp_path, precisions=("INT8",),
                                                             val_ann=tmp_path, val_images=tmp_path))
    report = {"int8": {}, "ap": {"images": 4, "FP32": 0.0, "INT8": 0.0}}
    assert convert.pipeline._int8_verdict(opt, report)["within_budget"]
    assert "scores AP 0.0 on the 4 validation images" in caplog.text
    caplog.clear()
    convert.pipeline._int8_verdict(opt, {**report, "ap": {"images": 4, "FP32": 0.3, "INT8": 0.29}})
    assert "without a test" not in caplog.text


def test_no_process_probe_on_windows(monkeypatch):
    """On Windows os.kill(pid, 0) sends Ctrl+C to process group pid (signal 0 is CTRL_C_EVENT) and raises OSError for
    a gone one, so a leftover staging folder would have interrupted another program or failed the conversion."""
    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    monkeypatch.setattr(os, "name", "nt")
    alive = convert.leftovers.process_alive(12345)
    monkeypatch.undo()
    assert alive and sent == []


def test_noise_verification_inputs_respect_verify_count(tmp_path):
    """Without real images the fidelity checks run on seeded noise: --verify-count (at most N) bounds it too."""
    opt = ConvertOptions(output_dir=tmp_path, checkpoint=tmp_path / "c.pth", verify_count=1)
    inputs = convert.pipeline._noise_inputs(opt)
    assert len(inputs) == 1 and inputs[0].shape == (1, 256, 384, 3)
    assert len(convert.pipeline._noise_inputs(ConvertOptions(output_dir=tmp_path, checkpoint=tmp_path / "c.pth"))) == 2


def test_static_ir_is_calibrated_and_validated_as_the_runtime_runs_it(seed_dir, coco_mini_dir, tmp_path, monkeypatch):
    """The runtime reshapes even a static IR to each frame's own letterbox size (PoseEstimator's compile cache), so
    calibration and AP use each image's own width on the IR reshaped to it; they used images padded to the IR's
    width. The IR written keeps its static input."""
    from ov_inference import PoseEstimator
    from ov_inference.preprocessing import letterbox_frame

    ann = coco_mini_dir / "person_keypoints_mini.json"
    images = {im["id"]: coco_mini_dir / im["file_name"] for im in json.loads(ann.read_text())["images"]}
    seen = {"ap": [], "calibration": []}
    real_ap, real_quantize = convert.pipeline.coco_ap, convert.pipeline.quantize_int8
    monkeypatch.setattr(convert.pipeline, "coco_ap", lambda compiled, samples, gt: (
        seen["ap"].append((compiled, samples)), real_ap(compiled, samples, gt))[1])
    monkeypatch.setattr(convert.pipeline, "quantize_int8", lambda model, inputs, options: (
        seen["calibration"].append(inputs), real_quantize(model, inputs, options))[1])
    _small(seed_dir, tmp_path / "out", "s", "FP32", "INT8", calib_images=coco_mini_dir, int8_heads="last",
           val_ann=ann, val_images=coco_mini_dir, verify_count=2)
    frame = cv2.imread(str(images[seen["ap"][0][1][0].image_id]))
    estimator = PoseEstimator(tmp_path / "out" / "FP32" / "s.xml", input_height=H)
    estimator(frame)
    (runtime_size,) = estimator.cache.sizes()
    assert runtime_size != (H, W)  # the coco_mini photos are not 160:128, so the runtime reshaped the static IR
    for compiled, samples in seen["ap"]:  # FP32 (its reference), the INT8 candidate, FP32 and INT8 in the report
        assert compiled.input(0).get_partial_shape().is_dynamic
        for sample in samples:
            want = letterbox_frame(cv2.imread(str(images[sample.image_id])), H)[0]
            assert sample.input[0].shape == want.shape
    assert seen["ap"][0][1][0].input.shape[1:3] == runtime_size
    widths = {x.shape[2] for x in seen["calibration"][0]}
    assert W not in widths and len(widths) > 1
    for precision in ("FP32", "INT8"):
        model = get_core().read_model(tmp_path / "out" / precision / "s.xml")
        assert list(model.inputs[0].get_partial_shape().to_shape()) == [1, H, W, 3]


def test_accuracy_control_metric_compiles_as_the_reports_fp32_ap():
    """NNCF's accuracy control compiles the models its metric (COCO AP) scores itself; it does so with the f32 hint,
    the report's FP32 AP's :data:`convert.F32_CONFIG`, not at the device default (bf16 on CPUs that have it), so its
    FP32 AP is the report's. Pinned here against an NNCF that would change that."""
    from convert import F32_CONFIG, QuantizeOptions, compile_model, quantize_with_accuracy_control
    from openvino import opset13 as ops

    image = ops.parameter([1, 3, 16, 16], np.float32)
    weights = ops.constant(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32))
    model = ov.Model([ops.relu(ops.convolution(image, weights, [1, 1], [1, 1], [1, 1], [1, 1]))], [image])
    inputs = [np.random.default_rng(i).random((1, 3, 16, 16), np.float32) for i in range(2)]
    hints = []

    def validate(compiled, items):
        hints.append(compiled.get_property("INFERENCE_PRECISION_HINT"))
        return 1.0, None

    quantize_with_accuracy_control(model, inputs, inputs, validate, max_drop=0.01,
                                   options=QuantizeOptions(heads="int8", float_cpm=False))
    report_hint = compile_model(model, F32_CONFIG).get_property("INFERENCE_PRECISION_HINT")
    assert hints and all(hint == report_hint for hint in hints), (hints, report_hint)


@pytest.mark.parametrize("command", ["convert", "train"])
def test_an_empty_output_folder_is_a_usage_error_not_the_current_folder(command, tmp_path, capsys, monkeypatch):
    """``--output-dir "$OUT"`` / ``--out-dir "$OUT"`` with OUT unset meant the current folder, where the IRs or the
    checkpoints were written; it is refused as lwpose-quickstart --out and lwpose-weights --dest are
    (pose_format.cli_types.folder_type, with each command's usage-error status: 1 for lwpose-convert, 2 for
    lwpose-train)."""
    import importlib

    monkeypatch.chdir(tmp_path)
    parser = importlib.import_module(f"{command}.__main__").build_parser()
    args = (["--checkpoint", "c.pth", "--output-dir", ""] if command == "convert"
            else ["--train-ann", "a.json", "--train-images", ".", "--out-dir", ""])
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(args)
    assert exc.value.code == (1 if command == "convert" else 2)
    assert "empty: give a folder" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
