"""The deployable runtime never imports torch (checked in a fresh interpreter, so other tests cannot mask it), and its
sources keep the project's 120-character lines."""
import subprocess
import sys

RUNTIME_MODULES = [
    "ov_inference", "ov_inference.adapter", "ov_inference.estimator", "ov_inference.pipeline",
    "ov_inference.preprocessing", "ov_inference.tracking", "ov_inference.smoothing", "ov_inference.sources",
    "ov_inference.records", "ov_inference.bench", "ov_inference.__main__", "ov_inference.draw",
    "ov_inference.decoder", "ov_inference.coco", "ov_inference.pose", "ov_inference.progress", "pose_format",
]


def _run_fresh(code: str) -> None:
    """Run ``code`` in a fresh interpreter; it must succeed and print ``ok``."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_import_ov_inference_does_not_import_torch():
    _run_fresh("import sys, importlib\n"
               f"for name in {RUNTIME_MODULES!r}:\n"
               "    importlib.import_module(name)\n"
               "heavy = sorted(m for m in ('torch', 'nncf', 'onnx', 'pycocotools', 'train', 'convert')\n"
               "               if m in sys.modules)\n"
               "assert not heavy, heavy\n"
               "print('ok')\n")


def test_public_api_is_what_all_says():
    import ov_inference

    for name in ov_inference.__all__:
        assert hasattr(ov_inference, name), name
    for name in ("PoseEstimator", "AsyncPipeline", "decode_poses", "Pose", "PoseTracker", "PoseSmoother",
                 "open_source"):
        assert name in ov_inference.__all__


def test_every_runtime_module_all_is_true():
    import importlib

    for name in RUNTIME_MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which it does not define"


def test_synthetic_generator_and_recipe_do_not_import_torch():
    """Generating synthetic people (and reading its recipe, with the paper's constants) needs no torch."""
    _run_fresh("import sys\n"
               "from train.synthetic import SYNTHETIC_RECIPE\n"
               "from train.hyperparams import WEIGHT_DECAY\n"
               "assert SYNTHETIC_RECIPE.weight_decay == WEIGHT_DECAY\n"
               "assert 'torch' not in sys.modules\n"
               "print('ok')\n")


def test_runtime_source_lines_are_at_most_120_characters():
    """The project's line length (120) holds in the deployable runtime's sources."""
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "ov_inference"
    long = [f"{path.name}:{number}" for path in sorted(package.glob("*.py"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if len(line) > 120]
    assert long == []
