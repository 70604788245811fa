"""Reading a PyTorch checkpoint into the network, on CPU, and fingerprinting source files."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from convert.errors import ConversionError

log = logging.getLogger(__name__)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def load_network(checkpoint: str | Path, num_refinement_stages: int = 1):
    """Load a checkpoint (published layout or a bare state dict) into an eval-mode network on CPU.

    Delegates to :func:`train.load_model` (weights_only, map_location cpu, mismatching keys named) and turns
    its errors into :class:`ConversionError`.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise ConversionError(f"checkpoint not found: {path}")
    try:
        from train import load_model
    except ImportError:  # train.load_model not landed yet: minimal private fallback, removed once it exists
        load_model = _load_model_fallback
    try:
        model = load_model(path, num_refinement_stages, device="cpu")
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one clear error naming the file
        raise ConversionError(f"cannot load checkpoint {path}: {exc}") from exc
    return model.eval()


def _load_model_fallback(path: Path, num_refinement_stages: int, device: str = "cpu"):
    import torch

    from train.model import PoseEstimationWithMobileNet

    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"cannot read checkpoint {path} (corrupt, or not a weights-only PyTorch file): {exc}") from exc
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ConversionError(f"checkpoint {path} holds no state dict (got {type(ckpt).__name__})")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = PoseEstimationWithMobileNet(num_refinement_stages)
    own = model.state_dict()
    extra_stage = [k for k in state if k.startswith("refinement_stages.")
                   and int(k.split(".")[1]) >= num_refinement_stages]
    state = {k: v for k, v in state.items() if k not in extra_stage}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:8]}{' ...' if len(missing) > 8 else ''} ({len(missing)})")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''} ({len(unexpected)})")
        if shape:
            parts.append("shape mismatch " + ", ".join(
                f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in shape[:8]))
        raise ConversionError(f"checkpoint {path} does not match the Lightweight OpenPose architecture "
                              f"({num_refinement_stages} refinement stage(s)): " + "; ".join(parts))
    model.load_state_dict(state)
    return model.to(device).eval()
