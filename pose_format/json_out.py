"""Strict JSON for every file and line the project writes: NaN and Infinity are not JSON.

Python's :mod:`json` writes ``NaN`` / ``Infinity`` by default, which browsers' ``JSON.parse``, ``jq`` and other
languages refuse. A figure that is legitimately unknown (a timing no clock gave, the loss of a run that trained no
step) goes through :func:`finite_or_none` and is written as ``null``; :func:`dumps_strict` writes with
``allow_nan=False``, so any other non-finite number fails loudly, naming where it is, instead of writing a file
nothing else can read.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterator

__all__ = ["finite_or_none", "dumps_strict", "null_non_finite"]


def finite_or_none(value: Any, digits: int | None = None) -> float | None:
    """``value`` as a float (rounded to ``digits`` decimals when given), or ``None`` (JSON ``null``) when it is
    ``None``, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return value if digits is None else round(value, digits)


def _non_finite(obj: Any, where: str = "") -> Iterator[tuple[str, float]]:
    """``(path, value)`` of each NaN / infinite float inside ``obj`` (dicts, lists and tuples), e.g. ``.fps``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        yield where or "the value", obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _non_finite(value, f"{where}.{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _non_finite(value, f"{where}[{i}]")


def dumps_strict(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, allow_nan=False, **kwargs)``: raises ``ValueError`` naming the first NaN / infinite
    number (e.g. ``summary.fps is nan``) rather than writing ``NaN``, which is not JSON."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError as exc:
        where = next(_non_finite(obj), None)
        if where is None:  # a number made by ``default=`` (e.g. a NumPy float): not found by the walk above
            raise ValueError(f"not written as JSON: {exc} (NaN and Infinity are not JSON)") from None
        raise ValueError(f"not written as JSON: {where[0].lstrip('.')} is {where[1]} "
                         "(NaN and Infinity are not JSON)") from None


def null_non_finite(obj: Any) -> tuple[Any, list[str]]:
    """``(copy, paths)``: ``obj`` (dicts, lists and tuples, as lists) with each NaN / infinite float replaced by
    ``None``, and where they were (e.g. ``["frames[3].timings.infer_ms"]``), for writers whose data must not be lost to
    one bad figure (per-frame records: the run goes on, the file stays JSON). ``obj`` itself when there is none."""
    paths = [where.lstrip(".") for where, _ in _non_finite(obj)]
    return (_nulled(obj) if paths else obj), paths


def _nulled(obj: Any) -> Any:
    """A copy of ``obj`` with each NaN / infinite float ``None`` (dicts kept, lists and tuples as lists)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _nulled(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nulled(value) for value in obj]
    return obj
