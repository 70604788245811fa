"""``--loop``: read a video file or a set of images again from the start each time it ends.

:class:`LoopingSource` wraps a :class:`ov_inference.sources.FrameSource` and yields :class:`LoopedFrame` records
(the frame and which pass over the input it belongs to), so the consumer can restart whatever follows people from
frame to frame (tracking, smoothing) when a new pass begins. At the end of a pass the input is opened again with
``reopen`` (a video restarts at its first frame, a folder or glob is listed again). Looping stops - with a warning -
when a pass delivered no readable frame (it would spin forever) or the input can no longer be opened; otherwise it
goes on until the consumer stops reading (``--max-frames``, Esc, Ctrl-C). A live source (camera) never ends, so
looping does not apply to it: ``loop`` is then off.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:  # only for annotations: importing this module stays light
    from ov_inference.sources import Frame, FrameSource

__all__ = ["LoopedFrame", "LoopingSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopedFrame:
    """A frame of the input and ``loop``, the 0-based pass over the input it comes from."""

    frame: Frame
    loop: int = 0


class LoopingSource:
    """Frames of ``source``, then (with ``loop``) of ``reopen()`` again and again; see the module docstring.

    Attributes mirror the source: ``live``, ``fps``, ``name``; ``length`` is the source's frame count without
    ``loop`` and ``None`` with it (no end). ``passes`` counts the passes started; ``stopped`` says why looping ended
    by itself (``None`` while it has not).
    """

    def __init__(self, source: FrameSource, reopen: Callable[[], FrameSource], loop: bool = False):
        self.source = source
        self.reopen = reopen
        self.loop = bool(loop) and not source.live
        self.live, self.fps, self.name = source.live, source.fps, source.name
        self.length = None if self.loop else source.length
        self.passes = 0
        self.stopped: str | None = None

    def __iter__(self) -> Iterator[LoopedFrame]:
        for n in itertools.count():
            self.passes = n + 1
            readable = 0
            for frame in self.source:
                readable += frame.ok
                yield LoopedFrame(frame, n)
            if not self.loop:
                return
            if readable == 0:
                self.stopped = f"--loop stopped: pass {n + 1} over {self.name} delivered no readable frame"
                log.warning("%s", self.stopped)
                return
            try:
                fresh = self.reopen()
            except (OSError, ValueError) as exc:  # SourceError is an OSError
                self.stopped = f"--loop stopped: cannot open {self.name} again ({exc})"
                log.warning("%s", self.stopped)
                return
            self.source.close()
            self.source = fresh
            log.debug("--loop: pass %d over %s", n + 2, self.name)

    def close(self) -> None:
        """Release the source currently open."""
        self.source.close()
