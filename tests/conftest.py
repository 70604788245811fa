"""Shared test paths, and a guard on the main thread's signal stack. Area-specific fixtures live in their own test
modules."""
import ctypes
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found next to the project (looked in {SHARED})")
    return SHARED


@pytest.fixture(scope="session")
def seed_dir(shared_dir) -> Path:
    return shared_dir / "fixtures" / "seed_format"


@pytest.fixture(scope="session")
def coco_mini_dir(shared_dir) -> Path:
    return shared_dir / "data" / "coco_mini"


@pytest.fixture(scope="session")
def half_size_coco_mini(coco_mini_dir, tmp_path_factory) -> Path:
    """coco_mini's images at half their annotated size (the annotation file stays beside the originals): a resized
    copy of a dataset, whose keypoints are in the annotation's pixels."""
    import cv2

    half = tmp_path_factory.mktemp("half_size_coco_mini")
    for src in coco_mini_dir.glob("*.jpg"):
        image = cv2.imread(str(src))
        cv2.imwrite(str(half / src.name), cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                                                     interpolation=cv2.INTER_AREA))
    return half


@pytest.fixture(scope="session")
def omz_xml(shared_dir) -> Path:
    return shared_dir / "models" / "omz_hpe_0001" / "human-pose-estimation-0001.xml"


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


_SS_DISABLE = 2


def _unmapped_signal_stack() -> int | None:
    """The address of this thread's alternate signal stack when it lies in unmapped memory (Linux), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    current = _StackT()
    if libc.sigaltstack(None, ctypes.byref(current)) != 0 or current.ss_flags & _SS_DISABLE or not current.ss_sp:
        return None
    ends = {current.ss_sp, current.ss_sp + max(current.ss_size, 1) - 1}
    with open("/proc/self/maps") as maps:
        for line in maps:
            low, high = (int(x, 16) for x in line.split(None, 1)[0].split("-"))
            ends = {a for a in ends if not low <= a < high}
    return current.ss_sp if ends else None


@pytest.fixture(autouse=True)
def _signal_stack_stays_mapped():
    """Fail the test that leaves the main thread on an unmapped alternate signal stack.

    OpenVINO's CPU plugin (one per ``ov.Core``) installs a signal stack on the thread that creates it and unmaps it
    when destroyed, restoring the previous one only if still current: two Cores' plugins released in creation order
    leave the thread on freed memory. Nothing shows until a Python signal handler runs on that thread (they all use
    the alternate stack: a SIGCHLD handler as torch's DataLoader installs, SIGINT), which kills the process with a
    SIGSEGV that faulthandler cannot report, many tests later. Compile through ``get_core()`` instead."""
    yield
    address = _unmapped_signal_stack()
    if address is not None:
        ctypes.CDLL(None).sigaltstack(ctypes.byref(_StackT(None, _SS_DISABLE, 0)), None)  # let the run go on
        pytest.fail(f"the main thread's alternate signal stack (0x{address:x}) was unmapped during this test "
                    "(OpenVINO CPU plugins of two ov.Core objects released in creation order?): compile with "
                    "ov_inference.adapter.get_core()", pytrace=False)
