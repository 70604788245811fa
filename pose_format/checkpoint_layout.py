"""The published checkpoint's file layout (``checkpoint_iter_370000.pth``)."""
PUBLISHED_CHECKPOINT_FILE = "checkpoint_iter_370000.pth"
PUBLISHED_CHECKPOINT_URL = (
    "https://download.01.org/opencv/openvino_training_extensions/models/human_pose_estimation/"
    + PUBLISHED_CHECKPOINT_FILE
)
#: Top-level keys of a full training checkpoint.
CHECKPOINT_KEYS = ("state_dict", "optimizer", "scheduler", "iter", "current_epoch")
#: ImageNet MobileNet-v1 init (dict with ``state_dict``, keys prefixed ``module.model.``).
IMAGENET_INIT_FILE = "mobilenet_sgd_68.848.pth.tar"
