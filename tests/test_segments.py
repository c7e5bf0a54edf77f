"""Cutting text into model-sized segments without losing a word."""

from __future__ import annotations

import string

from wyoming_kokoro.models.segments import _CLAUSE_BREAK, plan_segments

# A phonemizer that spells: each letter is its own "phoneme". The planner's logic
# does not depend on the G2P, so spelling makes lengths easy to reason about.
SYMBOLS = {c: i + 1 for i, c in enumerate(string.ascii_lowercase + " ,.;:!?")}


def spell(text: str) -> str:
    return text.lower()


def words_of(segments) -> list[str]:
    return " ".join(s.phonemes for s in segments).replace(",", " ").replace(".", " ").split()


def test_short_text_is_one_segment() -> None:
    segments = plan_segments("Hello there.", spell, SYMBOLS, max_tokens=50)
    assert [s.phonemes for s in segments] == ["hello there."]
    assert segments[0].token_ids == [SYMBOLS[c] for c in "hello there."]


def test_long_text_is_cut_at_clauses_and_nothing_is_lost() -> None:
    clauses = [f"clause number {w} is here" for w in ("one", "two", "three", "four", "five")]
    text = ", ".join(clauses) + "."
    segments = plan_segments(text, spell, SYMBOLS, max_tokens=60)
    assert len(segments) > 1
    assert all(len(s.token_ids) <= 60 for s in segments)
    assert words_of(segments) == text.lower().replace(",", " ").replace(".", " ").split()
    # Cuts fall after commas, not inside clauses.
    assert all(s.phonemes.endswith((",", ".")) for s in segments)


def test_clause_longer_than_context_is_cut_at_words() -> None:
    text = " ".join(["word"] * 100)
    segments = plan_segments(text, spell, SYMBOLS, max_tokens=42)
    assert all(len(s.token_ids) <= 42 for s in segments)
    assert words_of(segments) == ["word"] * 100


def test_single_giant_word_is_chunked_not_truncated() -> None:
    giant = "a" * 1234
    segments = plan_segments(giant, spell, SYMBOLS, max_tokens=510)
    assert [len(s.token_ids) for s in segments] == [510, 510, 214]


def test_unspeakable_text_gives_no_segments() -> None:
    assert plan_segments("   ", spell, SYMBOLS) == []
    assert plan_segments("🙂🙂", spell, SYMBOLS) == []


def test_punctuation_only_phonemes_give_no_segments() -> None:
    assert plan_segments("--- , . !", spell, SYMBOLS) == []


# -- text written without spaces (Japanese, Chinese) -------------------------------------------

_CJK_MARKS = {"、": ",", "，": ",", "；": ";", "：": ":", "。": ".", "！": "!", "？": "?"}


def cjk_g2p(text: str) -> str:
    """Like misaki's CJK G2Ps: each ideograph is a syllable "ta", and a word (here every
    two ideographs) ends with a space; CJK punctuation becomes ASCII punctuation."""
    out, in_word = "", 0
    for char in text:
        if char in _CJK_MARKS:
            out = out.rstrip() + _CJK_MARKS[char] + " "
            in_word = 0
        elif not char.isspace():
            out += "ta"
            in_word += 1
            if in_word == 2:
                out, in_word = out + " ", 0
    return out.strip()


def test_cjk_text_is_cut_after_cjk_punctuation_with_no_space_after_it() -> None:
    text = "山川、" * 10 + "日月。" * 10 + "天地！" * 10
    segments = plan_segments(text, cjk_g2p, SYMBOLS, max_tokens=40)
    assert len(segments) > 1
    assert all(len(s.token_ids) <= 40 for s in segments)
    assert all(s.phonemes.endswith((",", ".", "!")) for s in segments)
    assert " ".join(s.phonemes for s in segments) == cjk_g2p(text)


def test_cjk_clause_longer_than_context_is_cut_between_the_g2ps_words() -> None:
    text = "山川日月" * 100  # no punctuation, no spaces: no break in the text at all
    segments = plan_segments(text, cjk_g2p, SYMBOLS, max_tokens=41)
    assert len(segments) > 1
    assert all(len(s.token_ids) <= 41 for s in segments)
    assert all(word == "tata" for s in segments for word in s.phonemes.split())
    assert sum(len(s.phonemes.split()) for s in segments) == 200


def test_cjk_clause_breaks_keep_closing_brackets_and_leave_numbers_alone() -> None:
    pieces = [p for p in _CLAUSE_BREAK.split("「本当？」と言った。明日、雨。1,000と3.5") if p]
    assert pieces == ["「本当？」", "と言った。", "明日、", "雨。", "1,000と3.5"]
