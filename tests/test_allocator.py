"""The allocator setting train, bench and the worker share: freed large blocks are kept for reuse."""

import ctypes
import platform
import subprocess
import sys

import pytest

from backprop_ninja.sandbox.allocator import keep_freed_blocks

# How many fresh mappings (glibc's mallinfo2().hblks) one 4 MiB tensor takes, in a fresh process.
MAPPINGS = """
import ctypes, sys
from backprop_ninja.sandbox.allocator import keep_freed_blocks
if sys.argv[1] == "kept":
    keep_freed_blocks()
import torch
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                    "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
before = libc.mallinfo2().hblks
t = torch.empty(1 << 20)  # (1,048,576,) float32: 4 MiB, over glibc's first mmap threshold and under ours
print(libc.mallinfo2().hblks - before)
"""


def mappings(how: str) -> int:
    return int(subprocess.run([sys.executable, "-c", MAPPINGS, how], capture_output=True, text=True,
                              check=True).stdout)


def glibc_with_mallinfo2() -> bool:
    try:
        return platform.libc_ver()[0] == "glibc" and hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


def test_it_says_whether_it_could_set_glibcs_thresholds():
    assert keep_freed_blocks() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_with_glibc_a_large_tensor_comes_from_the_heap_not_a_fresh_mapping():
    if not glibc_with_mallinfo2():
        pytest.skip("needs glibc 2.33 or later (mallinfo2) to count mappings; elsewhere the setting does nothing")
    if mappings("default") != 1:
        pytest.skip("this glibc already serves a 4 MiB block from the heap: nothing to show")
    assert mappings("kept") == 0
