"""Small argument checks shared by the packages' constructors."""
from __future__ import annotations

import numpy as np

__all__ = ["is_whole_number"]


def is_whole_number(value: object) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), not a bool and not a float that happens to be whole: the
    type a count or a pixel size must have."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
