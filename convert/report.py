"""The verification report as a printed table (the JSON form is the report dict itself)."""
from __future__ import annotations

from convert.quantize import HEADS_IN_FLOAT


def _fmt(value, spec: str = ".3g") -> str:
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, float) else str(value)


def _int8_float_text(int8: dict) -> str:
    """The INT8 method and what it kept in float: the output heads of its policy, then (accuracy control) the
    layers NNCF reverted."""
    text = f"{int8.get('method')}; output heads in float: {HEADS_IN_FLOAT.get(int8.get('heads'), int8.get('heads'))}"
    if int8.get("method") == "accuracy_control":
        text += f", then the layers NNCF reverted to float to keep the AP drop <= {int8.get('max_drop')}"
    return text


def calibration_text(cal: dict) -> str:
    """One line for the report's ``int8.calibration`` (:func:`convert.pipeline.calibration_details`): the source as
    its options, the images used and skipped, the subset's limit and seed, the input height."""
    return (f"{cal['source']}: {cal['images']} images ({cal['skipped']} unreadable skipped), "
            f"at most {cal['limit']}, seed {cal['seed']}, height {cal['height']}")


def _int8_settings_text(int8: dict) -> str:
    """The INT8 settings the method and heads do not say: preset, activation ranges, bias correction, CPM."""
    return (f"preset {int8['preset']}, activation ranges {int8['activation_ranges']}, {int8['bias_correction']} "
            f"bias correction, CPM's last conv in {'float' if int8['float_cpm'] else 'INT8'}")


def _executed_text(key: str, precision: str) -> str:
    """The speed table's ``executed`` cell: ``precision`` (the plugin's ``INFERENCE_PRECISION_HINT``), which for an
    INT8 IR is only that of its float parts (its quantized layers run in int8): ``int8+bf16`` there."""
    return f"int8+{precision}" if key.startswith("INT8") else precision


def format_table(report: dict) -> str:
    """Human-readable summary of a :func:`convert.run_conversion` report."""
    lines = [f"lwpose-convert: {report.get('name')} (input {report.get('input')})"]
    fid = report.get("fidelity", {})
    if fid:
        lines.append(f"\nFidelity on {fid.get('count')} {fid.get('images')} (f32 execution, tolerance "
                     f"{fid.get('tolerance'):g}):")
        for key in ("torch_vs_onnx", "torch_vs_ir_fp32", "onnx_vs_ir_fp32", "fp16_vs_fp32"):
            if key in fid:
                lines.append(f"  {key.replace('_vs_', ' vs ').replace('_', ' '):<22} max abs {fid[key]:.3g}")
    int8 = report.get("int8")
    if int8:
        lines.append(f"\nINT8 ({_int8_float_text(int8)}):")
        for cand in int8.get("candidates", []):
            ap = f", AP drop {cand['AP_drop']:+.4f}" if "AP_drop" in cand else ""
            lines.append(f"  candidate heads={cand['heads']:<6} peak F1 {cand['peak_f1']:.3f}{ap}"
                         f"  {'ok' if cand['within_budget'] else 'over budget'}")
        agree = int8.get("agreement")
        if agree:
            lines.append(f"  vs FP32: heatmaps max/mean abs {agree['heatmaps_max_abs']:.3g}/"
                         f"{agree['heatmaps_mean_abs']:.3g}"
                         f", PAFs {agree['pafs_max_abs']:.3g}/{agree['pafs_mean_abs']:.3g}, peaks recall "
                         f"{agree['peak_recall']:.3f} precision {agree['peak_precision']:.3f} "
                         f"({agree['reference_peaks']} FP32 peaks)")
        if int8.get("float_convolutions") is not None:
            lines.append(f"  convolutions left in float: {len(int8['float_convolutions'])}")
        if "preset" in int8:
            lines.append(f"  settings: {_int8_settings_text(int8)}")
        if "source" in int8.get("calibration", {}):
            lines.append(f"  calibration: {calibration_text(int8['calibration'])}")
        if "within_budget" in int8:
            lines.append(f"  budget {int8['budget']}: {'met' if int8['within_budget'] else 'NOT MET'}")
    ap = report.get("ap")
    if ap:
        lines.append(f"\nCOCO AP on {ap['images']} validation images: "
                     + ", ".join(f"{k} {_fmt(v, '.4f')}" for k, v in ap.items() if k != "images"))
    speed = report.get("speed")
    if speed:
        lines.append("\nSpeed on this CPU:")
        lines.append(f"  {'model (hint)':<18} {'executed':<9} {'latency ms':>10} {'async FPS':>10}  input")
        for key, s in speed.items():
            lines.append(f"  {key:<18} {_executed_text(key, s['execution_precision']):<9} "
                         f"{s['latency_ms_p50']:>10.2f} {s['async_fps']:>10.1f}  {s['input_shape']}")
        floats = next((s["execution_precision"] for k, s in speed.items() if k.startswith("INT8")), None)
        if floats:
            lines.append(f"  (int8+{floats}: the INT8 IR's quantized layers run in int8, its float parts in {floats})")
    outs = report.get("outputs", {})
    if outs:
        lines.append("\nWritten: " + ", ".join(f"{k}: {v}" for k, v in outs.items()))
    return "\n".join(lines)
