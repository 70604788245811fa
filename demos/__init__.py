"""Demos: the live pose demo (window, video/images or a web live view), the weights downloader and the quickstart.

The live demo's parts: :mod:`demos.live` (the loop), :mod:`demos.sinks` (window / video / image outputs),
:mod:`demos.serve` (web live view), :mod:`demos.looping` (``--loop``), :mod:`demos.output_size` (``--output-size``),
:mod:`demos.cpu_load` (CPU load from ``/proc``).

Entry points: ``python -m demos`` (``lwpose-demo``), ``python -m demos.weights`` (``lwpose-weights``),
``python -m demos.serve`` (web live view with a test pattern), ``python -m demos.quickstart`` (``lwpose-quickstart``).

The names below are re-exported lazily, so ``import demos`` stays light (OpenVINO loads with the demo runner, torch
only in the quickstart) and ``python -m demos.weights`` does not import its own module twice.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "DemoOptions": "demos.live", "DemoSummary": "demos.live", "run_demo": "demos.live",
    "LiveView": "demos.serve",
    "open_sink": "demos.sinks", "has_display": "demos.sinks",
    "write_synthetic_clip": "demos.clip",
    "write_report": "demos.report",
    "CpuLoad": "demos.cpu_load", "CpuLoadReader": "demos.cpu_load",
    "LoopedFrame": "demos.looping", "LoopingSource": "demos.looping",
    "parse_size": "demos.output_size", "resize_to_fit": "demos.output_size",
    "WeightsError": "demos.weights", "cache_dir": "demos.weights", "cached_checkpoint": "demos.weights",
    "download": "demos.weights", "verify": "demos.weights", "checkpoint_problem": "demos.weights",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'demos' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
