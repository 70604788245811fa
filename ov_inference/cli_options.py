"""Command-line options shared by ``lwpose-infer`` and ``lwpose-demo``: the decoder's thresholds and flip mode."""
from __future__ import annotations

import argparse

from ov_inference.decoder import DecoderOptions

__all__ = ["add_decoder_arguments", "decoder_options"]


def add_decoder_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--peak-threshold`` (also Open Model Zoo's ``-t`` / ``--prob_threshold``), ``--min-keypoints`` and
    ``--flip`` to ``parser``."""
    parser.add_argument("--peak-threshold", "-t", "--prob_threshold", type=float,
                        default=DecoderOptions.peak_threshold, metavar="T",
                        help="decoder: minimum heatmap value of a keypoint (default %(default)s)")
    parser.add_argument("--min-keypoints", type=int, default=DecoderOptions.min_keypoints, metavar="N",
                        help="decoder: people with fewer keypoints are dropped (default %(default)s)")
    parser.add_argument("--flip", action="store_true",
                        help="accuracy mode: also infer each frame's mirror image (one batch-2 inference, about "
                             "twice the compute) and average the maps (test-time augmentation)")


def decoder_options(args: argparse.Namespace) -> DecoderOptions:
    """The :class:`DecoderOptions` of parsed :func:`add_decoder_arguments` options (``ValueError`` when invalid)."""
    return DecoderOptions(peak_threshold=args.peak_threshold, min_keypoints=args.min_keypoints)
