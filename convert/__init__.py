"""Checkpoint -> ONNX -> OpenVINO IR (FP32 / FP16 / INT8), verified against the source.

Quick use::

    from convert import checkpoint_to_ir
    checkpoint_to_ir("checkpoint.pth", "out/FP32/model.xml")          # dynamic H, W; FP32

    from convert import ConvertOptions, run_conversion                 # what `python -m convert` runs
    run_conversion(ConvertOptions(output_dir="out", checkpoint="checkpoint.pth", precisions=("FP32", "INT8"),
                                  calib_images="images/"))
"""
from convert.calibration import (DEFAULT_CALIB_HEIGHT, CocoImage, Sample, SampleSet, coco_images, folder_images,
                                 load_samples, synthetic_dataset)
from convert.checkpoint import load_network
from convert.errors import ConversionError, VerificationError
from convert.ir import (PRECISIONS, add_preprocessing, build_ir, checkpoint_to_ir, read_onnx, save_ir,
                        write_rt_info)
from convert.onnx_export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, export_onnx, output_names
from convert.pipeline import (HEAD_CHOICES, INT8_DEFAULTS, ConvertOptions, check_options, run_conversion,
                              with_int8_defaults)
from convert.quantize import (HEAD_POLICIES, MODEL_TYPES, PRESETS, RANGE_ESTIMATORS, QuantizeOptions,
                              cpm_output_convolution, head_convolutions, ignored_names, quantize_int8,
                              quantize_with_accuracy_control)
from convert.report import format_table
from convert.speed import (BENCH_HEIGHT, BENCH_WIDTH, LayerProfile, Speed, execution_precision, layer_profile,
                           measure_speed)
from convert.verify import (F32_CONFIG, FP32_TOLERANCE, Agreement, agreement, coco_ap, compile_model, infer_ir,
                            infer_onnx, infer_torch, max_abs_diff, peak_mask)

__all__ = [
    "DEFAULT_CALIB_HEIGHT", "CocoImage", "Sample", "SampleSet", "coco_images", "folder_images", "load_samples",
    "synthetic_dataset",
    "load_network",
    "ConversionError", "VerificationError",
    "PRECISIONS", "add_preprocessing", "build_ir", "checkpoint_to_ir", "read_onnx", "save_ir",
    "write_rt_info",
    "DEFAULT_OPSET", "MAX_OPSET", "MIN_OPSET", "export_onnx", "output_names",
    "HEAD_CHOICES", "INT8_DEFAULTS", "ConvertOptions", "check_options", "run_conversion", "with_int8_defaults",
    "HEAD_POLICIES", "MODEL_TYPES", "PRESETS", "RANGE_ESTIMATORS", "QuantizeOptions", "cpm_output_convolution",
    "head_convolutions", "ignored_names", "quantize_int8", "quantize_with_accuracy_control",
    "format_table",
    "BENCH_HEIGHT", "BENCH_WIDTH", "LayerProfile", "Speed", "execution_precision", "layer_profile", "measure_speed",
    "F32_CONFIG", "FP32_TOLERANCE", "Agreement", "agreement", "coco_ap", "compile_model", "infer_ir", "infer_onnx",
    "infer_torch", "max_abs_diff", "peak_mask",
]
