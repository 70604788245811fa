"""The demos package: every name in __all__ resolves, importing it stays light, console scripts answer --help."""
import subprocess
import sys

import pytest

import demos


def test_all_names_resolve():
    for name in demos.__all__:
        assert getattr(demos, name) is not None, name
    with pytest.raises(AttributeError):
        demos.no_such_name  # noqa: B018


def test_import_is_light():
    code = "import sys, demos; print('openvino' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


@pytest.mark.parametrize("module", ["demos", "demos.weights", "demos.quickstart", "demos.serve"])
def test_cli_help(module):
    r = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "usage:" in r.stdout and "Traceback" not in r.stderr
