"""Errors raised by the converter: one type, with a message that says what to fix."""
from __future__ import annotations


class ConversionError(RuntimeError):
    """A conversion step failed on bad input (checkpoint, ONNX file, calibration or validation data)."""


class VerificationError(ConversionError):
    """A converted model does not reproduce its source within tolerance."""
