"""The bench runs end to end and reports every figure the issue names (speed targets live in the bench, not here)."""
import json

import cv2
import pytest

from ov_inference.bench import main, synthesize_clip
from test_runtime_support import save, tiny_pose_model

KEYS = ("network_fps", "pipeline_fps", "sync_fps", "decode_ms_p50", "decode_ms_p95", "latency_ms_p50")


def test_synthesized_clip_is_1280x720(tmp_path):
    clip = synthesize_clip(tmp_path / "c.mp4", frames=3)
    capture = cv2.VideoCapture(str(clip))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (1280, 720)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()


def test_bench_json_has_every_figure(tmp_path, capsys):
    xml = save(tiny_pose_model(), tmp_path / "tiny.xml")
    assert main(["--model", str(xml), "--frames", "6", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in KEYS:
        assert figures[key] > 0, key
    assert figures["frames"] == 6 and figures["input_size"] == [456, 256] and figures["frame_size"] == [1280, 720]
    assert figures["execution_precision"] in ("f32", "bf16", "f16") and figures["num_requests"] >= 1
    assert figures["model_precision"] == "FP32"  # the IR's own, from its rt_info
    assert figures["pipeline_over_network"] == round(figures["pipeline_fps"] / figures["network_fps"], 3)
    assert figures["live_frames"] == 6 and figures["live_latency_ms_p50"] > 0 and figures["live_num_requests"] >= 1


def test_bench_text_output_and_bad_video(tmp_path, capsys):
    xml = save(tiny_pose_model(), tmp_path / "tiny.xml")
    assert main(["--model", str(xml), "--frames", "4"]) == 0
    out = capsys.readouterr().out
    assert "pipeline / network =" in out
    assert "FP32 IR executing in " in out.splitlines()[0]  # the IR's own precision and the one that executed
    assert main(["--model", str(xml), "--input", str(tmp_path / "none.mp4")]) == 2
    assert "video not found" in capsys.readouterr().err
    assert main(["--model", str(xml), "--input", ""]) == 2  # an unset variable, not the current folder
    assert "the video is empty" in capsys.readouterr().err


def test_text_output_of_a_model_too_slow_for_two_decimals(tmp_path, capsys, monkeypatch):
    """async / sync comes from the unrounded figures: a sync_fps that rounds to 0.00 printed a ZeroDivisionError;
    with nothing timed it is n/a. run_benchmark refuses fewer than 2 frames, as the command line does."""
    from ov_inference import bench

    assert bench._ratio(0.006, 0.004) == 1.5 and bench._ratio(1.0, 0.0) is None
    figures = {"model": "m.xml", "kind": "lwpose", "device": "CPU", "model_precision": "FP32",
               "execution_precision": "f32", "num_requests": 2, "performance_hint": "LATENCY", "video": "v",
               "input_size": [64, 48], "frames": 4, "frames_requested": 4, "network_fps": 0.01,
               "network_fps_before": 0.01, "network_fps_after": 0.01, "pipeline_fps": 0.01, "sync_fps": 0.0,
               "pipeline_over_network": 1.0, "pipeline_over_sync": 1.5, "decode_ms_p50": 1.0, "decode_ms_p95": 1.0,
               "latency_ms_p50": 1.0, "live_latency_ms_p50": 1.0, "live_infer_ms_p50": 1.0, "live_dropped": 0,
               "live_frames": 4, "live_num_requests": 1}
    monkeypatch.setattr(bench, "run_benchmark", lambda *args: figures)
    assert bench.main(["--model", "m.xml"]) == 0
    assert "async / sync = 1.50" in capsys.readouterr().out
    figures["pipeline_over_sync"] = None
    assert bench.main(["--model", "m.xml"]) == 0
    assert "async / sync = n/a" in capsys.readouterr().out
    monkeypatch.undo()
    with pytest.raises(ValueError, match="frames must be >= 2"):
        bench.run_benchmark(tmp_path / "missing.xml", frames=1)


def test_an_interrupted_bench_exits_130_and_removes_its_clip(tmp_path, capsys, monkeypatch):
    from ov_inference import bench

    xml = save(tiny_pose_model(), tmp_path / "tiny.xml")
    clips = []
    monkeypatch.setattr(bench, "synthesize_clip", lambda path, **kw: clips.append(synthesize_clip(path, **kw))
                        or clips[-1])

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "measure_pipeline", interrupted)
    assert main(["--model", str(xml), "--frames", "2"]) == 130  # used to end in a traceback
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err and not clips[0].parent.exists()


def test_bench_unknown_device_is_a_clear_error(tmp_path, capsys, monkeypatch):
    xml = save(tiny_pose_model(), tmp_path / "tiny.xml")
    monkeypatch.setattr("ov_inference.bench.synthesize_clip",
                        lambda *a, **k: pytest.fail("the clip was synthesized before the device was checked"))
    assert main(["--model", str(xml), "--device", "FOO", "--frames", "2"]) == 2
    err = capsys.readouterr().err
    assert "error: cannot compile the model for device 'FOO'" in err and "available devices: CPU" in err
    assert "Traceback" not in err
