"""Checkpoint -> ONNX -> OpenVINO IR (FP32 / FP16 / INT8), verified against the source."""
from convert.checkpoint import load_network, sha256_file
from convert.errors import ConversionError, VerificationError
from convert.ir import (PRECISIONS, add_preprocessing, build_ir, checkpoint_to_ir, read_onnx, read_rt_info, save_ir,
                        write_rt_info)
from convert.onnx_export import DEFAULT_OPSET, MIN_OPSET, export_onnx, output_names

__all__ = [
    "load_network", "sha256_file",
    "ConversionError", "VerificationError",
    "PRECISIONS", "add_preprocessing", "build_ir", "checkpoint_to_ir", "read_onnx", "read_rt_info", "save_ir",
    "write_rt_info",
    "DEFAULT_OPSET", "MIN_OPSET", "export_onnx", "output_names",
]
