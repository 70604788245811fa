"""INT8 post-training quantization with NNCF, optionally keeping the output heads in higher precision.

Pose models are known to lose detections entirely in INT8 when the last convolutions of the heatmap and PAF
heads are quantized. :data:`HEAD_POLICIES` says how much of the last stage's heads stays unquantized:

- ``int8``: everything quantized (fastest);
- ``last``: the final convolution of each output (the 1x1 conv producing the 19 heatmaps / 38 PAFs);
- ``heads``: both convolutions of each of the last stage's two heads.

``float_cpm`` (on by default) also keeps the CPM's last convolution in float (:func:`cpm_output_convolution`): the
layer NNCF's accuracy control reverted first on every quickstart model it ranked (2026-12-07).

``activation_ranges`` (:data:`RANGE_ESTIMATORS`) says how each activation's quantization range is set from the
calibration statistics. NNCF's default for per-tensor activations, ``mean_minmax``, averages every image's minimum
and maximum, which clips the strongest responses of the images with the strongest responses: in a pose network
those are the confident keypoint peaks. ``minmax`` keeps the extremes seen over the whole calibration set; it is the
better choice once the CPM's last convolution is in float (see :class:`QuantizeOptions` for the measurements).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pose_format import IR_HEATMAPS_NAME, IR_PAFS_NAME

from convert.errors import ConversionError

log = logging.getLogger(__name__)

HEAD_POLICIES = ("int8", "last", "heads")
#: what each of :data:`HEAD_POLICIES` keeps in float, in words
HEADS_IN_FLOAT = {"int8": "none", "last": "the final conv of each output",
                  "heads": "both convs of each last-stage head"}
PRESETS = ("performance", "mixed")
MODEL_TYPES = ("cnn", "transformer")
#: activation range estimators: ``auto`` (``minmax`` with the CPM convolution in float, else ``mean_minmax``) or one
#: of NNCF's ``RangeEstimatorParametersSet`` members, lower-cased
RANGE_ESTIMATORS = ("auto", "minmax", "mean_minmax", "histogram")


@dataclass(frozen=True)
class QuantizeOptions:
    """NNCF settings. ``heads``: one of :data:`HEAD_POLICIES`; ``preset``: one of :data:`PRESETS`;
    ``model_type``: ``cnn`` (NNCF default) or ``transformer``; ``ignored``: extra node names kept in float;
    ``float_cpm``: keep the CPM's last convolution in float (:func:`cpm_output_convolution`);
    ``activation_ranges``: one of :data:`RANGE_ESTIMATORS` (:attr:`ranges` resolves ``auto``);
    ``fast_bias_correction``: NNCF's fast bias correction instead of the full one.

    The defaults are one recipe, measured 2026-12-07 on five quickstart models, INT8 AP drops in points on two
    240-image splits each: CPM in float, ``minmax``, full bias correction -0.42 / 0.29, 0.26 / 0.00, -0.07 / 0.26,
    0.04 / -0.65, 0.26 / 0.40; fully quantized with NNCF's defaults 1.38 / 0.62, 1.88 / 1.40, 1.18 / 1.07,
    0.74 / 1.17, 1.10 / 0.68; CPM in float alone 0.40 / 0.65, 1.41 / 0.71, 1.16 / 0.38, 0.05 / -0.29, 0.96 / 0.71.
    ``minmax`` needs the CPM in float: fully quantized it lost up to 2.16 points (1.45 / 0.99, 1.42 / 0.94,
    0.15 / 0.38, 1.42 / 2.16, 0.58 / 0.44), the CPM's input sum having the outliers that stretch a min-max range;
    hence ``auto``. The CPM in float costs about 4 % of INT8's speed.
    """

    heads: str = "int8"
    #: ``mixed`` (asymmetric activations): measured 2026-11-28 on three synthetic-people models, INT8 AP drops of
    #: 0.95 / 0.25 / -0.01 points on held-out images against 1.38 / 0.73 / 0.78 with ``performance``, at the same
    #: speed within measurement noise (68.8 vs 71.3 and 68.7 vs 68.3 FPS)
    preset: str = "mixed"
    model_type: str = "cnn"
    #: False: NNCF's full bias correction (about 5 s more at 150 calibration images; with the fast one the first
    #: three models above lost -0.37 / 0.18, 0.75 / 0.31 and 0.10 / 0.02 points)
    fast_bias_correction: bool = False
    ignored: tuple[str, ...] = ()
    float_cpm: bool = True
    activation_ranges: str = "auto"

    def __post_init__(self) -> None:
        for name, value, allowed in (("heads", self.heads, HEAD_POLICIES), ("preset", self.preset, PRESETS),
                                     ("model_type", self.model_type, MODEL_TYPES),
                                     ("activation_ranges", self.activation_ranges, RANGE_ESTIMATORS)):
            if value not in allowed:
                raise ConversionError(f"unknown {name} {value!r}; choose from {', '.join(allowed)}")

    @property
    def ranges(self) -> str:
        """The activation range estimator used: ``activation_ranges`` with ``auto`` resolved."""
        if self.activation_ranges != "auto":
            return self.activation_ranges
        return "minmax" if self.float_cpm else "mean_minmax"


def head_convolutions(model, depth: int = 1) -> list[str]:
    """Friendly names of the last ``depth`` Convolution nodes on the path up from each output of ``model``.

    Walks from the ``heatmaps`` and ``pafs`` results through bias adds and activations (first input of each
    node) to the convolutions that produce them.
    """
    names: list[str] = []
    for out_name in (IR_HEATMAPS_NAME, IR_PAFS_NAME):
        node = model.output(out_name).get_node()
        found = 0
        while found < depth:
            if node.get_type_name() == "Convolution":
                names.append(node.get_friendly_name())
                found += 1
            if node.get_input_size() == 0:
                raise ConversionError(f"found only {found} of {depth} convolutions above output {out_name!r}")
            node = node.input_value(0).get_node()
    return names


def cpm_output_convolution(model) -> str:
    """Friendly name of the CPM's last convolution: the first Convolution, in topological order, whose data input is
    an Add of two computed tensors (not a bias Add of a constant) - the CPM's ``conv(align + trunk)``, ahead of the
    refinement stages' residual blocks. Its input, the sum of a ReLU and an ELU branch, is the activation INT8
    represents worst in this network (2026-12-07: kept in float it cut the INT8 AP drop of two quickstart models
    from 1.38 / 0.62 to 0.40 / 0.65 and from 1.88 / 1.40 to 1.41 / 0.71 points on two 240-image splits, about 4 %
    slower)."""
    for node in model.get_ordered_ops():
        if node.get_type_name() != "Convolution":
            continue
        source = node.input_value(0).get_node()
        if source.get_type_name() == "Add" and all(
                source.input_value(i).get_node().get_type_name() != "Constant" for i in range(2)):
            return node.get_friendly_name()
    raise ConversionError("no convolution fed by a residual Add: this model has no Lightweight OpenPose CPM")


def ignored_names(model, options: QuantizeOptions) -> list[str]:
    """Node names NNCF must leave unquantized for ``options``."""
    depth = {"int8": 0, "last": 1, "heads": 2}[options.heads]
    return ((head_convolutions(model, depth) if depth else []) + list(options.ignored)
            + ([cpm_output_convolution(model)] if options.float_cpm else []))


def quantize_int8(model, calibration: list, options: QuantizeOptions = QuantizeOptions(), *,
                  subset_size: int | None = None):
    """Quantize ``model`` (an ``ov.Model`` with the u8 pre-processing inside) with NNCF post-training quantization.

    ``calibration``: input arrays exactly as the runtime feeds them (u8 ``[1, H, W, 3]``, letterboxed).
    Returns a new ``ov.Model``; its rt_info is kept (set ``precision`` afterwards).
    """
    import nncf

    if not calibration:
        raise ConversionError("INT8 quantization needs at least one calibration image")
    kwargs = _nncf_arguments(model, options, advanced="advanced_parameters")
    log.info("NNCF quantization: %d calibration images, preset %s, heads %s, activation ranges %s%s",
             len(calibration), options.preset, options.heads, options.ranges,
             f", kept in float: {kwargs['ignored_scope'].names}" if "ignored_scope" in kwargs else "")
    return nncf.quantize(model, nncf.Dataset(calibration), subset_size=subset_size or len(calibration),
                         fast_bias_correction=options.fast_bias_correction, **kwargs)


def quantize_with_accuracy_control(model, calibration: list, validation: list, validate, *, max_drop: float,
                                   options: QuantizeOptions = QuantizeOptions(), subset_size: int | None = None,
                                   to_input=None):
    """NNCF quantization that reverts layers to float until ``validate`` drops by at most ``max_drop`` (absolute).

    ``validate(compiled_model, items) -> (metric, None)`` computes the metric (COCO AP) on validation items;
    ``to_input(item)`` turns one item into the model input (default: the item itself).
    """
    import nncf

    if not calibration:
        raise ConversionError("INT8 quantization needs at least one calibration image")
    if not validation:
        raise ConversionError("accuracy control needs at least one validation image")
    kwargs = _nncf_arguments(model, options, advanced="advanced_quantization_parameters")
    log.info("NNCF quantization with accuracy control: max AP drop %.3f, %d calibration / %d validation images",
             max_drop, len(calibration), len(validation))
    return nncf.quantize_with_accuracy_control(model, nncf.Dataset(calibration), nncf.Dataset(validation, to_input),
                                              validation_fn=validate, subset_size=subset_size or len(calibration),
                                              max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE,
                                              fast_bias_correction=options.fast_bias_correction, **kwargs)


def _nncf_arguments(model, options: QuantizeOptions, *, advanced: str) -> dict:
    """The keyword arguments both NNCF entry points take from ``options``: preset, model type, ignored scope and
    the activation range estimator (under the entry point's name ``advanced`` for its advanced parameters)."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    ranges = (None if options.ranges == "mean_minmax"  # None: exactly NNCF's own default
              else getattr(RangeEstimatorParametersSet, options.ranges.upper()))
    kwargs = {"preset": nncf.QuantizationPreset(options.preset),
              advanced: AdvancedQuantizationParameters(activations_range_estimator_params=ranges)}
    if options.model_type == "transformer":
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER
    names = ignored_names(model, options)
    if names:
        kwargs["ignored_scope"] = nncf.IgnoredScope(names=names)
    return kwargs
