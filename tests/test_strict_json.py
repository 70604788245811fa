"""Every JSON the project writes is strict JSON: no ``NaN`` / ``Infinity`` (browsers' ``JSON.parse``, ``jq`` and
other languages refuse them). Unknown figures are ``null``; any other non-finite number fails loudly."""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ov_inference import RecordWriter, frame_record
from ov_inference.__main__ import main
from pose_format import IR_HEATMAPS_NAME, IR_INPUT_NAME, IR_PAFS_NAME, dumps_strict, finite_or_none
from test_runtime_cli import _ShortCapture
from test_runtime_support import save, tiny_pose_model


def strict_loads(text: str):
    """``json.loads`` that refuses ``NaN`` / ``Infinity`` / ``-Infinity``, as ``JSON.parse`` and ``jq`` do."""
    def refuse(constant: str):
        raise AssertionError(f"{constant} in the JSON: not JSON")

    return json.loads(text, parse_constant=refuse)


def nan_pose_model() -> ov.Model:
    """A pose-shaped IR (u8 NHWC ``image``) whose heatmaps and PAFs are all NaN (a broken conversion)."""
    model = tiny_pose_model()
    param = ops.parameter([1, -1, -1, 3], ov.Type.u8, name=IR_INPUT_NAME)
    x = ops.transpose(ops.convert(param, ov.Type.f32), ops.constant(np.array([0, 3, 1, 2], np.int64)))
    pooled = ops.avg_pool(x, [8, 8], [0, 0], [0, 0], [8, 8], exclude_pad=True)
    outputs = []
    for channels, name in ((19, IR_HEATMAPS_NAME), (38, IR_PAFS_NAME)):
        conv = ops.convolution(pooled, ops.constant(np.full((channels, 3, 1, 1), np.nan, np.float32)),
                               [1, 1], [0, 0], [0, 0], [1, 1])
        conv.output(0).get_tensor().set_names({name})
        outputs.append(conv)
    nan_model = ov.Model(outputs, [param], "nan_pose")
    for key, value in model.get_rt_info().items():  # the lwpose IR's rt_info, so it loads as one
        nan_model.set_rt_info(value, key)
    return nan_model


class _NanClockCapture(_ShortCapture):
    """A stream of 3 64x48 frames whose position (CAP_PROP_POS_MSEC) reads NaN."""

    def __init__(self, *args):
        self.left = 3

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_COUNT: 3, cv2.CAP_PROP_FRAME_WIDTH: 64, cv2.CAP_PROP_FRAME_HEIGHT: 48,
                cv2.CAP_PROP_FPS: 25, cv2.CAP_PROP_POS_MSEC: math.nan}.get(prop, 0)


def test_finite_or_none_and_dumps_strict_name_the_number():
    assert finite_or_none(math.nan) is None and finite_or_none(np.float32("inf")) is None
    assert finite_or_none(None) is None and finite_or_none(np.float64(1.23456), 2) == 1.23
    with pytest.raises(ValueError, match=r"summary\.fps is nan .*not JSON"):
        dumps_strict({"meta": {}, "summary": {"fps": math.nan}})
    with pytest.raises(ValueError, match=r"rows\[1\]\.ap is inf"):
        dumps_strict({"rows": [{"ap": 0.5}, {"ap": math.inf}]})
    with pytest.raises(ValueError, match="not JSON"):  # a NumPy NaN turned into a float by default=
        dumps_strict({"x": np.float32("nan")}, default=float)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_cli_records_of_a_nan_model_on_a_nan_clock_are_strict_json(tmp_path, monkeypatch, suffix):
    """``python -m ov_inference`` on a stream whose clock reads NaN, through an IR whose outputs are NaN: every
    record and the summary are strict JSON (unknown timestamps are null)."""
    xml = save(nan_pose_model(), tmp_path / "nan.xml")
    clip = tmp_path / "clip.avi"
    clip.write_bytes(b"not read: the capture is replaced")
    monkeypatch.setattr("ov_inference.sources.cv2.VideoCapture", _NanClockCapture)
    out = tmp_path / f"out{suffix}"
    assert main(["--model", str(xml), "--input", str(clip), "-o", str(out), "--no-progress"]) == 0
    text = out.read_text()
    docs = [strict_loads(line) for line in text.splitlines()] if suffix == ".jsonl" else [strict_loads(text)]
    frames = [d for d in docs if "frame_index" in d] or docs[0]["frames"]
    assert len(frames) == 3 and all(f["timestamp"] is None for f in frames)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_non_finite_figure_in_records_is_null_with_a_warning_and_loses_nothing(tmp_path, caplog, suffix):
    """A figure that is not JSON and not known to be an unknown (a bug): written as null with a warning naming it;
    failing the write instead would lose every record of the run (the whole document for ``.json``)."""
    writer = RecordWriter(tmp_path / f"r{suffix}", {"model": "m", "scale": math.nan})
    writer.write(frame_record(0, "a", [], timings={"infer_ms": math.inf}))
    writer.write({"frame_index": 1, "custom": [1.0, math.nan]})
    with caplog.at_level("WARNING", logger="ov_inference.records"):
        writer.close({"frames": 2, "fps": math.nan})
    text = (tmp_path / f"r{suffix}").read_text()
    docs = [strict_loads(line) for line in text.splitlines()] if suffix == ".jsonl" else [strict_loads(text)]
    if suffix == ".jsonl":
        meta, first, second, summary = docs[0]["meta"], docs[1], docs[2], docs[3]["summary"]
    else:
        meta, (first, second), summary = docs[0]["meta"], docs[0]["frames"], docs[0]["summary"]
    assert meta["scale"] is None and first["timings"] == {"infer_ms": None} and second["custom"] == [1.0, None]
    assert summary == {"frames": 2, "fps": None}
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "fps" in warned and "written as null" in warned
