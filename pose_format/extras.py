"""The optional extras of the package (``pip install 'lwpose[<extra>]'``) as the command lines check them: every
module of a command's extra looked up before it starts, so that a missing one stops it with one line naming the extra
to install instead of a traceback once the run reaches it. Imports nothing itself (no torch)."""
from __future__ import annotations

import importlib.util
from typing import Iterable

__all__ = ["extra_hint", "require_extra"]


def extra_hint(doing: str, *extras: str) -> str:
    """What to do when a module of ``extras`` is missing (the runtime-only install), e.g. ``extra_hint("Training",
    "train")``, or ``extra_hint("The quickstart", "train", "convert", "demos")`` for a command needing several."""
    names = extras[0] if len(extras) == 1 else f"{', '.join(extras[:-1])} and {extras[-1]}"
    return (f"{doing} needs the {names} extra{'s' if len(extras) > 1 else ''}: pip install 'lwpose[{','.join(extras)}]'"
            " (./setup.sh in a source checkout)")


def require_extra(prog: str, modules: Iterable[str], hint: str) -> None:
    """Check that every one of the top-level ``modules`` is installed, without importing it (``find_spec``: the
    check costs nothing at start-up, where importing nncf alone takes ~2 s); the first missing one raises
    ``SystemExit`` with the one line ``<prog>: error: No module named '<name>'. <hint>`` (exit code 1)."""
    for name in modules:
        if importlib.util.find_spec(name) is None:  # a CLI: say what to install instead of a traceback
            raise SystemExit(f"{prog}: error: No module named '{name}'. {hint}")
