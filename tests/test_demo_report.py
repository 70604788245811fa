"""demos.report: report.json / report.md / plot of the quickstart."""
import json

import cv2

from demos.report import REPORT_JSON, REPORT_MD, REPORT_PLOT, render_markdown, write_report

ROWS = [
    {"name": "PyTorch", "execution_precision": "f32", "ap": 0.612, "ap50": 0.9, "fps": 21.0, "latency_ms": 48.0},
    {"name": "IR FP32", "execution_precision": "f32", "ap": 0.611, "ap50": 0.9, "fps": 34.0, "latency_ms": 28.7},
    {"name": "IR INT8", "execution_precision": "bf16", "ap": None, "fps": 115.0, "latency_ms": 8.8},
]


def test_write_report_files_and_content(tmp_path):
    report = {"title": "t", "rows": ROWS, "targets": [{"name": "INT8 / FP32 FPS", "value": 3.38, "met": True}],
              "steps": [{"name": "train", "seconds": 12.5, "note": "cached"}], "total_s": 20.0,
              "decode": {"decode_ms_p50": 0.61, "decode_ms_p95": 0.9}}
    paths = write_report(tmp_path / "r", report)
    assert set(paths) == {"json", "md", "plot"}
    data = json.loads((tmp_path / "r" / REPORT_JSON).read_text())
    assert data["rows"][2]["fps"] == 115.0 and data["plot"] == REPORT_PLOT
    md = (tmp_path / "r" / REPORT_MD).read_text()
    assert "| IR FP32 | f32 | 61.1 | 90.0 | 34.0 | 28.7 ms |" in md
    assert "| IR INT8 | bf16 | - |" in md and "| INT8 / FP32 FPS | 3.38 | yes |" in md
    assert f"]({REPORT_PLOT})" in md and "0.61 ms" in md
    img = cv2.imread(str(tmp_path / "r" / REPORT_PLOT))
    assert img is not None and img.shape[0] > 200 and img.shape[1] > 600
    assert not list((tmp_path / "r").glob("*.tmp"))


def test_markdown_names_the_annotated_photos_and_skips():
    md = render_markdown({"demo": {"output": "clip.mp4", "frames": 30, "fps": 40.0, "people_mean": 2.0,
                                   "photos": {"output": "annotated/", "images": 6, "skipped": 1}}})
    assert "Your photos, annotated: `annotated/` (6 images, 1 unreadable skipped)." in md


def test_markdown_without_rows_has_no_plot():
    md = render_markdown({"summary": "nothing ran"})
    assert "nothing ran" in md and "png" not in md


def test_markdown_layer_profile_section():
    profile = {"fp32_default": {"by_type": {"Convolution": 14.9, "GroupConvolution": 0.8, "Subgraph": 0.07},
                                "kernels": ["brgconv_avx512_bf16"], "total_ms": 15.77, "execution_precision": "bf16"},
               "int8": {"by_type": {"Convolution": 8.1, "GroupConvolution": 0.8}, "kernels": ["brgconv_avx512_I8"],
                        "total_ms": 8.9, "execution_precision": "bf16"}}
    md = render_markdown({"profile": profile})
    assert "## Where the time goes" in md and "executing bf16" in md
    assert "| Convolution | 14.90 | 8.10 | 1.84 |" in md
    assert "| Subgraph | 0.07 | - | - |" in md  # absent from INT8: no ratio
    assert "| total | 15.77 | 8.90 | 1.77 |" in md
    assert "INT8 brgconv_avx512_I8" in md


def test_markdown_says_which_fps_is_not_async():
    """The quickstart's PyTorch FPS is 1 / sync latency (``fps_kind``), not async throughput like the IRs'."""
    rows = [{**ROWS[0], "fps_kind": "sync (1 / latency)"}, {**ROWS[1], "fps_kind": "async, 2 requests"}]
    md = render_markdown({"rows": rows})
    assert "FPS = async throughput of the network alone on this machine (PyTorch: 1 / sync latency" in md
    assert "IR FP32: 1 / sync" not in md
    assert "(PyTorch" not in render_markdown({"rows": ROWS[1:]})


def test_markdown_decode_line_names_its_frames_and_source():
    md = render_markdown({"decode": {"decode_ms_p50": 0.61, "decode_ms_p95": 0.9, "frames": 240,
                                     "source": "held-out evaluation images"}})
    assert "Median decode time 0.61 ms, 95th percentile 0.90 ms per frame over 240 frames of the held-out " in md


def test_the_documented_row_has_the_keys_of_the_quickstarts_rows():
    """demos.report's docstring shows a row of ``report['rows']``: its keys are those the quickstart writes."""
    import ast

    import demos.report
    from demos.quickstart import QuickstartConfig, _assemble, _Steps

    example = demos.report.__doc__.split("::", 1)[1].split("\n\n")[1]
    documented = ast.literal_eval(example.strip())
    report = _assemble(QuickstartConfig(), "checkpoint", None, {}, {}, _Steps(1), [])
    assert set(documented) == set(report["rows"][0])


def test_the_plot_says_which_fps_is_one_over_sync_latency(tmp_path, monkeypatch):
    """The plot titled every bar 'async FPS', PyTorch's too, which report.md calls 1 / sync latency."""
    from matplotlib.figure import Figure

    titles = []
    real_savefig = Figure.savefig

    def savefig(fig, *args, **kw):
        titles.extend(ax.get_title() for ax in fig.axes)
        return real_savefig(fig, *args, **kw)

    monkeypatch.setattr(Figure, "savefig", savefig)
    rows = [{**ROWS[0], "fps_kind": "sync (1 / latency)"}, {**ROWS[1], "fps_kind": "async, 2 requests"}]
    write_report(tmp_path, {"rows": rows})
    assert titles[0] == "async FPS (PyTorch: 1 / sync latency) (higher is better)"
