"""decode_poses on ground-truth maps of coco_mini scores COCO AP >= 0.98 at both input heights the issue names
(256 live, 368 accurate; the fidelity target)."""
import pytest

from benchmarks.bench_decoder import AP_TARGET, fidelity
from ov_inference import decode_poses


@pytest.mark.parametrize("height", [256, 368])
def test_ground_truth_maps_of_coco_mini_decode_to_ap_098(coco_mini_dir, height):
    result = fidelity(coco_mini_dir, [height], {"ours": decode_poses})[height]["ours"]
    assert result["AP"] >= AP_TARGET
    assert result["AP50"] == pytest.approx(1.0)
