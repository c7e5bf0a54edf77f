"""Grapheme-to-phoneme front ends, one per model generation and language family.

A phonemizer turns plain text into the phoneme string its model generation was
trained on. Each is built once per (version, language) and is called only from
the inference worker thread, so none of them needs to be thread-safe.
"""

from __future__ import annotations

from typing import Protocol


class Phonemizer(Protocol):
    """Text in, phoneme string out (symbols of the generation's own table)."""

    def __call__(self, text: str) -> str: ...
