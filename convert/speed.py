"""Latency and async throughput of a compiled IR on this CPU, with the execution precision that really ran."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np

from ov_inference.adapter import execution_precision, get_core
from pose_format import INPUT_HEIGHT_LIVE, PAD_VALUE

log = logging.getLogger(__name__)

#: Input size of speed measurements, input pixels (a 16:9 frame letterboxed at the live height: 256 x 456).
BENCH_HEIGHT, BENCH_WIDTH = INPUT_HEIGHT_LIVE, 456


@dataclass(frozen=True)
class Speed:
    """``latency_ms_p50``: median single-request latency (LATENCY hint); ``async_fps``: frames per second with
    the device's optimal number of async requests (THROUGHPUT hint); ``execution_precision``: the
    ``INFERENCE_PRECISION_HINT`` the CPU plugin actually used; ``input_shape``: ``[1, H, W, 3]``."""

    latency_ms_p50: float
    async_fps: float
    execution_precision: str
    requests: int
    input_shape: list

    def as_dict(self) -> dict:
        return asdict(self)


def static_copy(model, height: int = BENCH_HEIGHT, width: int = BENCH_WIDTH):
    """A copy of ``model`` reshaped to a static ``[1, height, width, 3]`` input (as the runtime compiles it)."""
    import openvino as ov

    model = model.clone()
    model.reshape({model.inputs[0]: ov.PartialShape([1, height, width, 3])})
    return model


def _bench_input(model, height: int, width: int):
    """``(static model, frame)``: ``model`` at ``[1, height, width, 3]`` (when its input is dynamic) and a u8 input
    like a letterboxed 4:3 frame (random content, the right quarter padding)."""
    static = static_copy(model, height, width) if model.inputs[0].get_partial_shape().is_dynamic else model
    shape = [int(d) for d in static.inputs[0].get_shape()]
    frame = np.full(shape, PAD_VALUE, dtype=np.uint8)
    frame[..., : shape[2] * 3 // 4, :] = np.random.default_rng(0).integers(0, 256, (*shape[:2], shape[2] * 3 // 4, 3))
    return static, frame


def measure_speed(model, *, precision_hint: str | None = None, seconds: float = 2.0,
                  height: int = BENCH_HEIGHT, width: int = BENCH_WIDTH) -> Speed:
    """Measure ``model`` (an ``ov.Model`` with a u8 NHWC input) at ``height`` x ``width`` on CPU.

    ``precision_hint``: ``"f32"``, ``"bf16"``, ... or ``None`` for the device default. Each phase runs for
    about ``seconds`` after a warm-up.
    """
    import openvino as ov

    core = get_core()
    static, frame = _bench_input(model, height, width)
    shape = list(frame.shape)
    base = {"INFERENCE_PRECISION_HINT": precision_hint} if precision_hint else {}

    compiled = core.compile_model(static, "CPU", {**base, "PERFORMANCE_HINT": "LATENCY"})
    executed = execution_precision(compiled)
    request = compiled.create_infer_request()
    request.infer({0: frame})
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t = time.perf_counter()
        request.infer({0: frame})
        times.append(time.perf_counter() - t)
    latency = float(np.median(times) * 1e3)
    del request, compiled

    compiled = core.compile_model(static, "CPU", {**base, "PERFORMANCE_HINT": "THROUGHPUT"})
    n = max(2, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    queue = ov.AsyncInferQueue(compiled, n)
    for _ in range(n):
        queue.start_async({0: frame})
    queue.wait_all()
    count = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds or count < 2 * n:
        queue.start_async({0: frame})
        count += 1
    queue.wait_all()
    fps = count / (time.perf_counter() - t0)
    log.info("speed %s: %.2f ms p50, %.1f async FPS (%d requests), executed %s", shape, latency, fps, n, executed)
    return Speed(latency, fps, executed, n, shape)


@dataclass(frozen=True)
class LayerProfile:
    """Where one synchronous inference spends its time, from the CPU plugin's performance counters.

    ``by_type``: milliseconds per operation type (``Convolution``, ``GroupConvolution``, ``Reorder``, ...),
    median over the runs; ``kernels``: the distinct kernel names that ran the convolutions (e.g.
    ``brgconv_avx512_1x1_I8``), which show the arithmetic actually used; ``total_ms``: their sum (kernel time
    only, without the plugin's per-call overhead); ``execution_precision`` as in :class:`Speed`."""

    by_type: dict
    kernels: list
    total_ms: float
    execution_precision: str

    def as_dict(self) -> dict:
        return asdict(self)


def layer_profile(model, *, precision_hint: str | None = None, runs: int = 20,
                  height: int = BENCH_HEIGHT, width: int = BENCH_WIDTH) -> LayerProfile:
    """Profile ``model`` layer by layer at ``height`` x ``width`` with the LATENCY hint (see :class:`LayerProfile`)."""
    core = get_core()
    static, frame = _bench_input(model, height, width)
    config = {"PERF_COUNT": True, "PERFORMANCE_HINT": "LATENCY"}
    if precision_hint:
        config["INFERENCE_PRECISION_HINT"] = precision_hint
    compiled = core.compile_model(static, "CPU", config)
    request = compiled.create_infer_request()
    for _ in range(3):
        request.infer({0: frame})
    per_run: dict[str, list] = {}
    kernels = set()
    for _ in range(max(1, runs)):
        request.infer({0: frame})
        totals: dict[str, float] = {}
        for info in request.profiling_info:
            ms = info.real_time.total_seconds() * 1e3
            totals[info.node_type] = totals.get(info.node_type, 0.0) + ms
            if "Convolution" in info.node_type and ms > 0:
                kernels.add(info.exec_type)
        for key, ms in totals.items():
            per_run.setdefault(key, []).append(ms)
    by_type = {key: float(np.median(v)) for key, v in sorted(per_run.items(), key=lambda kv: -np.median(kv[1]))
               if np.median(v) > 0}
    return LayerProfile(by_type, sorted(kernels), float(sum(by_type.values())), execution_precision(compiled))
