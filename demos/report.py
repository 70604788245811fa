"""The quickstart's report folder: ``report.json`` (machine-readable), ``report.md`` (for people) and a plot.

The report is a plain dict (see :func:`write_report`); ``rows`` holds one entry per way of running the model::

    {"name": "IR INT8", "execution_precision": "bf16", "ap": 0.71, "ap50": 0.9, "ar": 0.75, "fps": 112.0,
     "latency_ms": 9.1, "fps_kind": "async, 2 requests"}

``ap`` / ``ap50`` / ``ar`` are COCO keypoint AP, AP at OKS 0.5 and AR in 0..1 (``None`` when not evaluated); ``fps``
is the throughput of the network alone, frames per second, measured as ``fps_kind`` says (async with N requests, or
``sync (1 / latency)``); ``latency_ms`` is one synchronous inference, milliseconds. Rows name no model file (the
report's ``demo`` entry names the IR the demo ran).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pose_format import dumps_strict

__all__ = ["REPORT_JSON", "REPORT_MD", "REPORT_PLOT", "write_report", "render_markdown", "plot_rows"]

log = logging.getLogger(__name__)

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_PLOT = "speed_accuracy.png"


def _fmt(value: Any, digits: int = 1, scale: float = 1.0, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, (int, float)):
        return f"{value * scale:.{digits}f}{suffix}"
    return str(value)


def _profile_lines(profile: dict) -> list[str]:
    """Kernel milliseconds per operation type, FP32 at the device default against INT8 (one sync inference)."""
    fp32, int8 = profile["fp32_default"], profile["int8"]
    lines = ["## Where the time goes", "",
             f"Kernel time of one synchronous inference at 256 x 456, from the CPU plugin's performance counters: "
             f"FP32 IR at the device default (executing {fp32['execution_precision']}) against the INT8 IR.", "",
             "| operation | FP32 ms | INT8 ms | FP32 / INT8 |", "|---|---|---|---|"]
    for op in sorted(set(fp32["by_type"]) | set(int8["by_type"]), key=lambda o: -fp32["by_type"].get(o, 0.0)):
        a, b = fp32["by_type"].get(op), int8["by_type"].get(op)
        ratio = a / b if a and b else None
        lines.append(f"| {op} | {_fmt(a, 2)} | {_fmt(b, 2)} | {_fmt(ratio, 2)} |")
    lines.append(f"| total | {_fmt(fp32['total_ms'], 2)} | {_fmt(int8['total_ms'], 2)} | "
                 f"{_fmt(fp32['total_ms'] / int8['total_ms'], 2)} |")
    lines += ["", f"Convolution kernels: FP32 {', '.join(fp32['kernels'])}; INT8 {', '.join(int8['kernels'])}.", ""]
    return lines


def _sync_rows(rows: list[dict]) -> list[str]:
    """Names of the rows whose ``fps`` is 1 / sync latency rather than async throughput (PyTorch)."""
    return [r["name"] for r in rows if str(r.get("fps_kind", "")).startswith("sync")]


def render_markdown(report: dict) -> str:
    """The ``report.md`` text for a report dict."""
    lines = [f"# {report.get('title', 'Lightweight OpenPose quickstart')}", ""]
    if report.get("summary"):
        lines += [report["summary"], ""]
    rows = report.get("rows", [])
    if rows:
        lines += ["## Speed and accuracy per precision", "",
                  "| run | execution precision | AP | AP50 | async FPS | sync latency |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['name']} | {_fmt(r.get('execution_precision'))} | {_fmt(r.get('ap'), 1, 100)} | "
                         f"{_fmt(r.get('ap50'), 1, 100)} | {_fmt(r.get('fps'))} | "
                         f"{_fmt(r.get('latency_ms'), 1, 1, ' ms')} |")
        sync = _sync_rows(rows)
        lines += ["", "AP in percent (COCO keypoint AP on the evaluation images); FPS = async throughput of the "
                  "network alone on this machine"
                  + (f" ({', '.join(sync)}: 1 / sync latency, one inference at a time)" if sync else "")
                  + "; latency = one synchronous inference. Execution precision = "
                  "the CPU plugin's INFERENCE_PRECISION_HINT, the type of the floating-point layers (an INT8 IR "
                  "runs its quantized layers in int8).", ""]
    if report.get("targets"):
        lines += ["## Targets", "", "| target | value | met |", "|---|---|---|"]
        for t in report["targets"]:
            met = "n/a" if t.get("met") is None else _fmt(t["met"])
            lines.append(f"| {t['name']} | {_fmt(t.get('value'), 2)} | {met} |")
        lines.append("")
    if report.get("profile"):
        lines += _profile_lines(report["profile"])
    if report.get("training"):
        t = report["training"]
        lines += ["## Training", "", f"{t['iterations']} iterations (batch {t.get('batch_size')}, crop "
                  f"{t.get('crop_size')}) in {_fmt(t.get('train_seconds'))} s = {_fmt(t.get('seconds_per_iter'), 2)} s "
                  f"per iteration, final loss {_fmt(t.get('last_loss'), 2)}"
                  + (f"; reused from the cache `{t['run']}`." if t.get("cached")
                     else f"; run folder `{t['run']}`."), ""]
    if report.get("decode"):
        d = report["decode"]
        p95 = (f", 95th percentile {_fmt(d['decode_ms_p95'], 2, 1, ' ms')}" if d.get("decode_ms_p95") is not None
               else "")
        over = f" over {d['frames']} frames of the {d['source']}" if d.get("frames") and d.get("source") else ""
        lines += ["## Decoding", "", f"Median decode time {_fmt(d.get('decode_ms_p50'), 2, 1, ' ms')}{p95} per "
                  f"frame{over}.", ""]
    if report.get("demo"):
        d = report["demo"]
        clip = f"`{d['output']}`" if d.get("output") else "No clip written"
        lines += ["## Demo clip", "", f"{clip}: {d.get('frames')} frames through the async pipeline at "
                  f"{_fmt(d.get('fps'))} FPS end to end ({_fmt(d.get('people_mean'), 2)} people per frame on average)."]
        if d.get("execution_precision"):
            lines[-1] += f" Model {d.get('model')}, execution precision {d['execution_precision']}."
        photos = d.get("photos")
        if photos:
            lines[-1] += (f" Your photos, annotated: `{photos.get('output')}` ({photos.get('images')} images"
                          + (f", {photos['skipped']} unreadable skipped" if photos.get("skipped") else "") + ").")
        lines.append("")
    if report.get("plot"):
        lines += [f"![speed and accuracy per precision]({report['plot']})", ""]
    if report.get("steps"):
        lines += ["## Steps", "", "| step | seconds | note |", "|---|---|---|"]
        for s in report["steps"]:
            lines.append(f"| {s['name']} | {_fmt(s.get('seconds'))} | {s.get('note', '')} |")
        lines += ["", f"Total: {_fmt(report.get('total_s'))} s.", ""]
    if report.get("environment"):
        lines += ["## Environment", ""] + [f"- {k}: {v}" for k, v in report["environment"].items()] + [""]
    if report.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(lines)


def plot_rows(rows: list[dict], path: str | Path) -> Path:
    """A two-panel bar chart (async FPS, AP in percent) per run; written with matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in rows]
    colors = ["#888888" if "PyTorch" in n else "#1f77b4" if "FP32" in n else "#2ca02c" if "INT8" in n else "#ff7f0e"
              for n in names]
    fig, (ax_fps, ax_ap) = plt.subplots(1, 2, figsize=(11, 4.2))
    sync = _sync_rows(rows)
    fps_label = "async FPS" + (f" ({', '.join(sync)}: 1 / sync latency)" if sync else "") + " (higher is better)"
    for ax, key, scale, label in ((ax_fps, "fps", 1.0, fps_label),
                                  (ax_ap, "ap", 100.0, "COCO keypoint AP, % (higher is better)")):
        values = [(r.get(key) or 0.0) * scale for r in rows]
        bars = ax.bar(range(len(rows)), values, color=colors)
        for bar, r, v in zip(bars, rows, values):
            ax.annotate("-" if r.get(key) is None else f"{v:.1f}", (bar.get_x() + bar.get_width() / 2, v),
                        ha="center", va="bottom", fontsize=9)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([f"{n}\n({r.get('execution_precision') or '-'})" for n, r in zip(names, rows)], fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.set_ylim(0, max(values + [1.0]) * 1.18)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(folder: str | Path, report: dict) -> dict[str, Path]:
    """Write the plot (when ``report['rows']`` is non-empty), ``report.json`` and ``report.md`` into ``folder``.

    Files are written to temporary names and renamed, so an interrupted run never leaves half a report.
    Returns ``{"json": ..., "md": ..., "plot": ...}`` paths (``plot`` only when drawn).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    report = dict(report)
    if report.get("rows"):
        tmp = plot_rows(report["rows"], folder / (".tmp-" + REPORT_PLOT))  # the suffix tells matplotlib the format
        os.replace(tmp, folder / REPORT_PLOT)
        out["plot"] = folder / REPORT_PLOT
        report["plot"] = REPORT_PLOT
    for key, name, text in (("json", REPORT_JSON, dumps_strict(report, indent=2, default=str) + "\n"),
                            ("md", REPORT_MD, render_markdown(report))):
        tmp = folder / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, folder / name)
        out[key] = folder / name
    log.info("report written to %s", folder)
    return out
