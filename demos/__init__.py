"""Demos: the live pose demo (window, video/images or a web live view), the weights downloader and the quickstart.

Entry points: ``python -m demos`` (``lwpose-demo``), ``python -m demos.weights`` (``lwpose-weights``),
``python -m demos.quickstart`` (``lwpose-quickstart``). Importing this package stays light: the heavy parts
(OpenVINO, torch for the quickstart) load only in the modules that need them.
"""
from demos.weights import WeightsError, cache_dir, cached_checkpoint, download, verify

__all__ = ["WeightsError", "cache_dir", "cached_checkpoint", "download", "verify"]
