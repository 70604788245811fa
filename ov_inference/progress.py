"""Progress of a run on stderr: tqdm when it is installed (it is not a runtime dependency), else a one-line
built-in fallback (:class:`TextProgress`: frames done / total, percent, frames per second).

The fallback draws only when the stream is a terminal, or when asked (``force=True``, the CLI's ``--progress``):
on a terminal it rewrites one line (``\\r``) at most every ``interval`` seconds; on a file or pipe it appends a
line every ``log_interval`` seconds instead, so logs stay readable.
"""
from __future__ import annotations

import sys
import time
from typing import IO

__all__ = ["TextProgress", "Progress"]


class TextProgress:
    """A minimal progress line: ``"120/300 frames (40%) 24.8 fps, 3 people"`` (total and percent when known).

    ``stream``: where to write (default ``sys.stderr``); ``total``: frames expected or ``None``; ``interval`` /
    ``log_interval``: seconds between redraws on a terminal / between lines elsewhere; ``clock``: a seconds clock
    (tests pass a fake one).
    """

    def __init__(self, total: int | None = None, stream: IO[str] | None = None, interval: float = 0.2,
                 log_interval: float = 5.0, clock=time.perf_counter):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.count, self.people = total, 0, None
        self.clock = clock
        self.tty = _isatty(self.stream)
        self.interval = interval if self.tty else log_interval
        self._start = clock()
        self._last_draw: float | None = None
        self._width = 0

    def text(self) -> str:
        """The current progress line (no line ending)."""
        elapsed = max(self.clock() - self._start, 1e-9)
        done = f"{self.count}/{self.total} frames ({100 * self.count / self.total:.0f}%)" if self.total else \
            f"{self.count} frames"
        people = "" if self.people is None else f", {self.people} people"
        return f"{done} {self.count / elapsed:.1f} fps{people}"

    def update(self, n: int = 1, people: int | None = None) -> None:
        """``n`` more frames done (``people``: found in the last one); redraws when ``interval`` has passed."""
        self.count += n
        if self.total is not None and self.count > self.total:  # a wrong count (a video's header): count alone
            self.total = None
        if people is not None:
            self.people = people
        now = self.clock()
        if self._last_draw is None or now - self._last_draw >= self.interval:
            self._draw()
            self._last_draw = now

    def _draw(self, end: str = "") -> None:
        line = self.text()
        if self.tty:
            self.stream.write("\r" + line + " " * max(0, self._width - len(line)) + end)
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Draw the final count and end the line."""
        if self.count or self._last_draw is not None:
            self._draw("\n" if self.tty else "")


class Progress:
    """The CLI's progress: tqdm when importable, else :class:`TextProgress` when ``stream`` is a terminal or
    ``force``; nothing when not ``enabled`` (``--no-progress``). ``total``: frames expected or ``None``; more frames
    than that (a video whose header announces fewer frames than it holds) drop it: the count goes on alone, never
    past 100 %. ``desc``: tqdm's label."""

    def __init__(self, total: int | None, enabled: bool = True, force: bool = False, stream: IO[str] | None = None,
                 desc: str | None = None):
        stream = stream if stream is not None else sys.stderr
        self.bar = self.text = None
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            if force or _isatty(stream):
                self.text = TextProgress(total, stream)
            return
        self.bar = tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True, file=stream)

    def update(self, people: int | None = None) -> None:
        """One more frame done, with ``people`` found in it (``None``: not shown)."""
        if self.bar is not None:
            if self.bar.total is not None and self.bar.n >= self.bar.total:  # a wrong count: count alone
                self.bar.total = None
            if people is not None:
                self.bar.set_postfix(people=people, refresh=False)
            self.bar.update(1)
        elif self.text is not None:
            self.text.update(1, people)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.text is not None:
            self.text.close()


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
