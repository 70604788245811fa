"""argparse ``type=`` helpers shared by the command lines (one wording for the same mistake everywhere)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable

from pose_format.geometry import input_side_error
from pose_format.version import __version__

__all__ = ["add_version_argument", "count_type", "folder_type", "input_height_type", "seconds_type"]


def add_version_argument(parser: argparse.ArgumentParser) -> None:
    """``--version``: print ``lwpose <version>`` (the package version every IR's rt_info records) and exit 0."""
    parser.add_argument("--version", action="version", version=f"lwpose {__version__}")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def count_type(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        value = _integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


def folder_type(text: str) -> Path:
    """argparse type: a folder path, not empty (``Path("")`` is the current folder: an unset shell variable, as in
    ``--out "$DIR"``, would write there)."""
    if not text:
        raise argparse.ArgumentTypeError("empty: give a folder (use . for the current one)")
    return Path(text)


def input_height_type(text: str) -> int:
    """argparse type: a network input height in pixels, a multiple of the stride (8) and at least two cells (16)."""
    value = _integer(text)
    message = input_side_error(value)
    if message is not None:
        raise argparse.ArgumentTypeError(message)
    return value


def seconds_type(allow_zero: bool = True) -> Callable[[str], float]:
    """argparse type: a finite number of seconds, >= 0 (``allow_zero``) or > 0 (``nan`` and ``inf`` refused)."""
    bound = ">= 0" if allow_zero else "> 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"must be a finite number of seconds {bound}, got {text!r}")
        return value
    return parse
