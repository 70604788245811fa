"""Machine-readable per-frame results: one JSON record per frame, written as JSON lines or as one JSON document.

A record (all coordinates in the frame's pixels)::

    {"frame_index": 0, "source": "images/a.jpg", "timestamp": 0.0, "image_size": [640, 480],
     "people": [{"keypoints": [x1, y1, v1, ..., x17, y17, v17],   # COCO-17 order, v = 2 present / 0 missing
                 "keypoint_scores": [c1, ..., c17],              # network confidences, 0 for missing
                 "score": 12.3, "track_id": 4}],
     "timings": {"preprocess_ms": 1.2, "infer_ms": 14.8, "decode_ms": 0.6, "latency_ms": 17.0},
     "error": null}

A number that is not finite (a stream reporting a NaN position, a broken timer) is written as ``null``: NaN and
Infinity are not JSON. Keypoints and scores are always finite (:class:`ov_inference.Pose` makes sure of it).

The writer flushes every JSON line as it is written, and a JSON document is written (atomically) when the writer
closes, normally or on an exception / Ctrl-C, so results already computed are never lost.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from ov_inference.coco import poses_to_coco
from ov_inference.interrupts import interrupts_deferred
from ov_inference.output_paths import check_output_file
from ov_inference.pose import Pose
from pose_format import dumps_strict, finite_or_none, null_non_finite, write_text_atomic

__all__ = ["frame_record", "RecordWriter"]

log = logging.getLogger(__name__)


def frame_record(frame_index: int, source: str, poses: Sequence[Pose], *, image_size: tuple[int, int] | None = None,
                 timestamp: float = 0.0, timings: dict[str, float] | None = None,
                 error: str | None = None) -> dict[str, Any]:
    """The JSON record of one frame (see the module docstring); ``image_size`` is ``(width, height)``."""
    people = []
    for pose, coco in zip(poses, poses_to_coco(poses, image_id=frame_index)):
        people.append({
            "keypoints": [round(v, 2) for v in coco["keypoints"]],
            "keypoint_scores": [round(float(c), 4) for c in pose.coco17[:, 2]],
            "score": round(float(pose.score), 4),
            "track_id": None if pose.track_id is None else int(pose.track_id),
        })
    return {
        "frame_index": int(frame_index),
        "source": str(source),
        "timestamp": finite_or_none(timestamp, 4),
        "image_size": [int(v) for v in image_size] if image_size is not None else None,
        "people": people,
        "timings": {k: finite_or_none(v, 3) for k, v in (timings or {}).items()},
        "error": error,
    }


class RecordWriter:
    """Writes frame records to ``path``: JSON lines for ``.jsonl`` / ``.ndjson`` / ``-`` (stdout), else one JSON
    document ``{"meta": ..., "frames": [...], "summary": ...}`` written when the writer closes.

    ``meta`` is stored in the document (JSON lines: as a first ``{"meta": ...}`` line). Records are kept in memory
    (:attr:`records`) only for a JSON document, which needs them all at the end, or when ``keep_records=True``
    (e.g. ``path=None`` to collect them in memory); JSON lines and ``path=None`` otherwise keep none, so a camera
    running for hours uses constant memory. :attr:`count` is the number of records written either way.

    The output is checked before any frame (:meth:`check_path`): a folder, or a parent folder that cannot be
    created or written, raises ``OSError`` naming the path at construction, not after the run.
    """

    def __init__(self, path: str | Path | None, meta: dict[str, Any] | None = None,
                 keep_records: bool | None = None):
        self.path = None if path is None else str(path)
        self.meta = dict(meta or {})
        self.records: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        self.count = 0
        self.lines = self.path is not None and (self.path == "-" or Path(self.path).suffix.lower() in
                                                (".jsonl", ".ndjson"))
        document = self.path is not None and not self.lines
        self.keep_records = document if keep_records is None else bool(keep_records)
        if document and not self.keep_records:
            raise ValueError(f"keep_records=False cannot write the JSON document {self.path}: it needs every record "
                             "at the end (write .jsonl to stream them instead)")
        self._stream = None
        self.closed = False
        if self.path is not None and self.path != "-":
            self.check_path(self.path)
        if self.lines:
            if self.path == "-":
                self._stream = sys.stdout
            else:
                try:
                    self._stream = open(self.path, "w", encoding="utf-8")
                except OSError as exc:
                    raise OSError(f"cannot write records to {self.path}: {exc.strerror or exc}") from exc
            if self.meta:
                self._write_line({"meta": self.meta})

    @staticmethod
    def check_path(path: str | Path, source: str | Path | None = None, model: str | Path | None = None) -> None:
        """Make sure records can be written to the file ``path`` (see
        :func:`ov_inference.output_paths.check_output_file`; ``source``: the input, ``model``: the model's ``.xml``,
        which it must not be, nor its ``.bin``). Raises ``OSError`` naming the path and the reason."""
        check_output_file(path, "records", source, model)

    def _dumps(self, obj: Any) -> str:
        """Strict JSON of ``obj`` with any NaN / infinite figure written as ``null`` and a warning naming it: one bad
        figure must neither make the file unreadable as JSON nor fail the write and lose the run's records."""
        try:
            return dumps_strict(obj)
        except ValueError:  # the rare case: only then is the record walked for its non-finite figures
            obj, paths = null_non_finite(obj)
            if not paths:
                raise
            log.warning("records for %s: non-finite %s written as null", self.path or "stdout", ", ".join(paths[:5]))
            return dumps_strict(obj)

    def _write_line(self, obj: dict[str, Any]) -> None:
        self._stream.write(self._dumps(obj) + "\n")
        self._stream.flush()

    def write(self, record: dict[str, Any]) -> None:
        """Add one frame record (written through at once for JSON lines; kept for a JSON document). Raises
        ``ValueError`` after :meth:`close`."""
        if self.closed:
            raise ValueError(f"RecordWriter for {self.path} is closed")
        with interrupts_deferred():  # Ctrl+C / SIGTERM land after the record is written and counted, not between
            if self.lines:
                self._write_line(record)
            if self.keep_records:
                self.records.append(record)
            self.count += 1

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Finish the file: the summary line (JSON lines) or the whole document, written atomically (through a
        temporary file beside it, removed when writing fails, so a failure leaves no partial or stray file). A
        Ctrl+C / SIGTERM meanwhile (a second one, as the close often runs on the first) lands after the file is
        finished: it would otherwise remove the document being written, and every record with it."""
        if self.closed:  # closing twice (an explicit close inside ``with``) writes nothing more
            return
        self.closed = True
        if summary:
            self.summary = dict(summary)
        with interrupts_deferred():
            self._finish()

    def _finish(self) -> None:
        """(From :meth:`close`.) Write the summary line and close the stream, or write the document."""
        if self.lines:
            if self.summary:
                self._write_line({"summary": self.summary})
            if self._stream is not sys.stdout:
                self._stream.close()
            self._stream = None
        elif self.path is not None:
            doc = {"meta": self.meta, "frames": self.records, "summary": self.summary}
            try:
                write_text_atomic(self.path, self._dumps(doc))
            except OSError as exc:
                raise OSError(f"cannot write records to {self.path}: {exc.strerror or exc}") from exc
            log.info("wrote %d frame records to %s", len(self.records), self.path)

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
