"""Giving freed memory back to the system between replies.

A long sentence needs large activations in the vocoder (hundreds of MB for a
510-token pass). torch frees them, but glibc keeps the pages in its arenas, so
the process's RSS stays at its high-water mark and grows with the longest text
ever spoken. Measured here on v1.0: 1.36-1.39 GB after a few long passes, 1.11 GB
after `malloc_trim(0)`, which then stays flat. The scheduler trims after every
sentence, not only when its queue is empty: in a stream the next sentence is
always queued, and a streamed 60-s reply then peaked at 1.5-1.7 GiB against
1.14 GiB with a trim after each sentence (2-core Xeon, bf16). A trim takes 1-16 ms
and the passes were no slower. Long passes also trim as they go, between the
vocoder's stages and blocks (`vocoder._trims_as_it_goes`).
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


PRIMITIVE_CACHE_ENTRIES = "256"
"""oneDNN's primitive cache size for the server (its default is 1024).

Every new input length makes new primitives (convolutions, LSTMs, reorders), and
each costs resident memory, about a quarter of a MiB: after 60 replies of new
lengths the cache held 75 MiB more at 384 entries than at 64. A cap must still
hold a whole pass, and a short request's pass nested inside a long one
(models/pausing.py): counted with ONEDNN_VERBOSE, a v1.0 pass runs 98 (S1) to 125
(a 9.5-s sentence) distinct primitives in bf16 and 120 to 146 in fp32, where the
generator's time slices add their widths (`vocoder.adain_snake_conv`;
tests/test_vocoder.py checks S1's count against half the cap). 64 entries were less
than one pass: every pass rebuilt its primitives and S1 took 30 % longer in the
server (449 against 342 ms, 2-core Xeon with AMX). 384 held about three passes,
some 30 MiB more than 256 at a quarter of a MiB each. Primitives every pass shares
(weight reorders, the slices' widths) are used each time, so the least recently
used ones a full cache drops are another length's."""


def cap_primitive_cache() -> None:
    """Bound oneDNN's primitive cache, unless the user set it; call before torch runs."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", PRIMITIVE_CACHE_ENTRIES)
