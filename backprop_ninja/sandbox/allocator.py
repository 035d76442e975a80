"""Keeping freed memory for reuse, so that a training step does not fault its tensors in afresh.

glibc's malloc hands a block over its mmap threshold (128 KiB at first) to the
kernel at every free and maps it anew at the next allocation, whose pages are
then faulted in and zeroed one by one. A GPT step makes dozens of such tensors
((B, T, 4C) floats are 512 KiB): about 500 page faults a step, measured here
as 10 to 15% of the step's time. With a fixed threshold of 16 MiB they come
from the heap and are reused; the heap keeps at most 64 MiB of freed memory at
its top. Numbers do not change, only where the bytes live.

`keep_freed_blocks()` is called once by every process that trains or times:
the worker at its start, and `train` and `bench` for their own side, so that
both sides of a comparison run with the same allocator. Elsewhere than glibc
(macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 16 << 20  # blocks up to 16 MiB come from the heap
TRIM_THRESHOLD = 64 << 20  # freed memory the heap's top keeps before it is returned


def keep_freed_blocks() -> bool:
    """Set glibc's thresholds (above); True when they were set, False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if not name or "libc.so" not in name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
