"""Checkpoints in the published layout: safe loading, key filtering, ImageNet init and atomic saving.

The published file (``checkpoint_iter_370000.pth``) is a dict with ``state_dict``, ``optimizer``, ``scheduler``,
``iter`` and ``current_epoch`` (:data:`pose_format.CHECKPOINT_KEYS`). Files are always read on the CPU with
``torch.load(weights_only=True)``; a file that needs unsafe unpickling is refused unless the caller opts in with
``allow_unsafe=True``. ``module.`` prefixes (DataParallel / DDP) are stripped in one place,
:func:`strip_module_prefix`, and every mismatch is reported by key name.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pose_format import CHECKPOINT_KEYS, atomic_file, starts_like_torch_file
from train.model import PoseEstimationWithMobileNet

log = logging.getLogger(__name__)

__all__ = [
    "CheckpointError", "LoadReport", "read_checkpoint", "strip_module_prefix", "filter_state_dict",
    "load_weights", "load_model", "load_imagenet_backbone", "refinement_stages_in", "save_checkpoint",
    "IMAGENET_BACKBONE_BLOCKS",
]

#: The ImageNet MobileNet-v1 blocks ``module.model.0..11`` that map onto the backbone ``model.0..11``.
IMAGENET_BACKBONE_BLOCKS = 12
_REFINEMENT_KEY = re.compile(r"^refinement_stages\.(\d+)\.")
_MAX_NAMED = 12


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used as asked (unreadable, unsafe, or not matching the model)."""


@dataclass
class LoadReport:
    """What :func:`load_weights` did: keys loaded, and the ones missing, mis-shaped, unexpected or dropped."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped_stages: list[int] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every key of the model was loaded from the file."""
        return not (self.missing or self.mismatched)


def _named(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_NAMED])
    return shown + (f", ... ({len(keys) - _MAX_NAMED} more)" if len(keys) > _MAX_NAMED else "")


def _looks_like_torch_file(path: Path) -> bool:
    """Whether ``path`` starts like a ``torch.save`` file: a zip archive (PyTorch >= 1.6) or a pickle (legacy)."""
    with open(path, "rb") as fh:
        return starts_like_torch_file(fh.read(4))


def read_checkpoint(path: str | os.PathLike, allow_unsafe: bool = False) -> dict[str, Any]:
    """Read a checkpoint file onto the CPU; returns the dict (a bare state dict is wrapped as ``{"state_dict": ...}``).

    ``torch.load(weights_only=True)`` is used; when the file needs arbitrary unpickling a :class:`CheckpointError`
    says so, unless ``allow_unsafe=True`` (only for files you trust: unpickling can run code).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, expected a checkpoint file (.pth)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not _looks_like_torch_file(path):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle; "
                              "an empty, truncated or wrong file?)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError...
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        if not _refused_as_unsafe(exc):
            raise CheckpointError(f"checkpoint {path} could not be read (truncated or corrupt?): "
                                  f"{type(exc).__name__}: {first_line}") from exc
        if not allow_unsafe:
            why = next((line.split("Unsupported global:")[1].split(" was not an allowed")[0].strip()
                        for line in str(exc).splitlines() if "Unsupported global:" in line), "")
            raise CheckpointError(
                f"checkpoint {path} needs unsafe unpickling (weights_only=True refused{' ' + why if why else ' it'})."
                " If you trust this file, pass allow_unsafe=True (--allow-unsafe-checkpoint on the command line)."
            ) from exc
        log.warning("loading %s with weights_only=False (allow_unsafe=True): only do this for trusted files", path)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:  # noqa: BLE001
            raise CheckpointError(f"checkpoint {path} could not be read: {type(exc2).__name__}: {exc2}") from exc2
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict")
    if "state_dict" in obj:
        if not isinstance(obj["state_dict"], Mapping):
            raise CheckpointError(f"checkpoint {path}: 'state_dict' is a {type(obj['state_dict']).__name__}")
        return dict(obj)
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return {"state_dict": dict(obj)}
    raise CheckpointError(f"checkpoint {path} has no 'state_dict' (top-level keys: {_named(sorted(map(str, obj)))})")


def _refused_as_unsafe(exc: BaseException) -> bool:
    """Whether ``torch.load(weights_only=True)`` failed because the pickle needs more than tensors and containers
    (PyTorch's ``UnpicklingError`` names ``weights_only``), as opposed to a truncated or corrupt file."""
    import pickle

    text = str(exc)
    return isinstance(exc, pickle.UnpicklingError) and "Weights only load failed" in text or (
        "weights_only" in text and "corrupt" not in text.lower() and "central directory" not in text)


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the ``module.`` prefixes that DataParallel / DistributedDataParallel add (the one place that does)."""
    out = {}
    for key, value in state_dict.items():
        while key.startswith("module."):
            key = key[len("module."):]
        out[key] = value
    return out


def refinement_stages_in(path_or_state: str | os.PathLike | Mapping[str, Any], allow_unsafe: bool = False) -> int:
    """How many refinement stages a checkpoint (a file, a checkpoint dict or a bare state dict) holds: one more than
    the highest ``refinement_stages.N`` index, 0 for a network of the initial stage only."""
    ckpt = path_or_state if isinstance(path_or_state, Mapping) else read_checkpoint(path_or_state, allow_unsafe)
    state = ckpt.get("state_dict", ckpt)
    found = [int(m.group(1)) for m in map(_REFINEMENT_KEY.match, strip_module_prefix(state)) if m]
    return max(found) + 1 if found else 0


def filter_state_dict(state_dict: Mapping[str, torch.Tensor], model: nn.Module,
                      ) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Match a (prefix-stripped) state dict against ``model``: returns the loadable tensors and a report.

    Refinement stages beyond the model's count are dropped (logged); ``num_batches_tracked`` buffers absent from old
    checkpoints are not counted as missing.
    """
    target = model.state_dict()
    report = LoadReport()
    n_stages = len(getattr(model, "refinement_stages", []))
    usable: dict[str, torch.Tensor] = {}
    dropped: set[int] = set()
    for key, value in state_dict.items():
        m = _REFINEMENT_KEY.match(key)
        if m and int(m.group(1)) >= n_stages and key not in target:
            dropped.add(int(m.group(1)))
            continue
        if key not in target:
            report.unexpected.append(key)
        elif not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(target[key].shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            report.mismatched.append(f"{key} (file {shape} vs model {tuple(target[key].shape)})")
        else:
            usable[key] = value
    report.dropped_stages = sorted(dropped)
    report.missing = [k for k in target if k not in state_dict and not k.endswith("num_batches_tracked")]
    report.loaded = sorted(usable)
    if dropped:
        log.warning("checkpoint holds %d refinement stage(s); keeping the first %d, dropping stage(s) %s",
                 n_stages + len(dropped), n_stages, report.dropped_stages)
    return usable, report


def load_weights(model: nn.Module, path_or_state: str | os.PathLike | Mapping[str, Any], allow_partial: bool = False,
                 allow_unsafe: bool = False, *, source: str | os.PathLike | None = None,
                 partial_hint: bool = True) -> LoadReport:
    """Load a checkpoint's weights into ``model`` (in place).

    Every model key must be present with the same shape and the file must hold no foreign keys, else a
    :class:`CheckpointError` names them; ``allow_partial=True`` (fine-tuning) loads what matches and logs the rest.
    ``path_or_state`` is a file or an already-read checkpoint dict (``source`` then names its file in errors);
    ``partial_hint=False`` leaves the allow_partial suggestion out of the error (callers that cannot load partially).
    """
    ckpt = path_or_state if isinstance(path_or_state, Mapping) else read_checkpoint(path_or_state, allow_unsafe)
    state = ckpt.get("state_dict", ckpt)
    usable, report = filter_state_dict(strip_module_prefix(state), model)
    problems = []
    if report.missing:
        problems.append(f"missing keys: {_named(report.missing)}")
    if report.mismatched:
        problems.append(f"mis-shaped keys: {_named(report.mismatched)}")
    if report.unexpected:
        problems.append(f"unexpected keys: {_named(report.unexpected)}")
    if problems:
        where = path_or_state if not isinstance(path_or_state, Mapping) else (source or "state dict")
        if not usable:
            raise CheckpointError(f"{where} is not a {type(model).__name__} checkpoint (no key matches): "
                                  + "; ".join(problems))
        if not allow_partial:
            held = refinement_stages_in(state)
            asked = len(getattr(model, "refinement_stages", []))
            fewer = (f"the file holds {held} refinement stage(s), the model has {asked}: load it with "
                     f"num_refinement_stages={held} (--num-refinement-stages {held}); "
                     if report.missing and not report.mismatched and held < asked else "")
            hint = (". Pass allow_partial=True (--allow-partial) to load the matching keys only" if partial_hint
                    else "")
            raise CheckpointError(f"{where} does not match {type(model).__name__}: " + fewer + "; ".join(problems)
                                  + hint)
        log.warning("partial load from %s (%d keys loaded): %s", where, len(usable), "; ".join(problems))
    model.load_state_dict(usable, strict=False)
    return report


def load_model(path: str | os.PathLike, num_refinement_stages: int | None = 1, device: str | torch.device = "cpu",
               allow_unsafe: bool = False) -> PoseEstimationWithMobileNet:
    """An eval-mode :class:`PoseEstimationWithMobileNet` with the weights of a published-layout checkpoint.

    Extra refinement stages in the file are dropped (logged); ``num_refinement_stages=None`` keeps as many as the
    file holds (:func:`refinement_stages_in`). Missing, mis-shaped or foreign keys raise :class:`CheckpointError`
    naming them. Loads on the CPU whatever device saved it, then moves to ``device``.
    """
    ckpt = read_checkpoint(path, allow_unsafe)
    if num_refinement_stages is None:
        num_refinement_stages = refinement_stages_in(ckpt)
    model = PoseEstimationWithMobileNet(num_refinement_stages=num_refinement_stages)
    load_weights(model, ckpt, allow_partial=False, source=path, partial_hint=False)
    return model.to(device).eval()


def load_imagenet_backbone(model: PoseEstimationWithMobileNet, path: str | os.PathLike,
                           allow_unsafe: bool = False) -> list[str]:
    """Initialise the backbone from ImageNet MobileNet-v1 weights (``mobilenet_sgd_68.848.pth.tar``).

    The file's keys ``module.model.{0..11}.*`` map onto ``model.{0..11}.*``; later blocks and the classifier are
    ignored. Returns the loaded keys; a backbone key absent or mis-shaped in the file is a :class:`CheckpointError`,
    and so is a pose checkpoint (its ``model.*`` backbone would otherwise be taken for ImageNet weights, the rest of
    it silently left out): those start a run through :func:`load_weights` (``--checkpoint --weights-only``).
    """
    source = strip_module_prefix(read_checkpoint(path, allow_unsafe)["state_dict"])
    pose_keys = sorted(k for k in source if k.startswith(("cpm.", "initial_stage.", "refinement_stages.")))
    if pose_keys:
        raise CheckpointError(f"{path} is a pose network checkpoint ({pose_keys[0]}, ...), not ImageNet MobileNet-v1 "
                              f"weights: start from it with --checkpoint {path} --weights-only (load_weights)")
    target = model.state_dict()
    wanted = [k for k in target if k.startswith("model.") and not k.endswith("num_batches_tracked")]
    picked, missing, mismatched = {}, [], []
    for key in wanted:
        if key not in source:
            missing.append(key)
        elif tuple(source[key].shape) != tuple(target[key].shape):
            mismatched.append(f"{key} (file {tuple(source[key].shape)} vs model {tuple(target[key].shape)})")
        else:
            picked[key] = source[key]
    if missing or mismatched:
        raise CheckpointError(f"{path} is not an ImageNet MobileNet-v1 file with module.model.0..11: "
                              + "; ".join(p for p in (missing and f"missing {_named(missing)}",
                                                      mismatched and f"mis-shaped {_named(mismatched)}") if p))
    model.load_state_dict(picked, strict=False)
    log.info("initialised %d backbone tensors from ImageNet weights %s", len(picked), path)
    return sorted(picked)


def unwrap_model(module: nn.Module) -> nn.Module:
    """The network inside a DataParallel / DistributedDataParallel wrapper (``module`` itself when unwrapped)."""
    return module.module if hasattr(module, "module") and isinstance(module.module, nn.Module) else module


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict (unwrapped, no ``module.`` prefix) as contiguous CPU tensors, ready to save."""
    return {k: v.detach().cpu().contiguous() for k, v in unwrap_model(model).state_dict().items()}


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any | None = None, iteration: int = 0, current_epoch: int = 0,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint in the published layout, atomically.

    Keys: ``state_dict`` (no ``module.`` prefix), ``optimizer``, ``scheduler``, ``iter``, ``current_epoch`` (plus
    ``extra`` entries). The bytes go to a temporary file in the same folder, are fsynced, then ``os.replace``
    renames it over ``path``: a crash or kill mid-save leaves any previous file at ``path`` intact.
    """
    path = Path(path)
    payload: dict[str, Any] = {
        "state_dict": cpu_state_dict(model),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "iter": int(iteration),
        "current_epoch": int(current_epoch),
    }
    if extra:
        payload.update(extra)
    assert set(CHECKPOINT_KEYS) <= set(payload)
    with atomic_file(path) as fh:
        torch.save(payload, fh)
    return path
