"""File helpers shared by several packages (the converter fingerprints checkpoints; the loader and the downloader
check that a file is a PyTorch checkpoint; checkpoints, detections and summaries are written atomically)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

# The process's file-creation mask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in ``chunk_size``-byte blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def input_file_problem(path: str | Path, expected: str) -> str | None:
    """Why ``path`` cannot be read as an input file, worded for a message that starts with the option and path
    (``--checkpoint X: ...``): ``"is a folder, expected <expected>"``, ``"not found"``, or ``None`` for a file."""
    path = Path(path)
    if path.is_file():
        return None
    return f"is a folder, expected {expected}" if path.is_dir() else "not found"


def starts_like_torch_file(head: bytes) -> bool:
    """Whether a file's first bytes ``head`` (at least 2) are those of a ``torch.save`` file: a zip archive
    (``PK\\x03\\x04``, PyTorch >= 1.6) or a pickle of protocol 2 to 5 (``\\x80\\x02``..., the legacy format of the
    published checkpoint). Magic bytes only: no torch import."""
    return head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def is_special_file(path: str | Path) -> bool:
    """Whether ``path`` exists (symlinks followed) and is neither a regular file nor a folder: a pipe or a device
    such as ``/dev/stdout``, ``/dev/null`` or a named pipe, which can be written but not replaced."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Open a binary file that appears at ``path`` complete or not at all.

    The bytes go to a temporary file ``.<name>.<random>.tmp`` in the same folder (created when missing), are
    fsynced, get the permissions of a normally created file (0666 less the umask) and are renamed over ``path`` when
    the ``with`` block ends; an exception or a kill mid-write leaves any previous file at ``path`` intact and removes
    the temporary file (a kill leaves it behind, under a name that never matches ``path``). A symlink's target is
    replaced (the link stays); a pipe or a device (:func:`is_special_file`: ``/dev/stdout``, ``/dev/null``, a named
    pipe) is written into directly, never replaced by a regular file.
    """
    path = Path(path)
    if is_special_file(path):
        with open(path, "wb") as fh:
            yield fh
        return
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o666 & ~_UMASK)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_file`; returns ``path``."""
    with atomic_file(path) as fh:
        fh.write(text.encode("utf-8"))
    return Path(path)
