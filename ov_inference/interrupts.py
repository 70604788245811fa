"""SIGTERM handled like Ctrl-C, so that ``kill``, ``timeout``, ``docker stop`` and systemd stop a run the way a
person does: the frames done are kept and output files are finished (a video without its index is unplayable)."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["sigterm_as_interrupt", "interrupts_deferred"]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` in the main thread; the previous handler is restored
    afterwards. Outside the main thread (where Python cannot set handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def interrupts_deferred(redeliver: bool = True) -> Iterator[None]:
    """SIGINT and SIGTERM held back on the main thread: their Python handlers (Ctrl+C's ``KeyboardInterrupt``,
    :func:`ov_inference.interrupts.sigterm_as_interrupt`'s) run when the block ends, not inside it.

    The handlers are swapped for one that only notes the signal: blocking the signals on the main thread is not
    enough, as the process's other threads (the pipeline's producer, OpenVINO's and OpenCV's workers) still take
    them, and Python then runs the handler on the main thread inside the block anyway. ``redeliver=False`` drops
    them instead: for the last steps of a run that is ending anyway, which must all run (files finished)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    previous = {signum: handler for signum, handler in previous.items() if callable(handler)}  # Python handlers
    for signum in previous:
        signal.signal(signum, lambda number, _frame: caught.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught and redeliver:
            previous[caught[0]](caught[0], None)
