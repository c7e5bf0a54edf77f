"""Cutting text into pieces that fit one forward pass (at most 510 tokens).

Sentences normally fit. A longer one is cut at clause punctuation (CJK
punctuation included, which has no space after it), then at spaces between
words, then — for text written without spaces, such as Japanese and Chinese —
at the word boundaries the G2P marks with spaces in its phonemes. Only a single
word longer than the context is cut inside its phonemes. Every piece is spoken:
nothing is ever truncated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from .network import MAX_TOKENS

_CJK_CLAUSE_END = "、，；：。！？｡､"
"""Full-width clause and sentence punctuation: a boundary with no space after it."""
_CJK_CLOSERS = "」』）】〕〉》”’"
_CLAUSE_BREAK = re.compile(
    r"(?<=[,;:.!?…—–])\s+"
    # after CJK punctuation, and after a closing bracket that directly follows it
    rf"|(?<=[{_CJK_CLAUSE_END}])(?![{_CJK_CLOSERS}{_CJK_CLAUSE_END}])\s*"
    rf"|(?<=[{_CJK_CLAUSE_END}][{_CJK_CLOSERS}])\s*"
)
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
    # No break left in the text (one long word, or a clause of Japanese or Chinese,
    # written without spaces): cut the phonemes at the word boundaries the G2P marks.
    yield from _cut_phonemes(phonemes, symbols, max_tokens)


def _cut_phonemes(phonemes: str, symbols: Mapping[str, int], max_tokens: int) -> Iterator[Segment]:
    """Pack the phonemes' space-separated words greedily; cut inside only a too-long word."""
    pending = ""
    for word in phonemes.split():
        if len(to_token_ids(word, symbols)) > max_tokens:
            if pending:
                yield from _segment(pending, symbols)
                pending = ""
            for start in range(0, len(word), max_tokens):
                yield from _segment(word[start : start + max_tokens], symbols)
            continue
        joined = f"{pending} {word}" if pending else word
        if len(to_token_ids(joined, symbols)) <= max_tokens:
            pending = joined
        else:
            yield from _segment(pending, symbols)
            pending = word
    if pending:
        yield from _segment(pending, symbols)


def _segment(phonemes: str, symbols: Mapping[str, int]) -> Iterator[Segment]:
    ids = to_token_ids(phonemes, symbols)
    if ids and _has_sounds(phonemes):
        yield Segment(phonemes, ids)


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
