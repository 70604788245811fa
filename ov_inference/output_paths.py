"""Checking an output file's path before any work, so a run never computes results it cannot write."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ov_inference.sources import image_files
from pose_format import is_special_file

__all__ = ["check_output_file", "make_folders", "make_output_folder", "missing_folders", "remove_empty_folders"]


def _same_file(path: Path, other: str | Path | None) -> bool:
    """Whether ``path`` exists and is the file ``other`` (a link to it included)."""
    return other is not None and path.exists() and Path(other).is_file() and path.samefile(other)


def _input_files(source: str | Path | None) -> list[Path]:
    """The files a run reads from ``source``: the images directly in a folder (:func:`image_files`), else ``source``
    itself (nothing for a camera id or a URL, which are no files)."""
    if source is None:
        return []
    source = Path(source)
    return image_files(source.iterdir()) if source.is_dir() else [source]


def check_output_file(path: str | Path, what: str, source: str | Path | None = None,
                      model: str | Path | None = None) -> Path:
    """Make sure ``what`` (e.g. ``"records"``) can be written to the file ``path``: it is not a folder, its parent
    folder exists (created if needed) and accepts a new file (probed with a temporary file, removed at once), and it
    is not an input it would destroy: the file ``source``, one of the images of a folder ``source``, or one of
    ``model``'s files (the IR ``.xml`` given and the ``.bin`` beside it). A pipe or a device (``/dev/stdout``,
    ``/dev/null``, a named pipe) needs only to be writable itself: it is written into, not created in its folder.
    Returns ``path`` as a :class:`~pathlib.Path`; raises ``OSError`` naming the path and the reason."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {what} to {path}: it is a folder (give a file name)")
    if path.exists() and any(_same_file(path, file) for file in _input_files(source)):
        what_input = "an image of the input folder" if Path(source).is_dir() else "the input file"
        raise OSError(f"cannot write {what} to {path}: it is {what_input}, which it would destroy")
    model_files = [] if model is None else [Path(model), Path(model).with_suffix(".bin")]
    if any(_same_file(path, file) for file in model_files):
        raise OSError(f"cannot write {what} to {path}: it is a file of the model {model}, which it would destroy")
    if is_special_file(path):
        if not os.access(path, os.W_OK):
            raise PermissionError(f"cannot write {what} to {path}: not writable")
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot write {what} to {path}: cannot create its folder {path.parent}: "
                      f"{exc.strerror or exc}") from exc
    probe = path.parent / f".{path.name}.probe{os.getpid()}"
    try:
        probe.open("w", encoding="utf-8").close()
    except OSError as exc:
        raise OSError(f"cannot write {what} to {path}: folder {path.parent} is not writable: "
                      f"{exc.strerror or exc}") from exc
    finally:
        probe.unlink(missing_ok=True)
    return path


def missing_folders(folder: str | Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first: what creating ``folder`` will create."""
    folder = Path(folder).absolute()
    return [p for p in (folder, *folder.parents) if not p.exists()]


def make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns the ones this call created, deepest first (what
    :func:`remove_empty_folders` takes back after a failure)."""
    created = missing_folders(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return created


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove each of ``folders`` (deepest first) that is empty; the others are kept."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def make_output_folder(folder: str | Path, what: str) -> list[Path]:
    """Create the folder ``folder`` that ``what`` (e.g. ``"the images"``) is written into, with its missing parents
    (:func:`make_folders`: the ones created are returned, deepest first). Raises ``OSError`` worded as
    :func:`check_output_file`'s: ``cannot write {what} to {folder}: ...`` and the reason."""
    try:
        return make_folders(Path(folder))
    except OSError as exc:
        raise OSError(f"cannot write {what} to {folder}: cannot create the folder: {exc.strerror or exc}") from exc
