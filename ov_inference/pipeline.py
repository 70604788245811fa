"""AsyncPipeline: frames in, poses out in submission order, with OpenVINO inference requests kept busy.

How work flows (model_api style, "async done simply"):

- :meth:`AsyncPipeline.submit` pre-processes the frame on the caller's thread and starts it on an
  ``openvino.AsyncInferQueue`` (the compiled model's ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` requests by default);
- the completion callback only copies the two output maps and records the frame id and time (an exception there
  is stored and handed to the consumer, never swallowed: that frame's result carries the error, and
  ``max_failures`` failures in a row are raised);
- :meth:`AsyncPipeline.get` / :meth:`results` decode on the *consumer's* thread, in submission order, while the
  requests keep running.

Ordered mode (files): at most ``max_pending`` frames are submitted but not yet returned; :meth:`submit` blocks
(back-pressure) until the consumer takes results. Live mode (cameras): :meth:`submit` never blocks; when every
request is busy, or ``max_pending`` started frames await the consumer (a consumer slower than the camera), the frame
waits in a one-frame slot, and a newer frame replaces it (the stale one is dropped and counted), so the frame that
starts next is always the latest and latency stays near one inference.

:meth:`run` does both sides for an iterable of frames: a producer thread reads (the iterable may decode video),
pre-processes and submits, while the caller's thread decodes and consumes, so reading, pre-processing and decoding
overlap inference. A frame whose input size changes (new aspect ratio) gets the model compiled for that size
(cached by the estimator) and a new request queue, after the requests in flight finish; a model that cannot be
reshaped or compiled for it raises :class:`ov_inference.ModelCompileError` (fatal, not a per-frame error).
"""
from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np
import openvino as ov

from ov_inference.adapter import ModelCompileError
from ov_inference.estimator import FrameInputs, PoseEstimator
from ov_inference.pose import Pose
from pose_format import LetterboxMeta, is_whole_number

__all__ = ["AsyncPipeline", "PipelineResult"]

log = logging.getLogger(__name__)

#: Longest wait at interpreter exit, in seconds, for OpenVINO's threads to let go of freed request queues' callbacks
#: (see :func:`_wait_for_released_callbacks`); it takes microseconds once the requests are done.
CALLBACK_RELEASE_TIMEOUT_S = 2.0

#: Weak references to the Python callbacks of freed request queues that an OpenVINO thread may still hold.
_released_callbacks: list[weakref.ref] = []
_released_lock = threading.Lock()


def _track_released_callback(callback_ref: weakref.ref) -> None:
    """Note a freed queue's callback for :func:`_wait_for_released_callbacks` (dead references pruned)."""
    with _released_lock:
        _released_callbacks[:] = [r for r in _released_callbacks if r() is not None] + [callback_ref]


def _wait_for_released_callbacks(timeout: float | None = None) -> None:
    """At interpreter exit (``atexit``, while Python is still whole): wait until OpenVINO has let go of every freed
    queue's callback.

    A request's worker thread keeps a copy of the callback for a moment after the request completes (after
    ``wait_all`` returns); when its queue has been freed, that copy is the last one, and dropping it takes the GIL on
    OpenVINO's thread. Once the interpreter is finalizing, a thread taking the GIL is torn down inside C++ code and
    the process aborts ("terminate called without an active exception", exit 134): a CLI that stopped early and
    exited at once did, in 16 of 80 runs. Waiting here (GIL released) lets those copies go first."""
    if not _released_callbacks:
        return
    gc.collect()  # pipelines in reference cycles free their queues now
    deadline = time.monotonic() + (CALLBACK_RELEASE_TIMEOUT_S if timeout is None else timeout)
    while any(ref() is not None for ref in _released_callbacks) and time.monotonic() < deadline:
        time.sleep(0.001)


atexit.register(_wait_for_released_callbacks)


@dataclass
class PipelineResult:
    """One frame's result.

    ``frame_id``: the pipeline's running index of started frames (dropped live frames get none); ``user_data``:
    what was passed to :meth:`AsyncPipeline.submit`; ``poses``: in the frame's pixel coordinates; ``meta``: its
    letterbox (``None`` when the frame was not inferred); ``frame``: the submitted frame (when ``keep_frames``);
    ``error``: why the frame was not inferred (``None`` when it was); ``timings`` in milliseconds:
    ``preprocess_ms``, ``wait_ms`` (submit to start, back-pressure), ``infer_ms`` (start to completion),
    ``decode_ms`` and ``latency_ms`` (submit to decoded result).
    """

    frame_id: int
    user_data: Any
    poses: list[Pose]
    meta: LetterboxMeta | None
    frame: np.ndarray | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Job:
    frame_id: int
    user_data: Any
    frame: np.ndarray | None
    meta: LetterboxMeta | None
    t_submit: float
    preprocess_ms: float
    t_start: float = 0.0
    t_done: float = 0.0
    outputs: tuple[np.ndarray, np.ndarray] | None = None
    exception: BaseException | None = None
    error: str | None = None
    finished: bool = False


@dataclass
class _Waiting:
    prepared: FrameInputs
    user_data: Any
    frame: np.ndarray | None
    t_submit: float
    preprocess_ms: float


@dataclass(eq=False)
class _Completions:
    """What the request queue's completion callback touches (OpenVINO's thread): the jobs and the condition, and
    nothing that owns the queue. A callback bound to the pipeline would make a cycle (pipeline -> queue -> callback
    -> pipeline) that only the cyclic garbage collector frees, at an arbitrary later moment and thread, OpenVINO's
    requests inside; and a callback holding the pipeline could drop its last reference on the queue's own thread
    and destroy the queue from inside its callback (a deadlock). Without either, a dropped pipeline and its requests
    are freed at once, where the last reference goes."""

    estimator: PoseEstimator
    cond: threading.Condition = field(default_factory=threading.Condition)
    jobs: dict[int, _Job] = field(default_factory=dict)

    def on_done(self, request: ov.InferRequest, frame_id: int) -> None:
        """Copy the two maps, record the time, wake the consumer."""
        outputs, exception = None, None
        try:
            spec = self.estimator.spec
            outputs = (request.get_output_tensor(spec.heatmaps_index).data.copy(),  # [batch, C, h, w]
                       request.get_output_tensor(spec.pafs_index).data.copy())
        except BaseException as exc:  # re-raised on the consumer's thread
            exception = exc
        with self.cond:
            job = self.jobs[frame_id]
            job.outputs, job.exception, job.t_done, job.finished = outputs, exception, time.perf_counter(), True
            self.cond.notify_all()


class AsyncPipeline:
    """Asynchronous inference for a :class:`PoseEstimator`, results in submission order.

    ``num_requests``: infer requests (default: the compiled model's ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``, at least 2
    in ordered mode so the device is never idle between requests).
    ``live``: drop stale frames instead of blocking (cameras). ``max_pending``: the bound on frames started (or
    skipped) but not yet returned: ordered mode's :meth:`submit` blocks at it, live mode keeps the newest frame
    waiting (dropping older ones) until the consumer takes a result (default: the current input size's requests
    + 2 ordered, + 1 live: one result decoded while the next infers). ``keep_frames``: return each frame with
    its result.
    ``max_failures``: a frame whose inference fails becomes a result with ``error`` set and the stream goes on; this
    many failures in a row (a device or model that no longer works, not one bad frame) re-raise the last one.
    """

    def __init__(self, estimator: PoseEstimator, num_requests: int | None = None, live: bool = False,
                 max_pending: int | None = None, keep_frames: bool = True, max_failures: int = 5):
        for name, value in (("num_requests", num_requests), ("max_pending", max_pending),
                            ("max_failures", max_failures)):
            if value is not None and not is_whole_number(value):
                raise TypeError(f"{name} must be an integer or None, got {value!r}")
        if num_requests is not None and num_requests < 1:
            raise ValueError(f"num_requests must be >= 1, got {num_requests}")
        if max_failures < 1:
            raise ValueError(f"max_failures must be >= 1, got {max_failures}")
        self.max_failures = max_failures
        self._failures = 0  # inference failures in a row, as returned
        self.estimator = estimator
        self.live = live
        self.keep_frames = keep_frames
        self._requested = num_requests
        self.num_requests = num_requests or self._default_requests(estimator.optimal_num_requests())
        self._pending_given = max_pending is not None
        self.max_pending = self._default_pending(self.num_requests) if max_pending is None else max_pending
        if self.max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.stats = {"submitted": 0, "started": 0, "dropped": 0, "returned": 0, "failed": 0}
        #: Infer requests of the queue made for each input size ``(height, width)`` in pixels so far: a size's own
        #: ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` may differ from :attr:`num_requests`, the first size's.
        self.requests_by_size: dict[tuple[int, int], int] = {}
        self._completions = _Completions(estimator)  # the callback's side: see _Completions
        self._cond = self._completions.cond
        self._start_lock = threading.Lock()
        self._jobs = self._completions.jobs
        self._order: deque[int] = deque()
        self._reserved = 0  # ordered mode: slots taken by submits between their room check and their start
        self._next_id = 0
        self._waiting: _Waiting | None = None
        self._queue: ov.AsyncInferQueue | None = None
        self._callback_ref: weakref.ref | None = None  # the request queue's callback
        self._queue_size: tuple[int, int] | None = None
        self._consumer: threading.Thread | None = None
        self._producers = 0
        self._producer_threads: set[threading.Thread] = set()
        self._producer_error: BaseException | None = None
        self._closed = False

    def _default_requests(self, optimal: int) -> int:
        """The device's optimal number of requests; at least 2 in ordered mode, where the LATENCY hint's optimum
        of 1 would leave the device idle while Python hands a finished request back (callback, GIL) and starts the
        next; live mode keeps the optimum, as a second request in flight would add a frame of latency."""
        return optimal if self.live else max(2, optimal)

    def _default_pending(self, requests: int) -> int:
        """The default ``max_pending`` for a queue of ``requests``: one result decoded while the requests infer
        (live), plus one frame prepared ahead (ordered)."""
        return requests + (1 if self.live else 2)

    # -- inference side -----------------------------------------------------------------------------------------
    def _queue_for(self, size: tuple[int, int]) -> ov.AsyncInferQueue:
        if self._queue is not None and self._queue_size == size:
            return self._queue
        self._release_queue()  # the old size's requests finish (and call back) before the switch
        compiled = self.estimator.compiled(size)
        optimal = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        jobs = self._requested or self._default_requests(optimal)
        queue = ov.AsyncInferQueue(compiled, jobs)
        self.requests_by_size[size] = jobs
        if not self._pending_given:  # a size with more requests gets the frames in flight to keep them busy
            with self._cond:
                self.max_pending = self._default_pending(jobs)
                self._cond.notify_all()
        callback = self._completions.on_done  # a bound method of its own, held by the queue's requests only
        self._callback_ref = weakref.ref(callback)
        queue.set_callback(callback)
        self._queue, self._queue_size = queue, size
        log.debug("request queue of %d for input %s", jobs, size)
        return queue

    def _start(self, waiting: _Waiting) -> int:
        """Register a job and start it (blocks in ``start_async`` while every request is busy)."""
        with self._start_lock:
            return self._start_locked(waiting)

    def _start_locked(self, waiting: _Waiting) -> int:
        """(Holding ``_start_lock``.) :meth:`_start`'s work."""
        if self._closed:  # closed by another thread since submit checked
            raise RuntimeError("the pipeline is closed")
        queue = self._queue_for(waiting.prepared.size)
        with self._cond:
            frame_id = self._next_id
            self._next_id += 1
            job = _Job(frame_id, waiting.user_data, waiting.frame, waiting.prepared.meta, waiting.t_submit,
                       waiting.preprocess_ms)
            self._jobs[frame_id] = job
            self._order.append(frame_id)
            self.stats["started"] += 1
        job.t_start = time.perf_counter()
        try:
            queue.start_async({0: waiting.prepared.tensor}, frame_id)
        except BaseException as exc:
            with self._cond:
                job.exception, job.finished = exc, True
                self._cond.notify_all()
        return frame_id

    def _pump(self) -> None:
        """Live mode: start the waiting frame if a request is idle and fewer than ``max_pending`` frames await the
        consumer (never blocks on a busy queue). The frame is taken and started under one hold of the start lock,
        so a newer frame that another thread takes meanwhile cannot start before it."""
        if not self.live or self._waiting is None:
            return
        if not self._start_lock.acquire(blocking=False):
            return
        try:
            with self._cond:
                waiting = self._waiting
                if waiting is None or self._closed:
                    return
                same_size = self._queue_size == waiting.prepared.size
                if self._queue is not None and same_size and not self._queue.is_ready():
                    return
                if len(self._order) >= self.max_pending:  # the consumer lags: a newer frame will replace this one
                    return
                self._waiting = None
            self._start_locked(waiting)
        finally:
            self._start_lock.release()

    def _add_skipped(self, user_data: Any, frame: np.ndarray | None, error: str, t_submit: float) -> int:
        with self._cond:
            frame_id = self._next_id
            self._next_id += 1
            job = _Job(frame_id, user_data, frame, None, t_submit, 0.0, error=error, finished=True)
            self._jobs[frame_id] = job
            self._order.append(frame_id)
            self._cond.notify_all()
            return frame_id

    # -- producer side ------------------------------------------------------------------------------------------
    def submit(self, frame: np.ndarray, user_data: Any = None, timeout: float | None = None) -> int | None:
        """Pre-process ``frame`` and start its inference; returns its frame id (``None`` in live mode, where the id is
        given when the frame actually starts).

        Ordered mode blocks while ``max_pending`` frames await a consumer on another thread (``TimeoutError`` after
        ``timeout`` s). When blocking would deadlock - the caller is the consumer, or no thread consumes and the
        caller is neither inside :meth:`producing` nor gave a ``timeout`` - a full pipeline raises ``RuntimeError``.
        Live mode never blocks: a frame that cannot start at once waits in a one-frame slot, replacing (dropping) an
        older waiting frame. Bad frames raise ``ValueError`` (see :func:`ov_inference.to_bgr`); a
        model that cannot be reshaped or compiled for the frame's input size raises
        :class:`ov_inference.ModelCompileError` (a ``ValueError`` too, but no other frame of that size will run).
        """
        if self._closed:
            raise RuntimeError("the pipeline is closed")
        t_submit = time.perf_counter()
        prepared = self.estimator.preprocess_frame(frame)
        preprocess_ms = (time.perf_counter() - t_submit) * 1e3
        waiting = _Waiting(prepared, user_data, frame if self.keep_frames else None, t_submit, preprocess_ms)
        with self._cond:
            if self.live:
                if self._waiting is not None:
                    self.stats["dropped"] += 1
                self._waiting = waiting
            else:
                self._wait_for_room(timeout)
                if self._closed:  # closed while this submit waited for room
                    raise RuntimeError("the pipeline is closed")
                self._reserved += 1  # the slot is this submit's until it starts: another thread cannot take it too
            self.stats["submitted"] += 1  # accepted: a refused submit (full, timed out, closed) is not counted
        if self.live:
            self._pump()
            return None
        try:
            return self._start(waiting)
        finally:
            with self._cond:
                self._reserved -= 1
                self._cond.notify_all()

    def submit_skipped(self, user_data: Any, error: str, frame: np.ndarray | None = None) -> int:
        """Put a frame that will not be inferred (unreadable, bad) in the result order: its result has no poses and
        ``error`` set. Never blocks. In live mode it is the newest frame: a frame still waiting to start is dropped
        (stale), so results stay in submission order."""
        if self.live:
            with self._cond:
                if self._waiting is not None:
                    self._waiting = None
                    self.stats["dropped"] += 1
        return self._add_skipped(user_data, frame, error, time.perf_counter())

    def _wait_for_room(self, timeout: float | None) -> None:
        """(Holding the condition.) Back-pressure: wait until fewer than ``max_pending`` frames are pending, the
        frames other submits are about to start (:attr:`_reserved`) included."""
        if self._has_room():
            return
        consumer, me = self._consumer, threading.current_thread()
        if consumer is me or (timeout is None and consumer is None and me not in self._producer_threads):
            raise RuntimeError(f"{len(self._order)} results are waiting to be taken and no other thread takes them "
                               "(blocking would deadlock): call get()/results() before submitting more, use run(), "
                               "or consume from another thread")
        if not self._cond.wait_for(lambda: self._has_room() or self._closed, timeout):
            raise TimeoutError(f"no room in the pipeline after {timeout} s ({len(self._order)} frames pending)")

    def _has_room(self) -> bool:
        """(Holding the condition.) Whether one more frame fits under ``max_pending`` in ordered mode."""
        return len(self._order) + self._reserved < self.max_pending

    # -- consumer side ------------------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Frames started (or skipped) but not yet returned, plus a live frame waiting to start."""
        with self._cond:
            return len(self._order) + (self._waiting is not None)

    def ready(self) -> bool:
        """Whether the next result in order is finished (so :meth:`get` would not block)."""
        self._pump()
        with self._cond:
            return bool(self._order) and self._jobs[self._order[0]].finished

    def get(self, timeout: float | None = None) -> PipelineResult | None:
        """The next result in submission order, decoded on this thread; blocks until it is ready.

        Returns ``None`` when nothing is pending (and no :meth:`run` producer is still submitting). Raises
        ``TimeoutError`` after ``timeout`` seconds; a frame whose inference failed comes back with ``error`` set
        (the exception is raised instead when it ends ``max_failures`` failures in a row); an exception from the
        producer is raised once the results submitted before it have been returned.
        """
        self._consumer = threading.current_thread()
        deadline = None if timeout is None else time.perf_counter() + timeout
        while True:
            self._pump()
            with self._cond:
                if self._order and self._jobs[self._order[0]].finished:
                    job = self._jobs.pop(self._order.popleft())
                    self._cond.notify_all()  # room for a blocked submit
                    break
                if self._producer_error is not None and not self._order:  # raised once every result is out
                    error, self._producer_error = self._producer_error, None
                    raise error
                if not self._order and self._waiting is None and self._producers == 0:
                    return None
                wait = None if deadline is None else deadline - time.perf_counter()
                if wait is not None and wait <= 0:
                    raise TimeoutError(f"no result within {timeout} s ({len(self._order)} pending)")
                if self._waiting is not None:  # live: poll, as a request turns idle just after its callback
                    wait = 0.002 if wait is None else min(wait, 0.002)
                self._cond.wait(wait)
        return self._finish(job)

    def _finish(self, job: _Job) -> PipelineResult:
        self._pump()
        if job.exception is not None:
            return self._failed(job)
        if job.outputs is not None:
            self._failures = 0
        t0 = time.perf_counter()
        poses: list[Pose] = []
        if job.outputs is not None:
            poses = self.estimator.postprocess(job.outputs, job.meta)
        t1 = time.perf_counter()
        timings = {"preprocess_ms": job.preprocess_ms}
        if job.outputs is not None:
            timings.update(wait_ms=(job.t_start - job.t_submit) * 1e3 - job.preprocess_ms,
                           infer_ms=(job.t_done - job.t_start) * 1e3, decode_ms=(t1 - t0) * 1e3)
        timings["latency_ms"] = (t1 - job.t_submit) * 1e3
        with self._cond:
            self.stats["returned"] += 1
        return PipelineResult(job.frame_id, job.user_data, poses, job.meta, job.frame, job.error, timings)

    def _failed(self, job: _Job) -> PipelineResult:
        """The result of a frame whose inference raised: an error record, or the exception itself when it is not an
        ``Exception`` (Ctrl+C) or ends :attr:`max_failures` failures in a row."""
        exc = job.exception
        self._failures += 1
        fatal = not isinstance(exc, Exception) or self._failures >= self.max_failures
        with self._cond:
            self.stats["failed"] += 1
            self.stats["returned"] += not fatal
        if fatal:
            raise exc
        log.warning("frame %d: inference failed (%s: %s); going on", job.frame_id, type(exc).__name__, exc)
        return PipelineResult(job.frame_id, job.user_data, [], None, job.frame,
                              f"inference failed: {type(exc).__name__}: {exc}",
                              {"preprocess_ms": job.preprocess_ms,
                               "latency_ms": (time.perf_counter() - job.t_submit) * 1e3})

    def results(self, block: bool = False) -> Iterator[PipelineResult]:
        """Results in order: the ones already finished (``block=False``), or all pending ones (``block=True``)."""
        while True:
            if not block and not self.ready():
                return
            result = self.get()
            if result is None:
                return
            yield result

    def drain(self) -> Iterator[PipelineResult]:
        """Every pending result, in order (waits for the requests in flight)."""
        return self.results(block=True)

    @contextlib.contextmanager
    def producing(self) -> Iterator["AsyncPipeline"]:
        """Mark a thread as a producer while it submits: :meth:`get` on another thread then waits for more frames
        instead of returning ``None`` when it has caught up, and a full pipeline blocks this thread's
        :meth:`submit` (back-pressure) until the consumer takes results. Enter it before the consumer starts."""
        me = threading.current_thread()
        with self._cond:
            self._producers += 1
            self._producer_threads.add(me)
        try:
            yield self
        finally:
            with self._cond:
                self._producers -= 1
                self._producer_threads.discard(me)
                self._cond.notify_all()

    def run(self, frames: Iterable[Any]) -> Iterator[PipelineResult]:
        """Run an iterable of frames (or ``(frame, user_data)`` pairs) and yield results in order.

        A producer thread iterates ``frames`` (so reading a video overlaps inference), pre-processes and submits; this
        thread decodes. A frame that is ``None`` or fails pre-processing with ``ValueError`` yields a result with
        ``error`` set and no poses; the rest go on. A model that cannot be reshaped or compiled for a frame's input
        size (:class:`ov_inference.ModelCompileError`) ends the run: the error is raised here once the results
        before it are out. Breaking out of the loop stops the producer.
        """
        stop = threading.Event()

        def produce() -> None:
            try:
                with self._cond:
                    self._producer_threads.add(threading.current_thread())
                for item in frames:
                    if stop.is_set():
                        break
                    frame, user_data = item if isinstance(item, tuple) and len(item) == 2 else (item, None)
                    if frame is None:
                        self.submit_skipped(user_data, "no frame")
                        continue
                    try:
                        self.submit(frame, user_data)
                    except ModelCompileError:
                        raise  # the model cannot run this frame's size: fatal, not this frame's fault
                    except ValueError as exc:
                        self.submit_skipped(user_data, str(exc), None)
            except BaseException as exc:  # handed to the consumer
                with self._cond:
                    self._producer_error = exc
            finally:
                with self._cond:
                    self._producers -= 1
                    self._producer_threads.discard(threading.current_thread())
                    self._cond.notify_all()

        with self._cond:
            self._producers += 1
        self._consumer = threading.current_thread()
        producer = threading.Thread(target=produce, name="lwpose-producer", daemon=True)
        producer.start()
        try:
            while True:
                result = self.get()
                if result is None:
                    break
                yield result
        finally:
            stop.set()
            while producer.is_alive():  # unblock a producer waiting for room
                with self._cond:
                    self._discard_finished()
                producer.join(0.01)
            if self._queue is not None:
                self._queue.wait_all()
            with self._cond:
                if self._waiting is not None:  # a live frame of the abandoned run must not start in the next one
                    self._waiting = None
                    self.stats["dropped"] += 1
                self._discard_finished()

    def _discard_finished(self) -> None:
        """(Holding the condition.) Drop finished results nobody will take (the consumer stopped early)."""
        while self._order and self._jobs[self._order[0]].finished:
            self._jobs.pop(self._order.popleft())
        self._cond.notify_all()

    def wait_all(self) -> None:
        """Wait for every request in flight (results stay available to :meth:`get`)."""
        if self._queue is not None:
            self._queue.wait_all()

    def _release_queue(self) -> None:
        """Wait for the requests in flight and free the request queue; its callback, which an OpenVINO thread may
        hold a moment longer, is waited for at interpreter exit (:func:`_wait_for_released_callbacks`), not here:
        this may run in the garbage collector on any thread."""
        if self._queue is None:
            return
        self._queue.wait_all()
        self._queue = self._queue_size = None
        if self._callback_ref is not None and self._callback_ref() is not None:
            _track_released_callback(self._callback_ref)

    def close(self) -> None:
        """Refuse further submits, drop a live frame still waiting to start, wait for the requests in flight and
        free them (the results stay available to :meth:`get`)."""
        with self._cond:
            self._closed = True
            if self._waiting is not None:
                self._waiting = None
                self.stats["dropped"] += 1
            self._cond.notify_all()
        with self._start_lock:  # a start in progress ends first; none begins after (submit checks _closed)
            self._release_queue()

    def __del__(self) -> None:
        # OpenVINO's queue destroys its requests holding the GIL, and a request's Python callback needs the GIL to
        # finish: a queue dropped while a callback is still running (its frame returned, the pipeline let go a
        # moment later) would deadlock or free memory under it. _release_queue waits, GIL released, until all are
        # done.
        with contextlib.suppress(Exception):  # AttributeError included: __init__ raised before the queue existed
            self._release_queue()

    def __enter__(self) -> "AsyncPipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
