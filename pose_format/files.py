"""File helpers shared by several packages (the converter fingerprints checkpoints; the loader and the downloader
check that a file is a PyTorch checkpoint)."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in ``chunk_size``-byte blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def starts_like_torch_file(head: bytes) -> bool:
    """Whether a file's first bytes ``head`` (at least 2) are those of a ``torch.save`` file: a zip archive
    (``PK\\x03\\x04``, PyTorch >= 1.6) or a pickle of protocol 2 to 5 (``\\x80\\x02``..., the legacy format of the
    published checkpoint). Magic bytes only: no torch import."""
    return head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)
