"""The facts every part of the project agrees on (see ``../shared/docs/format.md``).

Keypoint order, limbs and PAF channels, the COCO mapping, network-input normalization and map geometry,
the published checkpoint's layout and the Open Model Zoo IR's names live here once; ``train``, ``convert``
and ``ov_inference`` import them from this package and never restate them. NumPy (and OpenCV for
:func:`letterbox`) only: importing this package never imports torch.
"""
from pose_format.keypoints import (
    COCO17_NAMES,
    COCO17_TO_18,
    COCO_SIGMAS_18,
    DECODE_LIMB_ORDER,
    EAR_SHOULDER_LIMBS,
    FLIP_PAIRS_18,
    FLIP_PERMUTATION_18,
    KEYPOINT_NAMES,
    LEFT_KEYPOINTS,
    LIMBS,
    NECK,
    NUM_HEATMAPS,
    NUM_KEYPOINTS,
    NUM_LIMBS,
    NUM_PAFS,
    PAF_CHANNELS,
    RIGHT_KEYPOINTS,
    TO_COCO17,
    coco17_to_18,
    to_coco17,
)
from pose_format.geometry import (
    HEATMAP_SIGMA,
    INPUT_HEIGHT_ACCURATE,
    INPUT_HEIGHT_LIVE,
    MAX_INPUT_SIDE,
    MIN_INPUT_SIDE,
    NORM_MEAN,
    NORM_SCALE,
    PAD_VALUE,
    PAF_THICKNESS,
    STRIDE,
    TRAIN_CROP,
    CELL_OFFSET,
    LetterboxMeta,
    cell_centers,
    inside_image,
    check_input_side,
    input_side_error,
    letterbox,
    map_to_image,
    map_to_input,
    normalize,
)
from pose_format.checkpoint_layout import (
    PUBLISHED_CHECKPOINT_FILE,
    PUBLISHED_CHECKPOINT_URL,
    CHECKPOINT_KEYS,
    IMAGENET_INIT_FILE,
)
from pose_format.ir_contract import (
    IR_INPUT_NAME,
    IR_HEATMAPS_NAME,
    IR_PAFS_NAME,
    OMZ_INPUT_NAME,
    OMZ_HEATMAPS_NAME,
    OMZ_PAFS_NAME,
    RT_INFO_SECTION,
    MODEL_TYPE,
    IR_PRECISIONS,
    rt_info_fields,
)
from pose_format.files import (atomic_file, input_file_problem, is_special_file, sha256_file,
                                starts_like_torch_file, write_text_atomic)
from pose_format.checks import is_whole_number
from pose_format.json_out import dumps_strict, finite_or_none, null_non_finite
from pose_format.coco_file import AnnotationFileError, read_coco_keypoints
from pose_format.version import __version__

__all__ = [
    "COCO17_NAMES", "COCO17_TO_18", "COCO_SIGMAS_18", "DECODE_LIMB_ORDER", "EAR_SHOULDER_LIMBS", "FLIP_PAIRS_18",
    "FLIP_PERMUTATION_18",
    "KEYPOINT_NAMES", "LEFT_KEYPOINTS", "LIMBS", "NECK", "NUM_HEATMAPS", "NUM_KEYPOINTS", "NUM_LIMBS", "NUM_PAFS",
    "PAF_CHANNELS", "RIGHT_KEYPOINTS", "TO_COCO17", "coco17_to_18", "to_coco17",
    "HEATMAP_SIGMA", "INPUT_HEIGHT_ACCURATE", "INPUT_HEIGHT_LIVE", "NORM_MEAN", "NORM_SCALE", "PAD_VALUE",
    "PAF_THICKNESS", "STRIDE", "TRAIN_CROP", "CELL_OFFSET", "LetterboxMeta", "cell_centers", "inside_image",
    "letterbox",
    "MAX_INPUT_SIDE", "MIN_INPUT_SIDE", "check_input_side", "input_side_error",
    "map_to_image", "map_to_input", "normalize",
    "PUBLISHED_CHECKPOINT_FILE", "PUBLISHED_CHECKPOINT_URL", "CHECKPOINT_KEYS", "IMAGENET_INIT_FILE",
    "IR_INPUT_NAME", "IR_HEATMAPS_NAME", "IR_PAFS_NAME", "OMZ_INPUT_NAME", "OMZ_HEATMAPS_NAME", "OMZ_PAFS_NAME",
    "RT_INFO_SECTION", "MODEL_TYPE", "IR_PRECISIONS", "rt_info_fields", "atomic_file", "input_file_problem",
    "is_special_file",
    "sha256_file", "starts_like_torch_file", "write_text_atomic", "AnnotationFileError", "read_coco_keypoints",
    "is_whole_number", "dumps_strict", "finite_or_none", "null_non_finite", "__version__",
]
