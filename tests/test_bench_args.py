"""Benchmark command lines refuse bad arguments at once: exit status 2 and one ``error:`` line naming the flag, no
traceback, before any data is generated, any model converted or anything timed."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def refused(command: list[str], flag: str) -> str:
    """Run ``command`` from the project root; assert it exits 2 with one error line naming ``flag``; return it."""
    done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and flag in errors[0], done.stderr
    return errors[0]


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bench-args") / "input.png"
    cv2.imwrite(str(path), np.full((72, 128, 3), 90, np.uint8))
    return path


@pytest.mark.parametrize("args, flag", [
    (["--", "--train-minutes", "-1"], "--train-minutes"),
    (["--", "--bench-rounds", "0"], "--bench-rounds"),
])
def test_bench_quickstart_checks_the_quickstart_options_first(tmp_path, args, flag):
    line = refused(["benchmarks/bench_quickstart.py", "--out", str(tmp_path / "report"), *args], flag)
    assert "quickstart" in line
    assert not (tmp_path / "report").exists()


def test_bench_quickstart_json_is_a_file_path(tmp_path):
    refused(["benchmarks/bench_quickstart.py", "--json", str(tmp_path)], "--json")


@pytest.mark.parametrize("args, flag", [
    (["--parts", "synthetic", "--time-limit", "-5"], "--time-limit"),
    (["--parts", "targets", "--threads", "0"], "--threads"),
    (["--parts", "synthetic", "--max-iters", "0"], "--max-iters"),
    (["--parts", "synthetic", "--set", "lr=-1"], "--lr"),
])
def test_bench_train_refuses(tmp_path, args, flag):
    refused(["benchmarks/bench_train.py", "--out-dir", str(tmp_path / "run"), *args], flag)
    assert not (tmp_path / "run").exists()  # no data generated


@pytest.mark.parametrize("args, flag", [
    (["--runs", "0"], "--runs"),
    (["--reference-runs", "0"], "--reference-runs"),
    (["--seed", "-1"], "--seed"),
    (["--heights", "0"], "--heights"),
])
def test_bench_decoder_refuses(args, flag):
    refused(["benchmarks/bench_decoder.py", *args], flag)


def test_bench_decoder_refuses_a_broken_annotation_file(tmp_path):
    """It was a JSONDecodeError traceback."""
    (tmp_path / "person_keypoints_mini.json").write_text("{")
    assert "JSON" in refused(["benchmarks/bench_decoder.py", "--coco-dir", str(tmp_path)], "--coco-dir")


@pytest.mark.parametrize("args, flag", [
    (["--rounds", "0"], "--rounds"),
    (["--frames", "0"], "--frames"),
    (["--frames", "1"], "--frames"),  # a ratio over one frame means nothing, as for an image input
    (["--precision", "default", "foo"], "--precision"),
    (["--model", "missing.xml"], "--model"),
    (["--input", "missing.mp4"], "--input"),
    (["--omz", "--model", "missing.xml"], "--omz"),
])
def test_bench_pipeline_refuses(args, flag):
    refused(["benchmarks/bench_pipeline.py", *args], flag)


@pytest.mark.parametrize("args, flag", [(["--frames", "0"], "--frames"), (["--frames", "1"], "--frames"),
                                        (["--requests", "0"], "--requests")])
def test_lwpose_bench_refuses_before_reading_the_model(args, flag):
    refused(["-m", "ov_inference.bench", "--model", "missing.xml", *args], f"argument {flag}")


def test_bench_pipeline_reports_a_model_it_cannot_read_in_one_line(tmp_path):
    """A --model that exists but is no IR (no .bin beside it): one error line, exit 2, as lwpose-bench; it was a
    traceback."""
    xml = tmp_path / "broken.xml"
    xml.write_text("<net>not an IR</net>")
    assert ".bin" in refused(["benchmarks/bench_pipeline.py", "--model", str(xml), "--frames", "2", "--rounds", "1"],
                             "broken.xml")


def test_bench_pipeline_refuses_an_image_input(image):
    assert "image" in refused(["benchmarks/bench_pipeline.py", "--input", str(image)], "--input")


@pytest.mark.parametrize("args, flag", [
    (["--rounds", "0"], "--rounds"),
    (["--seconds", "-1"], "--seconds"),
    (["--checkpoint", "missing.pth"], "--checkpoint"),
    (["--val-images", "0"], "--val-images"),
    (["--height", "20"], "--height"),
])
def test_bench_int8_refuses(args, flag):
    line = refused(["benchmarks/bench_int8.py", *args], flag)
    assert "--calib-synthetic" not in line


def test_bench_int8_refuses_a_file_that_is_no_checkpoint(tmp_path):
    """It was a ConversionError traceback, after the AP images were generated."""
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    assert "not a PyTorch checkpoint" in refused(["benchmarks/bench_int8.py", "--checkpoint", str(junk)],
                                                 "--checkpoint")


@pytest.mark.parametrize("script, says", [
    ("bench_quickstart", "--json FILE also write the figures as JSON to FILE"),
    ("bench_train", "--json FILE also write all figures as JSON to FILE"),
    ("bench_decoder", "--json print one JSON object on stdout"),
    ("bench_pipeline", "--json print one JSON object on stdout"),
    ("bench_int8", "--json print the results as one JSON object on stdout"),
])
def test_help_says_what_json_does(script, says):
    done = subprocess.run([sys.executable, f"benchmarks/{script}.py", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert says in " ".join(done.stdout.split()), done.stdout


def test_lwpose_bench_refuses_an_image(tmp_path, image):
    from test_runtime_support import save, tiny_pose_model

    xml = save(tiny_pose_model(), tmp_path / "tiny.xml")
    done = subprocess.run([sys.executable, "-m", "ov_inference.bench", "--model", str(xml), "--input", str(image),
                           "--frames", "2"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "error:" in done.stderr and "is an image, not a video" in done.stderr
    assert "target" not in done.stdout


def test_lwpose_bench_warns_of_a_short_video(tmp_path, capsys, caplog):
    from ov_inference.bench import main, synthesize_clip
    from test_runtime_support import save, tiny_pose_model

    xml = save(tiny_pose_model(), tmp_path / "tiny.xml")
    clip = synthesize_clip(tmp_path / "short.mp4", frames=3, width=320, height=180)
    assert main(["--model", str(xml), "--input", str(clip), "--frames", "6", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["frames"] == 3 and figures["frames_requested"] == 6
    assert any("only 3 frame(s), fewer than --frames 6" in r.getMessage() for r in caplog.records)


def test_bench_int8_json_is_the_whole_stdout(seed_dir):
    """--json: stdout is one JSON object, NNCF's INFO lines and progress bars kept off it (tiny sizes: seconds)."""
    done = subprocess.run([sys.executable, "benchmarks/bench_int8.py", "--checkpoint", str(seed_dir / "checkpoint.pth"),
                           "--val-images", "1", "--calib-images", "2", "--rounds", "1", "--seconds", "0.1",
                           "--height", "64", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["trained_checkpoint"] and result["int8_vs_fp32_f32"] > 0 and "targets" in result
    # the held-out AP is not the one of the images convert chose the INT8 policy on
    assert result["ap_images"] == result["selection_images"] == 1 and "selection_drop_points" in result


def test_bench_pipeline_rounds_without_a_decoded_frame_and_a_precision_given_twice(tmp_path, monkeypatch, capsys):
    """A round with no frame decoded (``None`` percentiles) is left out of the medians (a TypeError before), the
    table shows ``-`` where no round has a figure, and ``--precision default default`` is measured once."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_pipeline

    calls = []

    def fake_run(model, video, frames, precision=None):
        calls.append(precision)
        decoded = len(calls) == 2  # only the second call decodes frames
        return {"video": "v", "frame_size": [64, 48], "model_precision": "FP32", "execution_precision": "f32",
                "num_requests": 2, "frames": frames, "pipeline_over_network": 0.9, "network_fps": 10.0,
                "pipeline_fps": 9.0, "sync_fps": 5.0, "decode_ms_p50": 2.0 if decoded else None,
                "decode_ms_p95": None, "latency_ms_p50": 30.0 if decoded else None}

    monkeypatch.setattr(bench_pipeline, "run_benchmark", fake_run)
    model = tmp_path / "m.xml"
    model.write_text("<net/>")
    assert bench_pipeline.main(["--model", str(model), "--precision", "default", "default", "--rounds", "3"]) == 0
    assert calls == [None] * 3
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 3 and "2.00/-" in table[2] and "30.0" in table[2]
    report = bench_pipeline.measure(bench_pipeline.argparse.Namespace(
        model=model, omz=False, input=None, frames=2, rounds=1, precision=["f32"]))
    assert report["precisions"]["f32"]["decode_ms_p50"] is None
