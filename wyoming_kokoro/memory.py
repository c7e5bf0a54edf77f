"""Giving freed memory back to the system between replies.

A long sentence needs large activations in the vocoder (hundreds of MB for a
510-token pass). torch frees them, but glibc keeps the pages in its arenas, so
the process's RSS stays at its high-water mark and grows with the longest text
ever spoken. Measured here on v1.0: 1.36-1.39 GB after a few long passes, 1.11 GB
after `malloc_trim(0)`, which then stays flat. The scheduler trims after every
sentence, not only when its queue is empty: in a stream the next sentence is
always queued, and a streamed 60-s reply then peaked at 1.5-1.7 GiB against
1.14 GiB with a trim after each sentence (2-core Xeon, bf16). A trim takes 1-16 ms
and the passes were no slower.
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


PRIMITIVE_CACHE_ENTRIES = "384"
"""oneDNN's primitive cache size for the server (its default is 1024).

Every new input length makes new primitives (convolutions, LSTMs, reorders); with
the default cache the resident memory rose by about 60 MB over the first few dozen
replies of new lengths before it levelled off (3 % over 100 requests in
benchmarks/performance.py). A cap must still hold a whole pass, and a short
request's pass nested inside a long one (models/pausing.py): one v1.0 pass of S1
uses about 100 distinct primitives in bf16 and 140 in fp32, where its generator
runs in time slices that add their widths (counted with ONEDNN_VERBOSE; see
`vocoder.adain_snake_conv`; tests/test_vocoder.py checks the count). 64 entries,
the earlier cap, was less than one pass: every pass rebuilt its primitives and S1
took 30 % longer in the server (449 against 342 ms, 2-core Xeon with AMX). The
slices' widths are the same in passes of every length, so those primitives are
shared between replies."""


def cap_primitive_cache() -> None:
    """Bound oneDNN's primitive cache, unless the user set it; call before torch runs."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", PRIMITIVE_CACHE_ENTRIES)
