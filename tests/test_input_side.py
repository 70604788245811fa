"""One rule for a network input side (height, width, training crop) everywhere: a multiple of 8, at least 16, at
most 4096."""
import argparse

import pytest

from pose_format import MAX_INPUT_SIDE, MIN_INPUT_SIDE, STRIDE, check_input_side, input_side_error
from pose_format.cli_types import input_height_type


@pytest.mark.parametrize("value", [16, 24, 192, 256, 368, 1024, 4096])
def test_valid_sides(value):
    assert input_side_error(value) is None
    assert check_input_side(value, "--height") == value
    assert input_height_type(str(value)) == value


@pytest.mark.parametrize("value", [0, -8, 8, 12, 100, 257])
def test_invalid_sides_get_one_wording(value):
    expected = f"must be a multiple of {STRIDE} and >= {MIN_INPUT_SIDE}, got {value}"
    assert input_side_error(value) == expected
    with pytest.raises(ValueError, match=f"^--crop-size {expected}$"):
        check_input_side(value, "--crop-size")
    with pytest.raises(KeyError):  # the caller's error type
        check_input_side(value, "x", KeyError)
    with pytest.raises(argparse.ArgumentTypeError, match=expected):
        input_height_type(str(value))


@pytest.mark.parametrize("value", [4104, 10 ** 6])
def test_absurdly_large_sides_are_refused(value):
    """A finite but absurd side (``--height 1000000``, ``--scales 1e6``) ran OpenCV out of memory in the resize."""
    assert MAX_INPUT_SIDE == 4096
    expected = f"must be at most {MAX_INPUT_SIDE}, got {value}"
    assert input_side_error(value) == expected
    with pytest.raises(argparse.ArgumentTypeError, match=expected):
        input_height_type(str(value))


def test_each_command_line_uses_the_rule(capsys):
    from demos.__main__ import main as demo_main
    from ov_inference.__main__ import main as infer_main
    from train.evaluate import main as evaluate_main

    for main, args in ((infer_main, ["--model", "m.xml", "--input", "x.jpg"]),
                       (demo_main, ["--model", "m", "--input", "0"]),
                       (evaluate_main, ["--checkpoint", "m", "--ann", "a.json", "--images", "."])):
        for height in ("8", "100"):
            with pytest.raises(SystemExit) as stop:
                main([*args, "--height", height])
            assert stop.value.code == 2  # argparse's usage error, before anything is loaded
            assert "argument --height" in (err := capsys.readouterr().err)
            assert f"must be a multiple of 8 and >= 16, got {height}" in err, err
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer"):
        input_height_type("tall")


def test_lwpose_bench_uses_the_rule(capsys):
    """``lwpose-bench --height``: the same usage error as every other command line, before the model is read (8 used
    to run a benchmark at a one-cell-high map; 12 was refused only after the model had loaded, in other words)."""
    from ov_inference.bench import main as bench_main

    for height in ("8", "12", "0"):
        with pytest.raises(SystemExit) as stop:
            bench_main(["--model", "missing.xml", "--height", height])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "argument --height" in err and f"must be a multiple of 8 and >= 16, got {height}" in err, err
