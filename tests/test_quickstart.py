"""lwpose-quickstart end to end in a tiny configuration (few images, few iterations, short clip)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from demos.quickstart import (PRECISION_KEYS, REPORT_KEYS, SYNTHETIC_ONLY_FLAGS, QuickstartConfig, _convert,
                              _synthetic_data, _train, main)

TINY = ["--train-images", "12", "--val-images", "4", "--max-iters", "2", "--crop-size", "128", "--batch-size", "2",
        "--calib-size", "6", "--clip-frames", "6", "--bench-seconds", "0.2", "--bench-rounds", "1", "--workers", "0",
        "--quiet"]
#: TINY without the synthetic chain's options, which --checkpoint refuses (nothing is trained)
TINY_CHECKPOINT = [a for flag, value in zip(TINY[0:-1:2], TINY[1::2]) if flag not in SYNTHETIC_ONLY_FLAGS
                   for a in (flag, value)] + ["--quiet"]


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    """No published checkpoint in the cache: the default mode must be the synthetic chain."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _check_report(out, mode):
    report = json.loads((out / "report.json").read_text())
    assert set(REPORT_KEYS) <= report.keys() and report["mode"] == mode
    assert set(report["precisions"]) == set(PRECISION_KEYS)
    for key in PRECISION_KEYS:
        entry = report["precisions"][key]
        assert entry["fps"] > 0 and entry["latency_ms"] > 0
        assert entry["execution_precision"] in ("f32", "bf16", "f16")
        assert 0.0 <= entry["ap"] <= 1.0
    assert report["precisions"]["fp32"]["execution_precision"] == "f32"
    assert report["decode"]["decode_ms_p50"] > 0
    names = [t["name"] for t in report["targets"]]
    assert any("INT8 AP drop" in n for n in names) and any("FPS" in n for n in names)
    assert report["demo"]["frames"] == 6 and report["demo"]["output"] == "demo.mp4"
    assert [s["name"] for s in report["steps"]][-1] == "report"
    assert all(s["seconds"] is not None for s in report["steps"])
    md = (out / "report.md").read_text()
    assert "| IR INT8 |" in md and "speed_accuracy.png" in md
    profile = report["profile"]
    assert profile["fp32_default"]["by_type"]["Convolution"] > 0 and profile["int8"]["total_ms"] > 0
    assert any("I8" in k for k in profile["int8"]["kernels"]) and "## Where the time goes" in md
    assert cv2.imread(str(out / "speed_accuracy.png")) is not None
    cap = cv2.VideoCapture(str(out / "demo.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert not list(out.glob(".quickstart-work-*"))  # the scratch folder is gone
    return report


def test_quickstart_synthetic_tiny_and_cached_rerun(tmp_path, isolated_cache, capsys):
    out, runs = tmp_path / "report", tmp_path / "runs"
    assert main(["--out", str(out), "--runs-dir", str(runs), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "[1/7] synthetic people" in printed and "[7/7] report" in printed and "IR INT8" in printed
    report = _check_report(out, "synthetic")
    assert report["steps"][1]["name"].startswith("train")
    # the same configuration again reuses the data, the training run and the IRs (checked step by step: fast)
    cfg = QuickstartConfig(out=out, runs_dir=runs, train_images=12, val_images=4, max_iters=2, crop_size=128,
                           batch_size=2, calib_size=6, workers=0, progress=False)
    rec = {}
    data = _synthetic_data(cfg, rec)
    assert data["val"][0].is_file()
    ckpt, training = _train(cfg, data, rec)
    assert "reused the cached run" in rec["note"] and str(ckpt) == report["checkpoint"]
    assert training["cached"] and training["iterations"] == report["training"]["iterations"] == 2
    assert not report["training"]["cached"]
    assert {"train", "select", "val"} == data.keys() and data["select"][0] != data["val"][0]
    xmls = _convert(cfg, ckpt, data["train"], data["select"], 192, rec,  # the synthetic AP height
                    max_drop=cfg.int8_max_drop, float_cpm=cfg.int8_float_cpm)
    assert "reused the converted IRs" in rec["note"] and str(xmls["INT8"]) == report["models"]["INT8"]
    # synthetic runs keep the CPM's last convolution in float (the step's note and convert's report say so)
    convert_step = next(s for s in report["steps"] if s["name"].startswith("convert"))
    assert "output heads in float: none; 1 convolution(s) kept in float in all" in convert_step["note"]
    ir_report = json.loads((Path(report["models"]["INT8"]).parents[1] / "report.json").read_text())
    assert ir_report["int8"]["float_cpm"] is True and len(ir_report["int8"]["float_convolutions"]) == 1
    # the IRs are keyed by the checkpoint's content, not its path
    copy = tmp_path / "copy.pth"
    copy.write_bytes(ckpt.read_bytes())
    rec = {}
    assert _convert(cfg, copy, data["train"], data["select"], 192, rec) == xmls and "reused" in rec["note"]
    # --int8-max-drop: NNCF accuracy control on the selection split, other IRs (another cache key)
    rec = {}
    _convert(cfg, ckpt, data["train"], data["select"], 192, rec, max_drop=0.005, float_cpm=True)
    assert "reused" not in rec["note"] and "accuracy control, AP drop <= 0.005 on the selection split" in rec["note"]
    # another training configuration is another run
    assert QuickstartConfig(max_iters=3).train_key() != QuickstartConfig(max_iters=2).train_key()


def test_quickstart_checkpoint_mode_on_real_photos(tmp_path, isolated_cache, seed_dir, coco_mini_dir):
    mine, other = tmp_path / "mine", tmp_path / "other"
    mine.mkdir()
    other.mkdir()
    cv2.imwrite(str(mine / "me.jpg"), cv2.imread(str(seed_dir / "input.png")))
    cv2.imwrite(str(other / "me.jpg"), cv2.imread(str(seed_dir / "input.png"))[:, ::-1])  # same name, another photo
    out = tmp_path / "report"
    (out / "work").mkdir(parents=True)
    (out / "work" / "mine.txt").write_text("a user's file")  # the quickstart's scratch folder is its own
    assert main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--checkpoint",
                 str(seed_dir / "checkpoint.pth"), "--images", str(mine), str(other / "me.jpg"),
                 "--coco-mini", str(coco_mini_dir), "--eval-height", "256", *TINY_CHECKPOINT]) == 0
    report = _check_report(out, "checkpoint")
    assert "train" not in " ".join(s["name"] for s in report["steps"])
    photos = report["demo"]["photos"]
    assert photos["images"] == 6 and (out / "annotated" / "me.jpg").is_file()
    assert (out / "annotated" / "me_1.jpg").is_file()
    convert_step = next(step for step in report["steps"] if step["name"].startswith("convert"))
    assert convert_step["calibration"]["images"] == 6  # both me.jpg calibrate (calib-size 6)
    assert (out / "work" / "mine.txt").read_text() == "a user's file"
    assert not list(out.glob(".quickstart-work-*"))


def test_annotated_photos_of_an_earlier_run_are_replaced_never_a_users_files(tmp_path):
    from demos.quickstart import _install_annotated

    def new_photos(*names):
        folder = tmp_path / "work" / "annotated"
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_bytes(b"jpeg")
        return folder

    dest = tmp_path / "report" / "annotated"
    assert _install_annotated(new_photos("a.jpg", "b.jpg"), dest) == dest
    assert _install_annotated(new_photos("c.jpg"), dest) == dest           # the earlier run's a, b are gone
    assert sorted(p.name for p in dest.iterdir()) == ["c.jpg"]
    assert _install_annotated(None, dest) is None and not dest.exists()    # a run without photos leaves none
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")                                 # not the quickstart's: left alone
    (dest / "old.jpg").write_bytes(b"jpeg")
    placed = _install_annotated(new_photos("d.jpg"), dest)
    assert placed == dest.with_name("annotated-1") and sorted(p.name for p in placed.iterdir()) == ["d.jpg"]
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt", "old.jpg"]
    assert _install_annotated(None, dest) is None and (dest / "notes.txt").is_file()


def test_photos_are_folders_and_files(tmp_path, coco_mini_dir):
    from demos.quickstart import _photos

    one = sorted(coco_mini_dir.glob("*.jpg"))[0]
    assert _photos([coco_mini_dir, one]) == sorted(coco_mini_dir.glob("*.jpg"))  # named twice: once
    assert _photos([one, coco_mini_dir])[0] == one
    assert _photos(one) == [one] and _photos(None) == []
    from demos.quickstart import _unique

    assert _unique(_photos(coco_mini_dir) + _photos([coco_mini_dir])) == sorted(coco_mini_dir.glob("*.jpg"))


def test_photos_of_the_same_name_are_all_copied(tmp_path):
    from demos.quickstart import _copy_photos

    for folder, value in (("a", 10), ("b", 20), ("c", 30)):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "x.png"), np.full((8, 8, 3), value, np.uint8))
    dest = _copy_photos([tmp_path / f / "x.png" for f in "abc"], tmp_path / "dest")
    assert sorted(p.name for p in dest.iterdir()) == ["x.png", "x_1.png", "x_2.png"]
    assert cv2.imread(str(dest / "x_2.png"))[0, 0, 0] == 30


def test_quickstart_bad_input_is_explained(tmp_path, isolated_cache, capsys):
    assert main(["--out", str(tmp_path / "r"), "--checkpoint", str(tmp_path / "missing.pth"), "--quiet"]) == 2
    assert "missing.pth: not found" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "r"), "--checkpoint", str(tmp_path), "--quiet"]) == 2
    assert f"--checkpoint {tmp_path}: is a folder, expected a checkpoint file" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "r"), "--images", str(tmp_path / "nope"), "--quiet"]) == 2
    assert "is not a folder (give folders or image files)" in capsys.readouterr().err
    for flag, value, message in (("--train-minutes", "0", "--train-minutes must be a positive"),
                                 ("--max-iters", "-1", "--max-iters must be at least 1"),
                                 ("--adam-beta2", "1", "--adam-beta2 must be in [0, 1)"),
                                 ("--num-refinement-stages", "-1", "--num-refinement-stages must be 0 or more"),
                                 ("--clip-frames", "0", "--clip-frames must be at least 1"),
                                 ("--lr", "-1", "--lr must be > 0"),
                                 ("--seed", "-3", "--seed must be >= 0"),
                                 ("--ema", "1.5", "--ema must be in [0, 1)"),
                                 ("--scale-min", "2", "--scale-min / --scale-max must be positive with min <= max"),
                                 ("--target-dist", "0", "--target-dist must be > 0"),
                                 ("--val-images", "0", "--val-images must be at least 1"),
                                 ("--train-images", "0", "--train-images must be at least 1"),
                                 ("--eval-height", "100", "--eval-height must be a multiple of 8"),
                                 ("--crop-size", "100", "--crop-size must be a multiple of 8"),
                                 ("--bench-seconds", "nan", "--bench-seconds must be a positive"),
                                 ("--calib-size", "0", "--calib-size must be at least 1"),
                                 ("--int8-max-drop", "1", "--int8-max-drop must be an absolute AP drop in [0, 1)"),
                                 ("--int8-max-drop", "nan", "--int8-max-drop must be an absolute AP drop in [0, 1)"),
                                 ("--out", str(__file__), "is a file, expected a folder"),
                                 ("--runs-dir", f"{__file__}/runs", "is a file, expected a folder"),
                                 ("--out", "", "--out: empty: give a folder"),  # was the current folder
                                 ("--runs-dir", "", "--runs-dir: empty: give a folder")):
        with pytest.raises(SystemExit) as stop:  # refused at once, before any data is generated
            main(["--out", str(tmp_path / "r0"), "--runs-dir", str(tmp_path / "cache0"), flag, value, "--quiet"])
        assert stop.value.code == 2 and message in capsys.readouterr().err
        assert not (tmp_path / "cache0").exists() and not (tmp_path / "r0").exists()


def test_checkpoint_mode_refuses_the_synthetic_chains_options(tmp_path, isolated_cache, seed_dir, capsys):
    """--checkpoint skips training: --synthetic and the training options would be silently ignored, so they are
    refused at once, named, before anything is written (--seed still seeds the demo clip: accepted)."""
    ckpt = str(seed_dir / "checkpoint.pth")
    for extra in (["--synthetic"], ["--train-minutes", "1", "--lr", "0.001"], ["--int8-max-drop", "0.01"],
                  ["--threads", "1"]):
        with pytest.raises(SystemExit) as stop:
            main(["--out", str(tmp_path / "r"), "--runs-dir", str(tmp_path / "cache"), "--checkpoint", ckpt,
                  *extra, "--quiet"])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "apply only to the synthetic chain" in err
        assert all(flag in err for flag in extra if flag.startswith("--"))
        assert not (tmp_path / "cache").exists() and not (tmp_path / "r").exists()
    from demos.quickstart import build_parser, check_args

    check_args(build_parser().parse_args(["--checkpoint", ckpt, "--seed", "7", "--eval-height", "256"]))


def test_quickstart_and_benchmark_train_with_the_whole_recipe(tmp_path, monkeypatch):
    """Every training field of SYNTHETIC_RECIPE reaches the quickstart's config, its cache key and the benchmark's
    command line (so a recipe change cannot silently skip one of them)."""
    import dataclasses
    import importlib.util
    from pathlib import Path

    from train.synthetic import SYNTHETIC_RECIPE, SyntheticRecipe

    qs = QuickstartConfig()
    from demos.quickstart import build_parser as quickstart_parser, config_from_args as quickstart_config

    assert quickstart_config(quickstart_parser().parse_args([])) == qs  # the CLI's defaults are the recipe's
    assert quickstart_config(quickstart_parser().parse_args(["--max-rotation", "7"])).max_rotation == 7
    assert quickstart_config(quickstart_parser().parse_args(["--ema", "0.99"])).ema_decay == 0.99
    for f in dataclasses.fields(SyntheticRecipe):
        if f.name in ("scene", "val_images", "eval_height"):
            continue
        assert getattr(qs, f.name) == getattr(SYNTHETIC_RECIPE, f.name), f.name
        value = getattr(qs, f.name)
        other = (not value if isinstance(value, bool) else value + (1,) if isinstance(value, tuple)
                 else ("step" if value == "linear" else "linear") if isinstance(value, str) else value + 1)
        changed = dataclasses.replace(qs, **{f.name: other})
        assert changed.train_key() != qs.train_key(), f.name
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_train", root / "benchmarks" / "bench_train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from train.__main__ import build_parser, config_from_args

    tc = config_from_args(build_parser().parse_args(bench.synthetic_command(Path("d"), Path("o"), 60, 10, 2)))
    # experiments override recipe fields by name, typed like the field
    changed = bench.recipe_with(["lr=3e-3", "milestones=13,19", "amp=false", "warmup_iters=200", "lr_schedule=step"])
    xc = config_from_args(build_parser().parse_args(bench.synthetic_command(Path("d"), Path("o"), 60, 10, 2, changed)))
    assert (xc.base_lr, xc.milestones, xc.amp, xc.warmup_iters, xc.lr_schedule) == (3e-3, (13, 19), False, 200, "step")
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        bench.recipe_with(["no_such_field=1"])
    r = SYNTHETIC_RECIPE
    assert (tc.crop_size, tc.batch_size, tc.base_lr, tc.lr_multipliers, tc.warmup_iters, tc.milestones,
            tc.lr_schedule, tc.target_dist, tc.scale_range, tc.center_jitter, tc.max_rotation, tc.foreground_weight,
            tc.weight_decay, tc.adam_beta2, tc.ema_decay, tc.seed) == (
        r.crop_size, r.batch_size, r.lr, r.lr_multipliers, r.warmup_iters, r.milestones, r.lr_schedule,
        r.target_dist, (r.scale_min, r.scale_max), r.center_jitter, r.max_rotation, r.foreground_weight,
        r.weight_decay, r.adam_beta2, r.ema_decay, 0)
    assert config_from_args(build_parser().parse_args(
        bench.synthetic_command(Path("d"), Path("o"), 60, 10, 2, seed=3))).seed == 3
    fixed = config_from_args(build_parser().parse_args(bench.synthetic_command(Path("d"), Path("o"), 60, 10, 2,
                                                                               max_iters=50)))
    assert (fixed.max_iters, fixed.time_limit, tc.max_iters, tc.time_limit) == (50, None, None, 60)
    assert tc.num_refinement_stages == SYNTHETIC_RECIPE.num_refinement_stages
    # ... and the quickstart's own training run gets the same configuration
    import train.trainer

    class Captured(Exception):
        pass

    def capture(cfg):
        raise Captured(cfg)

    monkeypatch.setattr(train.trainer, "train", capture)
    # the benchmark trains with the seed it is given (the data's own seeds once replaced it: every run had seed 1000)
    import train.synthetic

    def tiny_dataset(out, n, seed, cfg):
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "annotations.json").write_text("{}")

    monkeypatch.setattr(train.synthetic, "generate_dataset", tiny_dataset)
    with pytest.raises(Captured) as got:
        bench.bench_synthetic(tmp_path / "bench", 60, 10, 2, seed=3)
    assert got.value.args[0].seed == 3 and got.value.args[0].time_limit == 60
    with pytest.raises(Captured) as got:
        _train(dataclasses.replace(qs, runs_dir=tmp_path), {"train": (Path("a.json"), Path("img"))}, {})
    qc = got.value.args[0]
    for name in ("crop_size", "batch_size", "base_lr", "lr_multipliers", "warmup_iters", "milestones", "lr_schedule",
                 "target_dist", "scale_range", "center_jitter", "max_rotation", "foreground_weight", "weight_decay",
                 "adam_beta2", "ema_decay", "num_refinement_stages", "amp"):
        assert getattr(qc, name) == getattr(tc, name), name


@pytest.fixture(scope="module")
def unsafe_checkpoint(tmp_path_factory, seed_dir):
    """The seed weights plus an object torch.load(weights_only=True) refuses (an argparse.Namespace)."""
    import argparse

    import torch

    ckpt = torch.load(seed_dir / "checkpoint.pth", map_location="cpu", weights_only=True)
    path = tmp_path_factory.mktemp("unsafe") / "unsafe.pth"
    torch.save({**ckpt, "args": argparse.Namespace(lr=1e-3)}, path)
    return path


def test_checkpoint_of_another_architecture_or_truncated_stops_before_any_step(tmp_path, isolated_cache, seed_dir,
                                                                                capsys):
    import torch

    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(10, 4), "fc.bias": torch.zeros(10)}}, other)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes((seed_dir / "checkpoint.pth").read_bytes()[:200_000])
    html = tmp_path / "page.pth"
    html.write_text("<!DOCTYPE html><html><body>Not found</body></html>")
    for path, says in ((other, "no key matches"), (truncated, "could not be read"), (html, "not a PyTorch checkpoint")):
        out = tmp_path / f"r-{path.stem}"
        assert main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--checkpoint", str(path),
                     "--quiet"]) == 2
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.startswith("lwpose-quickstart: error: ") and "\n" not in err, err
        assert str(path) in err and says in err, err
        assert "Traceback" not in captured.err and "[1/" not in captured.out  # no step started
        assert not out.exists() and not (tmp_path / "runs").exists()


def test_allow_unsafe_checkpoint_reaches_every_loader(tmp_path, isolated_cache, unsafe_checkpoint, coco_mini_dir,
                                                      monkeypatch, capsys):
    import convert
    from convert.errors import ConversionError
    from demos.measure import torch_speed
    from demos.quickstart import build_parser, check_checkpoint, config_from_args
    from train.checkpoint import CheckpointError

    common = ["--out", str(tmp_path / "r"), "--runs-dir", str(tmp_path / "runs"), "--checkpoint",
              str(unsafe_checkpoint), "--coco-mini", str(coco_mini_dir), "--quiet"]
    # refused without the flag, before any step, with the flag named
    assert main(common) == 2
    captured = capsys.readouterr()
    assert "--allow-unsafe-checkpoint" in captured.err and "[1/" not in captured.out
    assert config_from_args(build_parser().parse_args(common)).allow_unsafe_checkpoint is False
    assert config_from_args(build_parser().parse_args([*common, "--allow-unsafe-checkpoint"])).allow_unsafe_checkpoint
    check_checkpoint(unsafe_checkpoint, allow_unsafe=True)
    # the PyTorch speed / AP loaders take it too
    with pytest.raises(CheckpointError, match="allow-unsafe-checkpoint"):
        torch_speed(unsafe_checkpoint, seconds=0.0)
    assert torch_speed(unsafe_checkpoint, seconds=0.0, allow_unsafe=True)["fps"] > 0
    # with the flag the early check passes and convert gets it; a ConversionError there is one line, exit 2
    seen = []

    def fake_conversion(options):
        seen.append(options)
        raise ConversionError("cannot load checkpoint x.pth:\n  something the converter met")

    monkeypatch.setattr(convert, "run_conversion", fake_conversion)
    assert main([*common, "--allow-unsafe-checkpoint"]) == 2
    captured = capsys.readouterr()
    assert len(seen) == 1 and seen[0].allow_unsafe_checkpoint is True
    assert "[1/6] real photos" in captured.out and "Traceback" not in captured.err
    assert captured.err.strip() == ("lwpose-quickstart: error: cannot load checkpoint x.pth: something the converter "
                                    "met")


def test_converted_irs_of_photos_are_reused_whatever_their_scratch_folder(tmp_path, seed_dir, monkeypatch):
    """Checkpoint mode calibrates on photos copied into each run's own scratch folder: the IR cache is keyed by the
    photos (names and sizes), not by that folder's random path, so a second run reuses the IRs."""
    import convert

    conversions = []

    def fake_conversion(options):
        conversions.append(options)
        for precision in ("FP32", "INT8"):
            (options.output_dir / precision).mkdir(parents=True, exist_ok=True)
            (options.output_dir / precision / "lwpose.xml").write_text("<net/>")
        (options.output_dir / "report.json").write_text(json.dumps({"int8": {"calibration": {"images": 1}}}))
        return {"int8": {"heads": "int8", "float_convolutions": [], "calibration": {"images": 1}}}

    monkeypatch.setattr(convert, "run_conversion", fake_conversion)
    cfg = QuickstartConfig(runs_dir=tmp_path / "runs", progress=False)
    photo = cv2.imread(str(seed_dir / "input.png"))
    xmls = []
    for scratch in ("run1", "run2"):
        calib = tmp_path / scratch / "calib"
        calib.mkdir(parents=True)
        cv2.imwrite(str(calib / "me.png"), photo)
        rec = {}
        xmls.append(_convert(cfg, seed_dir / "checkpoint.pth", calib, None, 256, rec))
    assert len(conversions) == 1 and "reused the converted IRs" in rec["note"] and xmls[0] == xmls[1]


def test_a_cut_short_training_record_retrains_instead_of_failing(tmp_path, monkeypatch):
    """A ``quickstart.json`` left empty (a full disk, a crash while writing) is no finished run: the run is trained
    again and the record rewritten, where every later call used to stop at 'Expecting value: line 1 column 1'."""
    import types

    import train.trainer

    def fake_train(tc):
        tc.out_dir.mkdir(parents=True, exist_ok=True)
        (tc.out_dir / "checkpoint_last.pth").write_bytes(b"weights")
        return types.SimpleNamespace(checkpoint=tc.out_dir / "checkpoint_last.pth", iteration=3, train_seconds=1.0,
                                     last_loss=0.5)

    monkeypatch.setattr(train.trainer, "train", fake_train)
    cfg = QuickstartConfig(runs_dir=tmp_path, max_iters=3, progress=False)
    run = tmp_path / f"quickstart-{cfg.train_key()}"
    run.mkdir()
    (run / "checkpoint_last.pth").write_bytes(b"weights")
    (run / "quickstart.json").write_text("")
    rec = {}
    ckpt, training = _train(cfg, {"train": (Path("a.json"), Path("img"))}, rec)
    assert not training["cached"] and ckpt == run / "checkpoint_last.pth"
    assert json.loads((run / "quickstart.json").read_text())["iterations"] == 3
    ckpt, training = _train(cfg, {"train": (Path("a.json"), Path("img"))}, rec)  # now a finished run: reused
    assert training["cached"] and "reused the cached run" in rec["note"]


def _stub_heavy_steps(monkeypatch):
    """The quickstart's conversion, speed and demo steps replaced by instant stand-ins (their figures made up)."""
    import demos.quickstart as qs

    def fake_convert(cfg, checkpoint, calib, select, height, record, **kw):
        return {p: Path(f"{p}/lwpose.xml") for p in ("FP32", "INT8")}

    def fake_speed(cfg, checkpoint, xmls, record):
        one = {"fps": 10.0, "latency_ms": 100.0, "execution_precision": "f32", "requests": 2}
        return {"pytorch": one, "fp32": one, "fp32_default": one, "int8": {**one, "fps": 20.0}}

    def fake_demo(cfg, xml, photos, clip_height, work, record, shared=()):
        (work / "demo.mp4").write_bytes(b"")
        return {"output": "demo.mp4", "frames": 6, "fps": 5.0, "decode_ms_p50": 2.5, "people_mean": 1.0}

    monkeypatch.setattr(qs, "_convert", fake_convert)
    monkeypatch.setattr(qs, "_speed", fake_speed)
    monkeypatch.setattr(qs, "_demo", fake_demo)


def _stub_synthetic_chain(monkeypatch, tmp_path, cached=False):
    """A synthetic-mode quickstart with every step stubbed: no data generated, a training of 2 iterations (reused
    from the cache when ``cached``), the heavy steps of :func:`_stub_heavy_steps`."""
    import demos.quickstart as qs

    _stub_heavy_steps(monkeypatch)
    monkeypatch.setattr(qs, "_synthetic_data", lambda cfg, rec: {k: (tmp_path / "a.json", tmp_path)
                                                                 for k in ("train", "select", "val")})
    training = {"run": "runs/x", "cached": cached, "iterations": 2, "train_seconds": 1.0, "seconds_per_iter": 0.5,
                "last_loss": 1.0, "crop_size": 128, "batch_size": 2}
    monkeypatch.setattr(qs, "_train", lambda cfg, data, rec: (tmp_path / "x.pth", training))


def _run_without_annotations(tmp_path, seed_dir, monkeypatch) -> Path:
    """A checkpoint-mode quickstart (stubbed heavy steps) on one photo of the user's, without annotated photos."""
    _stub_heavy_steps(monkeypatch)
    (tmp_path / "mine").mkdir()
    cv2.imwrite(str(tmp_path / "mine" / "me.jpg"), cv2.imread(str(seed_dir / "input.png")))
    out = tmp_path / "report"
    assert main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--checkpoint",
                 str(seed_dir / "checkpoint.pth"), "--images", str(tmp_path / "mine"), "--coco-mini",
                 str(tmp_path / "nothing"), "--quiet"]) == 0
    return out


def test_photos_without_annotations_number_their_five_steps_from_the_first(tmp_path, isolated_cache, seed_dir,
                                                                          monkeypatch, capsys):
    """Checkpoint mode without annotated photos has no AP step: '[1/6] real photos', '[2/6] convert' were followed
    by '[3/5] speed' (the total dropped once the missing step was passed)."""
    _run_without_annotations(tmp_path, seed_dir, monkeypatch)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    assert {ln.split("]")[0] for ln in lines} == {f"[{i}/5" for i in range(1, 6)}


def test_a_decode_time_from_the_demo_clip_counts_its_frames(tmp_path, isolated_cache, seed_dir, monkeypatch):
    """Without annotated photos the decode time comes from the demo clip: report.json said 'frames': 0 beside that
    median, and report.md named no source and printed '95th percentile -'."""
    out = _run_without_annotations(tmp_path, seed_dir, monkeypatch)
    report = json.loads((out / "report.json").read_text())
    assert report["decode"]["source"] == "demo clip" and report["decode"]["frames"] == 6
    md = (out / "report.md").read_text()
    assert "Median decode time 2.50 ms per frame over 6 frames of the demo clip." in md


def test_users_photos_keep_their_names_and_an_unreadable_one_is_named_by_its_path(tmp_path, isolated_cache, seed_dir,
                                                                                   coco_mini_dir, omz_xml, monkeypatch,
                                                                                   caplog):
    """A photo of the user's named as a coco_mini one became NAME_1.jpg in annotated/ (which one was the user's?),
    and an unreadable one was reported by its copy's path in the deleted scratch folder."""
    import demos.quickstart as qs

    real_demo = qs._demo
    _stub_heavy_steps(monkeypatch)
    monkeypatch.setattr(qs, "_demo", real_demo)  # annotates the photos for real, with Intel's OMZ IR
    monkeypatch.setattr(qs, "_convert", lambda *args, **kw: {"FP32": omz_xml, "INT8": omz_xml})
    monkeypatch.setattr(qs, "_accuracy", lambda *args, **kw: None)
    coco_photo = sorted(coco_mini_dir.glob("*.jpg"))[0]
    mine = tmp_path / "mine"
    mine.mkdir()
    cv2.imwrite(str(mine / coco_photo.name), cv2.imread(str(seed_dir / "input.png")))
    (mine / "bad.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "report"
    assert main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--checkpoint",
                 str(seed_dir / "checkpoint.pth"), "--images", str(mine), "--coco-mini", str(coco_mini_dir),
                 "--clip-frames", "2", "--quiet"]) == 0
    names = sorted(p.name for p in (out / "annotated").iterdir())
    coco_names = sorted(qs.SHARED_PHOTO_PREFIX + p.name for p in coco_mini_dir.glob("*.jpg"))
    assert names == sorted([coco_photo.name, *coco_names])
    report = json.loads((out / "report.json").read_text())
    assert any(str(mine / "bad.jpg") in note for note in report["notes"])
    assert str(mine / "bad.jpg") in caplog.text and ".quickstart-work-" not in caplog.text
    assert report["demo"]["photos"]["skipped"] == 0


def test_ctrl_c_during_the_demo_stops_the_quickstart(tmp_path, isolated_cache, seed_dir, coco_mini_dir, monkeypatch):
    """run_demo ends quietly on Ctrl+C (summary.interrupted): the quickstart went on and wrote a report of the cut
    clip, exit status 0, as if the run had completed."""
    import demos.live
    import demos.quickstart as qs
    from demos.live import DemoSummary

    real_demo = qs._demo
    _stub_heavy_steps(monkeypatch)
    monkeypatch.setattr(qs, "_demo", real_demo)
    monkeypatch.setattr(qs, "_accuracy", lambda *args, **kw: None)
    monkeypatch.setattr(demos.live, "run_demo", lambda options: DemoSummary(frames=1, interrupted=True))
    out = tmp_path / "report"
    assert main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--checkpoint",
                 str(seed_dir / "checkpoint.pth"), "--coco-mini", str(coco_mini_dir), "--clip-frames", "2",
                 "--quiet"]) == 130
    assert not (out / "report.json").exists() and not (out / "report.md").exists()


def test_a_run_stopped_before_the_report_step_leaves_the_earlier_report_folder_as_it_was(tmp_path, isolated_cache,
                                                                                        seed_dir, coco_mini_dir,
                                                                                        monkeypatch):
    """The demo wrote demo.mp4 straight into --out: a run stopped after the demo step (Ctrl+C, a failure) left its
    clip beside the earlier run's report.md / report.json, which described another clip."""
    import demos.live
    import demos.quickstart as qs
    from demos.live import DemoSummary

    real_demo = qs._demo
    _stub_heavy_steps(monkeypatch)
    monkeypatch.setattr(qs, "_demo", real_demo)
    monkeypatch.setattr(qs, "_accuracy", lambda *args, **kw: None)
    out = tmp_path / "report"
    args = ["--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--checkpoint", str(seed_dir / "checkpoint.pth"),
            "--coco-mini", str(coco_mini_dir), "--clip-frames", "2", "--quiet"]

    def run(clip: bytes) -> int:
        def fake_run_demo(options):
            Path(options.output).write_bytes(clip) if options.output.suffix else options.output.mkdir()
            return DemoSummary(frames=2)
        monkeypatch.setattr(demos.live, "run_demo", fake_run_demo)
        return main(args)

    assert run(b"first") == 0
    report = (out / "report.json").read_text()
    assert (out / "demo.mp4").read_bytes() == b"first" and (out / "annotated").is_dir()
    monkeypatch.setattr(qs, "_assemble", lambda *args, **kw: (_ for _ in ()).throw(KeyboardInterrupt))
    assert run(b"second") == 130
    assert (out / "demo.mp4").read_bytes() == b"first" and (out / "report.json").read_text() == report
    assert sorted(p.name for p in out.iterdir()) == ["annotated", "demo.mp4", "report.json", "report.md",
                                                     "speed_accuracy.png"]


@pytest.mark.parametrize("cached", [True, False])
def test_the_time_target_is_not_met_by_a_training_reused_from_the_cache(tmp_path, isolated_cache, monkeypatch, capsys,
                                                                          cached):
    """A rerun that reused the cached training took seconds and reported 'quickstart minutes <= 15: yes' (OK on the
    console), though that target times the whole chain from a cold cache: it is n/a then, with a note."""
    import demos.quickstart as qs

    _stub_synthetic_chain(monkeypatch, tmp_path, cached)
    monkeypatch.setattr(qs, "_accuracy", lambda *args, **kw: None)
    out = tmp_path / "report"
    assert main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), *TINY]) == 0
    target = json.loads((out / "report.json").read_text())["targets"][-1]
    assert target["name"] == "quickstart minutes <= 15" and target["met"] is (None if cached else True)
    printed = capsys.readouterr().out
    assert "AP %" in printed  # the console's AP is in percent (report.json: 0..1), as report.md says
    assert ("n/a  quickstart minutes <= 15" in printed) is cached
    assert ("OK   quickstart minutes <= 15" in printed) is not cached
    row = next(ln for ln in (out / "report.md").read_text().splitlines() if ln.startswith("| quickstart minutes"))
    assert row.endswith("| n/a |" if cached else "| yes |")


def test_sigterm_stops_the_quickstart_like_ctrl_c(tmp_path, isolated_cache, seed_dir, coco_mini_dir):
    """kill / timeout / docker stop killed the quickstart outright (exit status 143, no message), leaving its
    .quickstart-work-* scratch folder in --out; like lwpose-convert and lwpose-demo it now stops as on Ctrl+C."""
    import os
    import subprocess
    import sys

    out = tmp_path / "report"
    script = ("import os, signal, sys, time\n"
              "import demos.quickstart as qs\n"
              "qs._convert = lambda *a, **k: {p: None for p in ('FP32', 'INT8')}\n"
              "qs._accuracy = lambda *a, **k: None\n"
              "qs._speed = lambda *a, **k: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(30))\n"
              "sys.exit(qs.main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", script, "--out", str(out), "--runs-dir", str(tmp_path / "runs"),
                           "--checkpoint", str(seed_dir / "checkpoint.pth"), "--coco-mini", str(coco_mini_dir),
                           "--quiet"], capture_output=True, text=True, timeout=120, env=os.environ)
    assert proc.returncode == 130 and "interrupted" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not list(out.glob(".quickstart-work-*"))


def test_a_step_stopped_by_ctrl_c_or_an_error_does_not_read_as_finished(capsys):
    """Ctrl+C during training printed '[2/7] train (PyTorch): 7.2 s  [total 8 s]', the line of a finished step."""
    from demos.quickstart import _Steps

    steps = _Steps(2)
    for exc in (KeyboardInterrupt, OSError):
        with pytest.raises(exc), steps.step("train (PyTorch)"):
            raise exc
    lines = [ln for ln in capsys.readouterr().out.splitlines() if " s " in ln]
    assert "train (PyTorch): 0.0 s (interrupted)" in lines[0] and "(failed: OSError)" in lines[1]


@pytest.mark.parametrize("cache", [True, False])
def test_the_interrupt_message_says_what_a_rerun_reuses(tmp_path, isolated_cache, monkeypatch, capsys, cache):
    """Ctrl+C said 'finished steps are cached ... run again to continue': an interrupted training starts over, and
    with --no-cache nothing is reused."""
    import demos.quickstart as qs

    monkeypatch.setattr(qs, "_synthetic_data", lambda cfg, rec: {"val": None, "train": None, "select": None})
    monkeypatch.setattr(qs, "_train", lambda cfg, data, rec: (_ for _ in ()).throw(KeyboardInterrupt))
    args = ["--out", str(tmp_path / "r"), "--runs-dir", str(tmp_path / "runs"), *TINY]
    assert main(args if cache else [*args, "--no-cache"]) == 130
    err = capsys.readouterr().err
    assert "run again to continue" not in err
    assert ("a training cut short starts over" in err) is cache and ("a rerun starts over" in err) is not cache


@pytest.mark.parametrize("max_iters", [2, 50])
def test_the_barely_learned_note_names_the_limit_that_stopped_training(tmp_path, isolated_cache, monkeypatch,
                                                                       max_iters):
    """The note suggested more --train-minutes even when --max-iters had stopped the training."""
    import demos.quickstart as qs

    _stub_synthetic_chain(monkeypatch, tmp_path)
    monkeypatch.setattr(qs, "_accuracy", lambda *args, **kw: {k: {"AP": 0.01} for k in PRECISION_KEYS})
    out = tmp_path / "report"
    assert main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), *TINY, "--max-iters", str(max_iters)]) == 0
    note = next(n for n in json.loads((out / "report.json").read_text())["notes"] if "barely learned" in n)
    assert ("give more --max-iters" in note) is (max_iters == 2)
    assert ("--train-minutes" in note) is (max_iters != 2)


def test_the_training_cache_key_is_the_recipe_not_workers_or_threads():
    """--workers / --threads change speed and data-loading randomness, not the recipe; a time-limited training is
    not bit-identical between runs anyway, so the cached run is reused with other ones (README says so)."""
    key = QuickstartConfig().train_key()
    assert QuickstartConfig(workers=3).train_key() == key and QuickstartConfig(threads=1).train_key() == key
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "not `--workers` / `--threads`" in readme


def test_the_time_target_is_not_graded_in_checkpoint_mode(tmp_path, isolated_cache, seed_dir, monkeypatch, capsys):
    """--checkpoint trains nothing, yet the report graded 'quickstart minutes <= 15' (OK / yes): n/a, with a note."""
    out = _run_without_annotations(tmp_path, seed_dir, monkeypatch)
    report = json.loads((out / "report.json").read_text())
    target = report["targets"][-1]
    assert target["name"] == "quickstart minutes <= 15" and target["met"] is None
    assert any("checkpoint mode trains nothing" in n for n in report["notes"])
    assert "n/a  quickstart minutes <= 15" in capsys.readouterr().out


def test_a_demo_that_writes_no_clip_gives_a_report_that_says_so(tmp_path, isolated_cache, seed_dir, monkeypatch):
    """A demo step that wrote no clip stopped the run at the report step with '[Errno 2] No such file or directory'
    (exit status 2): the report is written, without the clip, and says so."""
    import demos.quickstart as qs

    _stub_heavy_steps(monkeypatch)
    monkeypatch.setattr(qs, "_demo", lambda *args, **kw: {"output": "demo.mp4", "frames": 0, "fps": 0.0})
    monkeypatch.setattr(qs, "_accuracy", lambda *args, **kw: None)
    out = tmp_path / "report"
    out.mkdir()
    (out / "demo.mp4").write_bytes(b"an earlier run's clip")
    (out / "report.json").write_text(json.dumps({"title": qs.REPORT_TITLE}))
    assert main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--checkpoint",
                 str(seed_dir / "checkpoint.pth"), "--coco-mini", str(tmp_path / "nothing"), "--images",
                 str(seed_dir / "input.png"), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["demo"]["output"] is None and not (out / "demo.mp4").exists()
    assert any("the demo wrote no clip" in n for n in report["notes"])
    assert "No clip written: 0 frames" in (out / "report.md").read_text()


def test_scratch_folders_of_dead_runs_are_removed_and_an_empty_out_it_made_is_too(tmp_path, isolated_cache, seed_dir,
                                                                                  monkeypatch):
    """A .quickstart-work-* folder left by kill -9 or a crash stayed in --out for good, and a run interrupted on its
    first use of --out left that folder behind, empty. Scratch folders are named <pid>@<host>: a later run removes
    those of this machine's processes that are gone, and nothing else."""
    import os

    import demos.quickstart as qs
    from convert.leftovers import host_name

    def run(out):
        return main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--checkpoint",
                     str(seed_dir / "checkpoint.pth"), "--images", str(seed_dir / "input.png"), "--coco-mini",
                     str(tmp_path / "nothing"), "--quiet"])

    out = tmp_path / "report"
    dead = out / f".quickstart-work-999999999@{host_name()}-abc"
    alive = out / f".quickstart-work-{os.getppid()}@{host_name()}-abc"
    elsewhere = out / ".quickstart-work-999999999@another_host-abc"
    for folder in (dead, alive, elsewhere):
        folder.mkdir(parents=True)
    _stub_heavy_steps(monkeypatch)
    fake_demo, seen = qs._demo, []
    monkeypatch.setattr(qs, "_demo", lambda *args, **kw: seen.append(args[4]) or fake_demo(*args, **kw))
    assert run(out) == 0
    assert not dead.exists() and alive.is_dir() and elsewhere.is_dir()
    assert qs.WORK_NAME.fullmatch(seen[0].name)["pid"] == str(os.getpid())
    # interrupted before writing anything: the --out this run created is gone, one it did not create stays
    monkeypatch.setattr(qs, "_convert", lambda *args, **kw: (_ for _ in ()).throw(KeyboardInterrupt))
    assert run(tmp_path / "fresh") == 130 and not (tmp_path / "fresh").exists()
    # so are its parents that it created (as lwpose-demo and lwpose-weights do: ov_inference.output_paths)
    assert run(tmp_path / "new" / "deep" / "r") == 130 and not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    assert run(tmp_path / "mine") == 130 and (tmp_path / "mine").is_dir()


def test_out_on_a_folder_of_files_named_as_the_report_is_refused_unless_it_is_an_earlier_report(tmp_path,
                                                                                                  isolated_cache,
                                                                                                  capsys):
    """--out on a folder of the user's own demo.mp4 / report.md silently replaced them: refused at once, the files
    named; a folder holding an earlier quickstart report is replaced as before (other files are left alone)."""
    from demos.quickstart import REPORT_TITLE, build_parser, check_args

    out = tmp_path / "videos"
    out.mkdir()
    (out / "demo.mp4").write_bytes(b"my holiday")
    (out / "report.md").write_text("my notes")
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "holds report.md, demo.mp4 and no earlier quickstart report" in err
    assert (out / "demo.mp4").read_bytes() == b"my holiday" and not (tmp_path / "runs").exists()
    (out / "report.json").write_text(json.dumps({"title": "another tool"}))
    with pytest.raises(ValueError, match="report.json"):
        check_args(build_parser().parse_args(["--out", str(out)]))
    (out / "report.json").write_text(json.dumps({"title": REPORT_TITLE}))
    check_args(build_parser().parse_args(["--out", str(out)]))  # an earlier run's report: replaced
