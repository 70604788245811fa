"""checkpoint_to_ir: the seed checkpoint's IR reproduces the expected maps; rt_info; shapes; bad checkpoints."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import openvino as ov
from pose_format import IR_HEATMAPS_NAME, IR_INPUT_NAME, IR_PAFS_NAME, RT_INFO_SECTION, rt_info_fields, sha256_file

from convert import ConversionError, checkpoint_to_ir
from ov_inference import read_rt_info
from ov_inference.adapter import get_core

F32 = {"INFERENCE_PRECISION_HINT": "f32"}

# Compile with the process-wide core, never a fresh ov.Core() per call: each Core gets its own CPU plugin, whose
# constructor installs a new alternate signal stack on the calling thread and whose destructor unmaps it, restoring
# the previous one only when it is still the current one. Two plugins released in creation order (compiled =
# Core().compile_model(...) twice) leave the thread on an unmapped signal stack, and the next Python signal handler
# run there (a SIGCHLD handler, as torch's DataLoader installs, or Ctrl+C) kills the process with SIGSEGV.


@pytest.fixture(scope="module")
def seed_ir(seed_dir, tmp_path_factory):
    return checkpoint_to_ir(seed_dir / "checkpoint.pth", tmp_path_factory.mktemp("ir") / "FP32" / "seed.xml")


def test_seed_ir_reproduces_expected_maps(seed_ir, seed_dir):
    image = cv2.imread(str(seed_dir / "input.png"))
    expected = np.load(seed_dir / "expected.npz")
    compiled = get_core().compile_model(seed_ir, "CPU", F32)
    result = compiled(image[None])
    for name in (IR_HEATMAPS_NAME, IR_PAFS_NAME):
        got = result[compiled.output(name)]
        assert got.shape == expected[name].shape
        assert np.abs(got - expected[name]).max() < 1e-4, name


def test_seed_ir_interface_and_rt_info(seed_ir, seed_dir):
    model = get_core().read_model(seed_ir)
    (inp,) = model.inputs
    assert inp.get_any_name() == IR_INPUT_NAME
    assert inp.get_element_type() == ov.Type.u8
    shape = inp.get_partial_shape()
    assert shape[0].get_length() == 1 and shape[3].get_length() == 3
    assert shape[1].is_dynamic and shape[2].is_dynamic
    assert [o.get_any_name() for o in model.outputs] == [IR_HEATMAPS_NAME, IR_PAFS_NAME]
    info = read_rt_info(model)
    for key, value in rt_info_fields().items():
        assert info[key] == value, key
    assert info["precision"] == "FP32"
    assert read_rt_info(seed_ir) == info and read_rt_info(str(seed_ir)) == info  # the .xml path works too
    assert info["source_sha256"] == sha256_file(seed_dir / "checkpoint.pth")
    assert model.get_rt_info([RT_INFO_SECTION, "stride"]).astype(str) == "8"


def test_static_fp16_ir(seed_dir, tmp_path):
    xml = checkpoint_to_ir(seed_dir / "checkpoint.pth", tmp_path / "s.xml", height=256, width=384, precision="FP16")
    model = get_core().read_model(xml)
    assert list(model.inputs[0].get_shape()) == [1, 256, 384, 3]
    assert list(model.output(IR_PAFS_NAME).get_shape()) == [1, 38, 32, 48]
    assert read_rt_info(model)["precision"] == "FP16"
    assert xml.with_suffix(".bin").stat().st_size < 10e6  # compressed weights: about half of the FP32 16 MB
    compiled = get_core().compile_model(model, "CPU", F32)
    image = cv2.imread(str(seed_dir / "input.png"))
    expected = np.load(seed_dir / "expected.npz")
    diff = np.abs(compiled(image[None])[compiled.output(IR_HEATMAPS_NAME)] - expected["heatmaps"]).max()
    assert 0 < diff < 1e-2


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ConversionError, match="not found"):
        checkpoint_to_ir(tmp_path / "nope.pth", tmp_path / "out" / "m.xml")
    assert not (tmp_path / "out").exists()


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ConversionError, match="bad.pth"):
        checkpoint_to_ir(bad, tmp_path / "out" / "m.xml")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("size, message", [((100, 160), "input height must be a multiple of 8"),
                                           ((128, None), "give both height and width")])
def test_bad_size_fails_before_export_and_leaves_no_folder(seed_dir, tmp_path, monkeypatch, size, message):
    """A size the IR cannot take was refused only after the ONNX export (~20 s on 2 cores), and the output's
    folders, created for it, were left behind empty."""
    import convert.onnx_export

    def no_export(*args, **kwargs):
        raise AssertionError("exported before the size was checked")

    monkeypatch.setattr(convert.onnx_export, "export_onnx", no_export)
    with pytest.raises(ConversionError, match=message):
        checkpoint_to_ir(seed_dir / "checkpoint.pth", tmp_path / "out" / "sub" / "m.xml", height=size[0],
                         width=size[1])
    assert not (tmp_path / "out").exists()


def test_failed_export_leaves_no_folder(seed_dir, tmp_path, monkeypatch):
    import convert.onnx_export

    def failing_export(*args, **kwargs):
        raise ConversionError("export failed")

    monkeypatch.setattr(convert.onnx_export, "export_onnx", failing_export)
    (tmp_path / "out").mkdir()
    with pytest.raises(ConversionError, match="export failed"):
        checkpoint_to_ir(seed_dir / "checkpoint.pth", tmp_path / "out" / "a" / "b" / "m.xml")
    assert list((tmp_path / "out").iterdir()) == []  # out/ was there before: kept; a/b/ made for the call: removed


@pytest.mark.parametrize("suffix", [".xml", ".bin"])
def test_a_folder_where_the_ir_goes_is_refused_not_deleted(seed_dir, tmp_path, suffix):
    """A folder at output_xml or its .bin used to be deleted, with everything in it, to make room for the IR."""
    (tmp_path / f"m{suffix}").mkdir()
    (tmp_path / f"m{suffix}" / "notes.txt").write_text("keep")
    with pytest.raises(ConversionError, match=f"m\\{suffix} is a folder: the IR's files go there"):
        checkpoint_to_ir(seed_dir / "checkpoint.pth", tmp_path / "m.xml", height=64, width=96)
    assert (tmp_path / f"m{suffix}" / "notes.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m{suffix}"]


def test_a_file_in_the_output_path_is_a_conversion_error(seed_dir, tmp_path):
    """A file where a folder of output_xml's path goes raised a bare FileExistsError, not ConversionError."""
    (tmp_path / "ir").write_text("a file")
    with pytest.raises(ConversionError, match=f"cannot write {tmp_path / 'ir' / 'm.xml'}: File exists"):
        checkpoint_to_ir(seed_dir / "checkpoint.pth", tmp_path / "ir" / "m.xml", height=64, width=96)
    assert (tmp_path / "ir").read_text() == "a file"


def test_scratch_folder_of_a_killed_call_is_removed_by_the_next(seed_dir, tmp_path):
    """checkpoint_to_ir works in a hidden folder beside the IR: one that kill -9 left there stayed forever. The next
    call into that folder removes those of dead processes of this machine, not a running one's."""
    import os
    import subprocess
    import sys

    from convert.leftovers import host_name

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left, running = (tmp_path / f".lwpose-convert-{pid}@{host_name()}-abc123" for pid in (dead.pid, os.getpid()))
    for folder in (left, running):
        folder.mkdir()
        (folder / "model.onnx").write_text("x")
    checkpoint_to_ir(seed_dir / "checkpoint.pth", tmp_path / "m.xml", height=64, width=96)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, "m.bin", "m.xml"])


def test_other_architecture_names_keys(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3))
    path = tmp_path / "other.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    with pytest.raises(ConversionError) as err:
        checkpoint_to_ir(path, tmp_path / "out" / "m.xml")
    assert "0.weight" in str(err.value) and "model.0.0.weight" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_any_published_layout_checkpoint_extra_stages_dropped(tmp_path):
    """A fresh 2-refinement-stage model saved (DataParallel prefixes) in the published layout: the IR built with
    one refinement stage reproduces that stage's PyTorch outputs."""
    from train.model import PoseEstimationWithMobileNet

    torch.manual_seed(3)
    net = PoseEstimationWithMobileNet(num_refinement_stages=2).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "two_stages.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}, "optimizer": {},
                "scheduler": {}, "iter": 7, "current_epoch": 0}, path)
    xml = checkpoint_to_ir(path, tmp_path / "ir" / "m.xml", height=64, width=96, num_refinement_stages=1)
    image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    compiled = get_core().compile_model(xml, "CPU", F32)
    got = compiled(image[None])
    with torch.no_grad():
        x = torch.from_numpy(((image.astype(np.float32) - 128) / 256).transpose(2, 0, 1)[None].copy())
        ref = net(x)
    assert np.abs(got[compiled.output(IR_HEATMAPS_NAME)] - ref[2].numpy()).max() < 1e-4
    assert np.abs(got[compiled.output(IR_PAFS_NAME)] - ref[3].numpy()).max() < 1e-4
    assert read_rt_info(get_core().read_model(xml))["num_refinement_stages"] == "1"
    # by default every stage of the file is kept: the IR gives the last stage's maps
    xml = checkpoint_to_ir(path, tmp_path / "ir_all" / "m.xml", height=64, width=96)
    compiled = get_core().compile_model(xml, "CPU", F32)
    got = compiled(image[None])
    assert np.abs(got[compiled.output(IR_HEATMAPS_NAME)] - ref[4].numpy()).max() < 1e-4
    assert np.abs(got[compiled.output(IR_PAFS_NAME)] - ref[5].numpy()).max() < 1e-4
    assert read_rt_info(get_core().read_model(xml))["num_refinement_stages"] == "2"
