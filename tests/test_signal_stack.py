"""The signal-stack hazard of OpenVINO's CPU plugin (see ``ov_inference.adapter.get_core``) and the guard against it."""
import ctypes
import mmap
import subprocess
import sys
import textwrap

from conftest import ROOT, _StackT, _unmapped_signal_stack


def test_guard_detects_an_unmapped_signal_stack():
    """Install a signal stack, unmap it while installed (what the CPU plugin's destructor can do): the guard's check
    reports its address; the run's own stack is restored afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = 16384
    previous = _StackT()
    assert libc.sigaltstack(None, ctypes.byref(previous)) == 0
    assert _unmapped_signal_stack() is None  # the run's own stack is fine
    address = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    assert address not in (None, ctypes.c_void_p(-1).value)
    try:
        assert libc.sigaltstack(ctypes.byref(_StackT(address, 0, size)), None) == 0
        assert _unmapped_signal_stack() is None  # installed and mapped
        assert libc.munmap(address, size) == 0
        assert _unmapped_signal_stack() == address
    finally:
        assert libc.sigaltstack(ctypes.byref(previous), None) == 0
    assert _unmapped_signal_stack() is None


def test_two_estimators_released_in_creation_order_survive_a_signal(omz_xml):
    """The runtime compiles through one process-wide Core, so estimators freed in any order leave a valid signal stack:
    a Python SIGCHLD handler (as torch's DataLoader installs) then runs when a child exits, instead of a SIGSEGV."""
    script = textwrap.dedent(f"""
        import signal, subprocess, sys
        import numpy as np
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from conftest import _unmapped_signal_stack
        from ov_inference import PoseEstimator
        frame = np.zeros((120, 160, 3), np.uint8)
        first = PoseEstimator({str(omz_xml)!r}); first(frame)
        second = PoseEstimator({str(omz_xml)!r}, input_height=128); second(frame)
        del first
        del second
        assert _unmapped_signal_stack() is None
        caught = []
        signal.signal(signal.SIGCHLD, lambda *_: caught.append(1))
        subprocess.run(["true"])
        print("survived", len(caught) > 0)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.split() == ["survived", "True"]
