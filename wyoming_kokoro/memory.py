"""Giving freed memory back to the system between replies.

A long sentence needs large activations in the vocoder (hundreds of MB for a
510-token pass). torch frees them, but glibc keeps the pages in its arenas, so
the process's RSS stays at its high-water mark and grows with the longest text
ever spoken. Measured here on v1.0: 1.36-1.39 GB after a few long passes, 1.11 GB
after `malloc_trim(0)`, which then stays flat. Trimming when the inference thread
goes idle keeps that cost (a few ms) off the path of a waiting sentence.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (no-op without glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


PRIMITIVE_CACHE_ENTRIES = "64"
"""oneDNN's primitive cache size for the server (its default is 1024).

Every new input length makes new convolution primitives; with the default cache
the resident memory rose by about 60 MB over the first few dozen replies of new
lengths before it levelled off (3 % over 100 requests in benchmarks/performance.py).
One pass uses about 40 distinct primitives, which 64 entries keep, so the pass
reuses them as before: measured, the same speed, and RSS flat from the first
replies on."""


def cap_primitive_cache() -> None:
    """Bound oneDNN's primitive cache, unless the user set it; call before torch runs."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", PRIMITIVE_CACHE_ENTRIES)
