"""Packaging as a runtime-only user sees it: ``pip install lwpose`` pulls only the runtime's dependencies, and every
console script, run without the extras (their modules blocked in a fresh interpreter), either works or stops with a
one-line error naming the extra to install, never a traceback."""
import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Top-level modules that only the extras install (train, convert, demos).
EXTRA_MODULES = ("torch", "torchvision", "nncf", "onnx", "onnxscript", "pycocotools", "tqdm", "matplotlib")


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def _console_scripts() -> dict[str, str]:
    lines = _setup_cfg()["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=", 1)) for line in lines)


def _run_without_extras(target: str, args: list[str], cwd: Path,
                        blocked: tuple[str, ...] = EXTRA_MODULES) -> subprocess.CompletedProcess:
    """Run console-script ``target`` (``module:function``) with ``args`` as if the extras (the ``blocked`` modules)
    were not installed."""
    module, function = target.split(":")
    code = ("import importlib, sys\n"
            f"for name in {blocked!r}:\n"
            "    sys.modules[name] = None  # import name -> ModuleNotFoundError\n"
            f"sys.argv = [{module!r}] + {args!r}\n"
            f"sys.exit(getattr(importlib.import_module({module!r}), {function!r})())\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_install_requires_is_the_runtime_only():
    requires = _setup_cfg()["options"]["install_requires"].split()
    names = sorted(r.split(">")[0].split("=")[0].split("<")[0] for r in requires)
    assert names == ["numpy", "opencv-python", "openvino"]


@pytest.mark.parametrize("script", ["lwpose-train", "lwpose-convert", "lwpose-demo", "lwpose-weights",
                                    "lwpose-quickstart", "lwpose-infer", "lwpose-bench"])
def test_help_without_extras_works_or_names_the_extra(script, tmp_path):
    r = _run_without_extras(_console_scripts()[script], ["--help"], tmp_path)
    assert "Traceback" not in r.stderr, r.stderr
    if r.returncode != 0:
        assert r.returncode == 1 and "pip install 'lwpose[" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_convert_without_extras_names_the_extra(tmp_path, seed_dir):
    r = _run_without_extras(_console_scripts()["lwpose-convert"],
                            ["--checkpoint", str(seed_dir / "checkpoint.pth"), "--output-dir", str(tmp_path / "ir")],
                            tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "pip install 'lwpose[convert]'" in r.stderr, r.stderr
    assert not (tmp_path / "ir").exists()


@pytest.mark.parametrize("module, extras", [("train.__main__", ["train"]), ("convert.__main__", ["convert"]),
                                            ("demos.quickstart", ["train", "convert", "demos"])])
def test_extra_modules_are_the_extra_in_setup_cfg(module, extras):
    import importlib

    modules = importlib.import_module(module).EXTRA_MODULES
    requires = [r for extra in extras for r in _setup_cfg()["options.extras_require"][extra].split()]
    assert sorted(modules) == sorted({r.split(">")[0].split("=")[0] for r in requires})


@pytest.mark.parametrize("module", ["nncf", "matplotlib"])
def test_quickstart_without_any_module_of_its_extras_names_them(module, tmp_path):
    """The quickstart checked only what its own imports pulled in: without matplotlib it trained and converted for
    minutes and failed at the report step (exit status 2); every module is now checked up front, exit status 1 as
    lwpose-train and lwpose-convert."""
    r = _run_without_extras(_console_scripts()["lwpose-quickstart"], ["--out", str(tmp_path / "r")], tmp_path,
                            blocked=(module,))
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("lwpose-quickstart: error: ") and module in r.stderr, r.stderr
    assert "pip install 'lwpose[train,convert,demos]'" in r.stderr, r.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("module", ["torch", "nncf", "onnx", "onnxscript", "pycocotools", "tqdm"])
def test_convert_without_any_module_of_its_extra_names_the_extra(module, tmp_path, seed_dir):
    """A missing module was reported only when the conversion reached it: an FP32 conversion without nncf (INT8
    only), pycocotools (validation only) or onnxscript ran to the end; every module is now checked up front."""
    r = _run_without_extras(_console_scripts()["lwpose-convert"],
                            ["--checkpoint", str(seed_dir / "checkpoint.pth"), "--output-dir", str(tmp_path / "ir"),
                             "--precision", "FP32", "--height", "64", "--width", "64", "--bench-seconds", "0",
                             "--quiet"], tmp_path, blocked=(module,))
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("lwpose-convert: error: ") and module in r.stderr, r.stderr
    assert "pip install 'lwpose[convert]'" in r.stderr, r.stderr
    assert not (tmp_path / "ir").exists()


@pytest.mark.parametrize("module", ["torch", "pycocotools", "tqdm"])
def test_train_without_any_module_of_its_extra_names_the_extra(module, tmp_path, coco_mini_dir):
    """Only a missing torch was caught up front; without pycocotools or tqdm the run started and died mid-way with a
    ModuleNotFoundError traceback."""
    r = _run_without_extras(_console_scripts()["lwpose-train"],
                            ["--train-ann", str(next(coco_mini_dir.glob("*.json"))), "--train-images",
                             str(coco_mini_dir), "--max-iters", "1", "--out-dir", str(tmp_path / "run")],
                            tmp_path, blocked=(module,))
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("lwpose-train: error: ") and module in r.stderr, r.stderr
    assert "pip install 'lwpose[train]'" in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()


def test_demo_without_extras_runs_with_its_progress(tmp_path, omz_xml, coco_mini_dir):
    """tqdm comes with the demos extra; without it the demo still runs (no bar off a terminal) instead of failing."""
    r = _run_without_extras(_console_scripts()["lwpose-demo"],
                            ["--model", str(omz_xml), "--input", str(coco_mini_dir), "--output", str(tmp_path / "out"),
                             "--height", "128"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 4


@pytest.mark.parametrize("script", ["lwpose-infer", "lwpose-bench", "lwpose-train", "lwpose-convert", "lwpose-demo",
                                    "lwpose-weights", "lwpose-quickstart"])
def test_every_console_script_reports_the_package_version(script, tmp_path):
    from pose_format import __version__

    module, function = _console_scripts()[script].split(":")
    code = f"import sys; sys.argv = ['x', '--version']; from {module} import {function}; sys.exit({function}())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0 and r.stdout == f"lwpose {__version__}\n", r.stdout + r.stderr


@pytest.mark.parametrize("script", ["lwpose-infer", "lwpose-bench", "lwpose-train", "lwpose-convert", "lwpose-demo",
                                    "lwpose-weights", "lwpose-quickstart"])
def test_usage_and_errors_name_the_console_script(script, tmp_path):
    """Usage and error lines name the command typed: lwpose-infer, -bench and -train said ``python -m ov_inference``,
    ``python -m ov_inference.bench`` and ``python -m train`` (a hard-coded argparse prog)."""
    module, function = _console_scripts()[script].split(":")
    code = (f"import sys; sys.argv = ['/venv/bin/{script}', '--no-such-option']; from {module} import {function}; "
            f"sys.exit({function}())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = r.stderr.splitlines()
    assert r.returncode != 0 and lines[0].startswith(f"usage: {script} "), r.stderr
    assert lines[-1].startswith(f"{script}: error: "), r.stderr
