"""AsyncPipeline: submission order, frame/result association, back-pressure, live dropping, errors, reshape."""
from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from ov_inference import AsyncPipeline, PoseEstimator
from test_runtime_support import tiny_pose_model


@pytest.fixture
def mean_decoder(monkeypatch):
    """Replace decoding by 'the mean of heatmap channel 0', so a result tells which frame's maps it decoded."""
    monkeypatch.setattr("ov_inference.estimator.decode_outputs",
                        lambda heatmaps, pafs, meta, stride=8, decoder_options=None: [float(heatmaps[0].mean())])


@pytest.fixture(scope="module")
def tiny():
    return PoseEstimator(tiny_pose_model(), input_height=64, precision="f32")  # exact maps also on bf16 CPUs


def _frame(value: int, shape=(64, 96, 3)) -> np.ndarray:
    return np.full(shape, value, np.uint8)


def test_results_in_submission_order_with_their_own_maps(tiny, mean_decoder):
    pipe = AsyncPipeline(tiny, num_requests=3)
    values = list(range(0, 250, 10))
    results = list(pipe.run((_frame(v), v) for v in values))
    assert [r.user_data for r in results] == values
    assert [r.frame_id for r in results] == list(range(len(values)))
    for r in results:
        assert r.poses[0] == pytest.approx(r.user_data / 255, abs=1e-4)   # the maps of that very frame
        assert r.frame is not None and r.frame[0, 0, 0] == r.user_data
        assert {"preprocess_ms", "infer_ms", "decode_ms", "latency_ms"} <= set(r.timings)
    assert pipe.stats["started"] == pipe.stats["returned"] == len(values)


def test_manual_submit_and_get_in_order(tiny, mean_decoder):
    pipe = AsyncPipeline(tiny, num_requests=2, max_pending=4)
    got = []
    for v in range(12):
        pipe.submit(_frame(v * 20), v)
        got += [r.user_data for r in pipe.results()]          # whatever is ready, never blocking
        if pipe.pending >= pipe.max_pending:
            got.append(pipe.get().user_data)
    got += [r.user_data for r in pipe.drain()]
    assert got == list(range(12))
    assert pipe.get() is None                                  # nothing pending


def test_new_aspect_ratio_mid_stream_reshapes_and_keeps_order(tiny, mean_decoder):
    pipe = AsyncPipeline(tiny, num_requests=2)
    shapes = [(64, 96), (64, 96), (32, 96), (64, 200), (64, 96), (10, 10)]
    frames = [(_frame(20 * i + 5, (*hw, 3)), i) for i, hw in enumerate(shapes)]
    results = list(pipe.run(frames))
    assert [r.user_data for r in results] == list(range(len(shapes)))
    assert [r.meta.image_size for r in results] == [(w, h) for h, w in shapes]
    assert results[2].meta.input_size == (192, 64) and results[3].meta.input_size == (200, 64)
    for r in results:  # the mean of channel 0 includes padding; the first cell is all frame pixels
        assert r.poses[0] > 0


def test_back_pressure_blocks_submit_until_consumed(tiny, mean_decoder):
    pipe = AsyncPipeline(tiny, num_requests=1, max_pending=2)
    submitted = []
    go = threading.Event()

    def producer():
        with pipe.producing():
            go.set()
            for v in range(5):
                pipe.submit(_frame(v), v)
                submitted.append(v)

    thread = threading.Thread(target=producer)
    thread.start()
    go.wait(10)
    deadline = time.monotonic() + 10
    while len(submitted) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert submitted == [0, 1] and pipe.pending == 2       # the third submit is blocked: bounded in-flight work
    assert thread.is_alive()
    got = [r.user_data for r in pipe.results(block=True)]  # waits while the producer is producing
    thread.join(10)
    assert got == [0, 1, 2, 3, 4] and submitted == got


def test_threads_submitting_at_once_never_exceed_max_pending(tiny, mean_decoder, monkeypatch):
    """Each submit checked for room, let go of the lock, then started: threads that all saw one free slot all
    started (max_pending + 1 per extra thread)."""
    pipe = AsyncPipeline(tiny, num_requests=1, max_pending=2)
    start = pipe._start

    def slow_start(waiting):  # widens the window between the room check and the start
        time.sleep(0.2)
        return start(waiting)

    monkeypatch.setattr(pipe, "_start", slow_start)
    outcomes = []

    def submit(v):
        try:
            pipe.submit(_frame(v), v, timeout=0.6)
            outcomes.append("started")
        except TimeoutError:
            outcomes.append("timed out")

    threads = [threading.Thread(target=submit, args=(v,)) for v in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["started", "started", "timed out", "timed out"] and pipe.pending == 2
    assert len(list(pipe.drain())) == 2


def test_full_pipeline_without_other_consumer_raises_instead_of_deadlock(tiny, mean_decoder):
    pipe = AsyncPipeline(tiny, num_requests=1, max_pending=2)
    pipe.submit(_frame(1), 1)
    pipe.submit(_frame(2), 2)
    with pytest.raises(RuntimeError, match="deadlock"):
        pipe.submit(_frame(3), 3)
    with pytest.raises(TimeoutError):
        pipe.submit(_frame(3), 3, timeout=0.05)
    assert pipe.stats["submitted"] == 2          # the refused submits are not counted
    assert [r.user_data for r in pipe.drain()] == [1, 2]


def test_live_mode_drops_stale_frames_latest_wins(omz_xml, mean_decoder):
    est = PoseEstimator(omz_xml, input_height=256)             # slow enough (tens of ms) to be busy
    pipe = AsyncPipeline(est, num_requests=1, live=True)
    n = 30
    for v in range(n):
        assert pipe.submit(_frame(v, (256, 456, 3)), v) is None   # never blocks
    results = list(pipe.drain())
    ids = [r.user_data for r in results]
    assert ids == sorted(ids) and ids[0] == 0 and ids[-1] == n - 1   # in order; the latest frame always runs
    assert pipe.stats["dropped"] == n - len(results) > 0
    assert pipe.stats["dropped"] + pipe.stats["started"] == n


def test_live_mode_latency_stays_near_one_inference(omz_xml):
    est = PoseEstimator(omz_xml, input_height=128)
    pipe = AsyncPipeline(est, num_requests=1, live=True, keep_frames=False)
    frame = np.zeros((128, 228, 3), np.uint8)
    infer, latency = [], []
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:            # a camera far faster than the network
        pipe.submit(frame)
        for r in pipe.results():
            infer.append(r.timings["infer_ms"])
            latency.append(r.timings["latency_ms"])
        time.sleep(0.001)
    for r in pipe.drain():
        infer.append(r.timings["infer_ms"])
        latency.append(r.timings["latency_ms"])
    assert pipe.stats["dropped"] > 0
    # a frame waits at most for the request in flight: latency well under 3 inferences, not a growing queue
    assert np.median(latency) < 3 * np.median(infer) + 20


def test_bad_frames_in_run_become_error_results(tiny, mean_decoder):
    pipe = AsyncPipeline(tiny)
    frames = [(_frame(10), "a"), (None, "missing"), (np.zeros((0, 4, 3), np.uint8), "empty"),
              (np.zeros((8, 8, 3), np.float32), "float"), (_frame(30), "b")]
    results = list(pipe.run(frames))
    assert [r.user_data for r in results] == ["a", "missing", "empty", "float", "b"]
    assert [r.error is None for r in results] == [True, False, False, False, True]
    assert "empty frame" in results[2].error and "uint8" in results[3].error
    assert results[1].poses == [] and results[1].meta is None


def test_callback_exception_reaches_the_consumer(tiny):
    est = PoseEstimator(tiny_pose_model(), input_height=64)
    est.spec = dataclasses.replace(est.spec, heatmaps_index=7)   # the callback will fail to fetch output 7
    pipe = AsyncPipeline(est, num_requests=1, max_failures=3)
    for i in range(3):
        pipe.submit(_frame(1), i)
    first, second = pipe.get(timeout=10), pipe.get(timeout=10)    # error records: the stream goes on ...
    assert (first.user_data, second.user_data) == (0, 1)
    assert first.error.startswith("inference failed: ") and first.poses == [] and first.meta is None
    with pytest.raises(Exception) as caught:                       # ... until max_failures in a row: raised
        pipe.get(timeout=10)
    assert not isinstance(caught.value, (TimeoutError, AssertionError))
    assert pipe.stats["failed"] == 3
    with pytest.raises(ValueError, match="max_failures"):
        AsyncPipeline(est, max_failures=0)


@pytest.mark.parametrize("name", ["num_requests", "max_pending", "max_failures"])
def test_counts_that_are_not_integers_are_refused(tiny, name):
    # num_requests=1.5 was OpenVINO's 'incompatible constructor arguments' and its signatures, "2" a bare '<'
    for value in (1.5, "2", True):
        with pytest.raises(TypeError, match=f"{name} must be an integer or None, got {value!r}"):
            AsyncPipeline(tiny, **{name: value})


def test_one_failed_inference_in_run_is_an_error_record_and_the_rest_go_on(tiny, mean_decoder):
    pipe = AsyncPipeline(tiny, num_requests=2, max_failures=2)
    completions = pipe._completions   # the callback's side (the pipeline itself must not be held by the callback)
    on_done = completions.on_done

    def flaky(request, frame_id):   # inference of frames 2 and 5 fails (never two in a row)
        if frame_id in (2, 5):
            with completions.cond:
                job = completions.jobs[frame_id]
                job.exception, job.finished = RuntimeError("device hiccup"), True
                completions.cond.notify_all()
            return
        on_done(request, frame_id)

    completions.on_done = flaky   # taken by the request queue when the first frame starts
    values = list(range(0, 80, 10))
    results = list(pipe.run((_frame(v), v) for v in values))
    assert [r.user_data for r in results] == values
    assert [r.frame_id for r in results if r.error] == [2, 5]
    assert "device hiccup" in results[2].error and results[2].poses == []
    for r in results:
        if r.error is None:
            assert r.poses[0] == pytest.approx(r.user_data / 255, abs=1e-4)
    assert pipe.stats["failed"] == 2


def test_producer_exception_reaches_the_consumer(tiny, mean_decoder):
    def frames():
        yield _frame(1), 1
        raise OSError("disk gone")

    pipe = AsyncPipeline(tiny)
    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for r in pipe.run(frames()):
            seen.append(r.user_data)
    assert seen == [1]                         # the frame read before the failure is not lost


def test_breaking_out_of_run_stops_the_producer(tiny, mean_decoder):
    produced = []

    def frames():
        for v in range(1000):
            produced.append(v)
            yield _frame(v % 255), v

    pipe = AsyncPipeline(tiny, num_requests=2, max_pending=3)
    for r in pipe.run(frames()):
        if r.user_data == 2:
            break
    time.sleep(0.05)
    assert len(produced) < 20                  # bounded: the producer stopped, it did not read everything
    assert not any(t.name == "lwpose-producer" and t.is_alive() for t in threading.enumerate())


def test_requests_keep_running_while_the_consumer_decodes(tiny, mean_decoder):
    """A slow consumer (decoding, drawing) does not hold requests idle: later frames finish meanwhile."""
    pipe = AsyncPipeline(tiny, num_requests=2, max_pending=5)
    finished_meanwhile = None
    for r in pipe.run((_frame(v), v) for v in range(8)):
        if r.user_data == 0:
            time.sleep(0.5)                                    # the consumer is busy with frame 0
            with pipe._cond:
                finished_meanwhile = sum(job.finished for job in pipe._jobs.values())
    assert finished_meanwhile == pipe.max_pending              # every frame allowed in flight was inferred


def test_model_that_cannot_take_a_frames_size_stops_the_run_instead_of_erroring_each_frame(mean_decoder):
    """A reshape failure is the model's, not the frame's: run() raises it once (after the results before it),
    rather than turning this and every later frame of that size into an error result and retrying each time."""
    from ov_inference import ModelCompileError

    est = PoseEstimator(tiny_pose_model(cells_wide=12), input_height=64, precision="f32")  # 96 pixels wide only
    pipe = AsyncPipeline(est, num_requests=2)
    compiles = []
    real = est.cache._compile
    est.cache._compile = lambda h, w: compiles.append((h, w)) or real(h, w)
    shapes = [(64, 96), (64, 96), (64, 64), (64, 64), (64, 96)]
    seen = []
    with pytest.raises(ModelCompileError, match="cannot reshape"):
        for r in pipe.run((_frame(10, (*hw, 3)), i) for i, hw in enumerate(shapes)):
            seen.append((r.user_data, r.error))
    assert seen == [(0, None), (1, None)]          # the frames before are not lost, and no per-frame error records
    assert compiles == [(64, 96), (64, 64)]        # tried once, not once per frame


def test_live_skipped_frame_keeps_submission_order_and_abandoned_runs_leave_nothing(tiny, mean_decoder):
    pipe = AsyncPipeline(tiny, num_requests=1, live=True)
    order = {0: 0, 1: 1, "bad": 2}
    pipe.submit(_frame(0), 0)
    pipe.submit(_frame(10), 1)          # may wait for the one request ...
    pipe.submit_skipped("bad", "unreadable")  # ... and is then stale: the newer (bad) frame wins
    got = [r.user_data for r in pipe.drain()]
    assert got == sorted(got, key=order.get) and got[-1] == "bad"

    def frames():
        for i in range(50):
            time.sleep(0.002)
            yield _frame(i % 250), f"old{i}"

    for result in pipe.run(frames()):
        break                           # abandoned after the first result
    assert pipe.pending == 0
    assert [r.user_data for r in pipe.run([(_frame(5), "new")])] == ["new"]


def test_a_size_that_fails_to_compile_does_not_stick(tmp_path):
    from ov_inference import ModelCompileError

    model = tiny_pose_model(cells_wide=12)  # reshapes only to inputs 96 wide
    est = PoseEstimator(model, input_height=64)
    est(_frame(1))                          # 64 x 96: compiles
    with pytest.raises(ModelCompileError):
        est(_frame(1, shape=(64, 64, 3)))   # another aspect ratio: this topology cannot
    assert est.execution_precision and AsyncPipeline(est).num_requests >= 1  # the 96-wide model still answers


def test_a_dropped_pipeline_is_freed_at_once_with_its_requests(tiny, mean_decoder):
    """No reference cycle through the request queue's callback: the pipeline and its OpenVINO requests go where the
    last reference goes, not in a later garbage-collector pass on whatever thread runs it."""
    import gc
    import weakref

    for live in (False, True):
        pipe = AsyncPipeline(tiny, live=live)
        assert len(list(pipe.run(_frame(v) for v in range(6)))) >= 1
        ref = weakref.ref(pipe)
        gc.disable()
        try:
            del pipe
            assert ref() is None
        finally:
            gc.enable()


def test_closing_or_dropping_a_pipeline_frees_its_requests_and_exit_waits_for_their_callback(tiny, mean_decoder):
    """A request's worker thread holds a copy of the queue's Python callback for a moment after the request is done;
    if that copy is the last one while the interpreter shuts down, dropping it aborts the process (exit 134,
    "terminate called without an active exception": seen in 16 of 80 CLI runs stopped by --max-frames). So closing
    or dropping a pipeline frees its requests, and an exit hook waits until no OpenVINO thread holds a callback."""
    from ov_inference import pipeline as pipeline_module

    for live in (False, True):
        pipe = AsyncPipeline(tiny, num_requests=2, live=live)
        for result in pipe.run(_frame(v) for v in range(50)):
            break                                    # stopped early, requests still in flight
        callback = pipe._callback_ref
        assert callback() is not None                # the queue is kept for the next run
        pipe.close()
        assert pipe._queue is None
        pipeline_module._wait_for_released_callbacks(timeout=5)
        assert callback() is None                    # OpenVINO let go of it
        with pytest.raises(RuntimeError, match="closed"):
            pipe.submit(_frame(1))

        pipe = AsyncPipeline(tiny, num_requests=2, live=live)
        assert len(list(pipe.run(_frame(v) for v in range(4)))) >= 1
        callback = pipe._callback_ref
        del pipe                                     # no close(): the last reference does the same
        pipeline_module._wait_for_released_callbacks(timeout=5)
        assert callback() is None

    # ... and that wait runs at exit: a callback still held keeps a process in it (up to the bound), exit code 0
    import subprocess
    import sys

    script = """if True:
        import atexit, time, weakref
        atexit.register(lambda: print(f"waited {time.monotonic() - start:.2f}"))  # runs after the module's hook
        from ov_inference import pipeline
        pipeline.CALLBACK_RELEASE_TIMEOUT_S = 0.5
        class Held: pass
        held = Held()  # a callback OpenVINO would still hold
        pipeline._track_released_callback(weakref.ref(held))
        start = time.monotonic()
    """
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 0.45 <= float(done.stdout.split()[-1]) < 5, done.stdout


def test_a_new_aspect_ratio_releases_the_old_requests_callback(tiny, mean_decoder):
    from ov_inference import pipeline as pipeline_module

    pipe = AsyncPipeline(tiny, num_requests=2)
    list(pipe.run([_frame(1)]))
    first = pipe._callback_ref
    list(pipe.run([_frame(2, (32, 96, 3))]))
    pipeline_module._wait_for_released_callbacks(timeout=5)
    assert first() is None and pipe._callback_ref() is not None


def test_closing_a_live_pipeline_drops_the_frame_waiting_to_start(tiny, mean_decoder):
    pipe = AsyncPipeline(tiny, num_requests=1, live=True)
    for v in range(6):
        pipe.submit(_frame(v * 10), v)           # the one request is busy: later frames wait in the slot
    waiting = pipe._waiting is not None
    dropped = pipe.stats["dropped"]
    pipe.close()
    assert pipe._waiting is None and pipe.stats["dropped"] == dropped + waiting
    got = [r.user_data for r in pipe.drain()]    # the frames started before close, in order; then nothing
    assert got and got == sorted(got) and pipe.get(timeout=5) is None
    assert pipe.stats["started"] == len(got)


def test_live_mode_with_a_slow_consumer_drops_frames_instead_of_queueing_results(tiny, mean_decoder):
    """Live mode with a consumer slower than the camera (drawing, writing a video, decoding a crowd) and a fast
    network: finished results must not pile up (latency growing by a frame per frame); the stale frames are dropped."""
    pipe = AsyncPipeline(tiny, num_requests=1, live=True)

    def camera(n=40):
        for i in range(n):
            time.sleep(0.005)
            yield _frame(i), i

    backlog = []
    for result in pipe.run(camera()):
        backlog.append(pipe.stats["started"] - pipe.stats["returned"])  # started frames not yet returned
        time.sleep(0.03)                                                 # the slow consumer
    assert max(backlog) <= pipe.max_pending
    assert pipe.stats["dropped"] > 0 and pipe.stats["dropped"] + pipe.stats["started"] == 40


def test_live_frames_start_in_submission_order_when_two_threads_pump(tiny, mean_decoder):
    """A live frame taken from the slot is started under the same lock that took it: a thread preempted between
    taking frame 1 and starting it must not let another thread's newer frame 2 start first (results out of
    submission order, and frame 1's start then blocking on the busy request)."""

    class PreemptedOnce:
        """A lock whose first blocking acquire is delayed, as if the thread were descheduled just before it."""

        def __init__(self):
            self.lock, self.delayed = threading.Lock(), False

        def acquire(self, blocking=True, timeout=-1):
            if blocking and not self.delayed:
                self.delayed = True
                time.sleep(0.2)
            return self.lock.acquire(blocking, timeout)

        def release(self):
            self.lock.release()

        __enter__ = acquire

        def __exit__(self, *exc):
            self.release()

    pipe = AsyncPipeline(tiny, num_requests=1, live=True)
    pipe.submit(_frame(1), "warm-up")
    assert [r.user_data for r in pipe.drain()] == ["warm-up"]
    pipe._start_lock = PreemptedOnce()
    first = threading.Thread(target=pipe.submit, args=(_frame(2), "first"))
    first.start()
    time.sleep(0.05)
    pipe.submit(_frame(3), "second")
    first.join(5)
    got = [r.user_data for r in pipe.drain()]
    assert got in (["first", "second"], ["second"], ["first"])


def test_default_max_pending_follows_the_requests_of_a_new_input_size(tiny, mean_decoder, monkeypatch):
    # a device whose optimal number of requests grows with each new input size: the frames allowed in flight grow
    # with it (a fixed bound from the first size's count would leave the extra requests idle); an explicit bound stays
    monkeypatch.setattr(AsyncPipeline, "_default_requests",
                        lambda self, optimal: 2 + len(getattr(self, "requests_by_size", {})))
    frames = [np.full((96, 160, 3), 60, np.uint8), np.full((160, 96, 3), 60, np.uint8)]
    for given, expected in ((None, [4, 5]), (3, [3, 3])):
        pipeline = AsyncPipeline(tiny, max_pending=given)
        seen = []
        for frame in frames:
            pipeline.submit(frame)
            seen.append(pipeline.max_pending)
        assert len(list(pipeline.drain())) == 2
        pipeline.close()
        assert seen == expected and list(pipeline.requests_by_size.values()) == [2, 3]
