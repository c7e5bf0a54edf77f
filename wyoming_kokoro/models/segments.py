"""Cutting text into pieces that fit one forward pass (at most 510 tokens).

Sentences normally fit. A longer one is cut at clause punctuation, then at
word boundaries, and only a single word longer than the context is cut inside
its phonemes. Every piece is spoken: nothing is ever truncated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from .network import MAX_TOKENS

_CLAUSE_BREAK = re.compile(r"(?<=[,;:.!?…—–])\s+")
_WORD_BREAK = re.compile(r"\s+")


@dataclass(frozen=True)
class Segment:
    """One forward pass worth of input."""

    phonemes: str
    token_ids: list[int]


def to_token_ids(phonemes: str, symbols: Mapping[str, int]) -> list[int]:
    """Map phoneme characters to ids; symbols outside the table are dropped (as kokoro does)."""
    return [symbols[p] for p in phonemes if p in symbols]


def _has_sounds(phonemes: str) -> bool:
    """True if the phonemes hold a speech sound, not just spaces and punctuation."""
    return any(symbol.isalpha() for symbol in phonemes)


def plan_segments(
    text: str,
    phonemize: Callable[[str], str],
    symbols: Mapping[str, int],
    max_tokens: int = MAX_TOKENS,
) -> list[Segment]:
    """Phonemize `text` and cut it into segments of at most `max_tokens` tokens."""
    return list(_plan(text.strip(), phonemize, symbols, max_tokens, level=0))


def _plan(
    text: str,
    phonemize: Callable[[str], str],
    symbols: Mapping[str, int],
    max_tokens: int,
    level: int,
) -> Iterator[Segment]:
    if not text:
        return
    phonemes = phonemize(text).strip()
    if not _has_sounds(phonemes):
        return  # only pauses or punctuation (an emoji, a Markdown rule): nothing to say
    ids = to_token_ids(phonemes, symbols)
    if len(ids) <= max_tokens:
        if ids:
            yield Segment(phonemes, ids)
        return
    splitters = (_CLAUSE_BREAK, _WORD_BREAK)
    if level < len(splitters):
        pieces = [p for p in splitters[level].split(text) if p.strip()]
        if len(pieces) > 1:
            yield from _pack(pieces, phonemize, symbols, max_tokens, level + 1)
            return
        yield from _plan(text, phonemize, symbols, max_tokens, level + 1)
        return
    # A single "word" longer than the context: cut its phonemes.
    for start in range(0, len(phonemes), max_tokens):
        chunk = phonemes[start : start + max_tokens]
        chunk_ids = to_token_ids(chunk, symbols)
        if chunk_ids:
            yield Segment(chunk, chunk_ids)


def _pack(
    pieces: list[str],
    phonemize: Callable[[str], str],
    symbols: Mapping[str, int],
    max_tokens: int,
    level: int,
) -> Iterator[Segment]:
    """Greedily join consecutive pieces while the joined phonemes still fit."""
    pending: Segment | None = None
    for piece in pieces:
        for segment in _plan(piece, phonemize, symbols, max_tokens, level):
            if pending is None:
                pending = segment
                continue
            joined = f"{pending.phonemes} {segment.phonemes}"
            joined_ids = to_token_ids(joined, symbols)
            if len(joined_ids) <= max_tokens:
                pending = Segment(joined, joined_ids)
            else:
                yield pending
                pending = segment
    if pending is not None:
        yield pending
