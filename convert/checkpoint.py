"""Reading a PyTorch checkpoint into the network, on CPU."""
from __future__ import annotations

import logging
from pathlib import Path

from convert.errors import ConversionError

log = logging.getLogger(__name__)


def load_network(checkpoint: str | Path, num_refinement_stages: int | None = None, *, allow_unsafe: bool = False):
    """Load a checkpoint (published layout or a bare state dict) into an eval-mode network on CPU
    (``num_refinement_stages=None``: every refinement stage the file holds).

    Delegates to :func:`train.load_model` (weights_only, map_location cpu, mismatching keys named) and turns
    its errors into :class:`ConversionError`. ``allow_unsafe``: fall back to full unpickling for a trusted file
    that ``weights_only=True`` refuses.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise ConversionError(f"checkpoint not found: {path}")
    from train import load_model

    try:
        model = load_model(path, num_refinement_stages, device="cpu", allow_unsafe=allow_unsafe)
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one clear error naming the file
        raise ConversionError(f"cannot load checkpoint {path}: {exc}") from exc
    return model.eval()
