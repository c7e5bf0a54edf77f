"""misaki's Japanese and Mandarin G2P for Kokoro v1.0, with their dictionaries offline.

Both follow what kokoro 0.9.4's own pipeline does for hexgrad/Kokoro-82M (v1.0):

* Japanese: `misaki.ja.JAG2P()`, whose default mode is `misaki.cutlet.Cutlet` — MeCab
  (fugashi) with a UniDic dictionary, then kana to phonemes. We use `Cutlet` directly:
  `misaki.ja` also imports pyopenjtalk at module level, which only its other mode uses.
  The dictionary is `unidic-lite`'s, shipped inside that package; misaki[ja] names
  `unidic`, which has no dictionary until `python -m unidic download` fetches one, so
  we point MeCab at unidic-lite explicitly even if `unidic` is installed too.
  `misaki.cutlet` also imports mojimoji, which has no aarch64 wheel; where it is not
  installed a jaconv-backed stand-in with the same results for cutlet's two calls is
  registered under its name (see `ensure_mojimoji`).
* Mandarin: `misaki.zh.ZHG2P(version=None)`, the frontend the v1.0 voices were trained
  with (jieba words, pypinyin readings, cn2an numbers; all their data ships in the
  packages). version "1.1" belongs to the separate Kokoro-82M-v1.1-zh model.

Latin-script runs inside Japanese or Chinese text (names, "Wi-Fi", "Python") are
handed to misaki's American English G2P rather than read letter by letter as if they
were IPA; it is only loaded when such a run first appears.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
import types
import unicodedata
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

_LATIN_RUN = re.compile(r"[A-Za-zＡ-Ｚａ-ｚ](?:[A-Za-zＡ-Ｚａ-ｚ'’＇\-－ ]*[A-Za-zＡ-Ｚａ-ｚ])?")
"""A run of Latin letters, possibly several words (half- or full-width)."""

_LONG_NUMBER = re.compile(r"[0-9０-９]{10,}")
"""A run of digits too long for misaki's Japanese number reader."""

_HAN = re.compile(r"[\u4e00-\u9fff]")
"""The ideographs misaki's Mandarin G2P treats as Chinese."""

_NO_SPACE_BEFORE = tuple(",.!?;:…)”»—")


def _join(pieces: list[str]) -> str:
    """Join phoneme pieces with a space, except before punctuation."""
    out = ""
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        if out and not piece.startswith(_NO_SPACE_BEFORE):
            out += " "
        out += piece
    return out


class _WithEnglish:
    """Phonemizes the native script with `native` and Latin runs with misaki English."""

    def __init__(self, native: Callable[[str], str]) -> None:
        self._native = native
        self._english: Callable[[str], str] | None = None

    def _english_phonemes(self, text: str) -> str:
        if self._english is None:
            from .misaki_g2p import MisakiEnglish

            self._english = MisakiEnglish(british=False)
        return self._english(unicodedata.normalize("NFKC", text))

    def _native_or_skip(self, text: str) -> str:
        """The native G2P's phonemes; a part it fails on is bisected, and only what fails
        on its own (a single character) is left out, so one odd character cannot fail a
        whole request."""
        try:
            return self._native(text)
        except Exception as err:  # misaki's G2Ps raise assorted errors on odd input
            if len(text) <= 1:
                _LOGGER.warning("Cannot phonemize %r (%s); skipping it", text, err)
                return ""
            middle = len(text) // 2
            return _join([self._native_or_skip(text[:middle]), self._native_or_skip(text[middle:])])

    def __call__(self, text: str) -> str:
        pieces: list[str] = []
        last = 0
        for match in _LATIN_RUN.finditer(text):
            pieces.append(self._native_or_skip(text[last : match.start()]))
            pieces.append(self._english_phonemes(match.group()))
            last = match.end()
        pieces.append(self._native_or_skip(text[last:]))
        return _join(pieces)


_MOJIMOJI_QUOTES = str.maketrans({"‘": "`", "’": "'", "”": '"'})
"""What mojimoji's zen_to_han(ascii=True) changes that jaconv's z2h leaves alone."""


def ensure_mojimoji() -> None:
    """Make `import mojimoji` work: the real package if installed, else a jaconv stand-in.

    misaki.cutlet calls `zen_to_han(text, kana=False)` and `han_to_zen(text,
    digit=False, ascii=False)` on NFKC-normalised text; over every such BMP
    character the stand-in gives mojimoji 0.0.13's result (checked when it was written).
    """
    if "mojimoji" in sys.modules or importlib.util.find_spec("mojimoji") is not None:
        return
    import jaconv

    def zen_to_han(text: str, kana: bool = True, digit: bool = True, ascii: bool = True) -> str:
        out = jaconv.z2h(text, kana=kana, digit=digit, ascii=ascii)
        return out.translate(_MOJIMOJI_QUOTES) if ascii else out

    def han_to_zen(text: str, kana: bool = True, digit: bool = True, ascii: bool = True) -> str:
        return jaconv.h2z(text, kana=kana, digit=digit, ascii=ascii)

    module = types.ModuleType("mojimoji", "jaconv-backed stand-in (wyoming_kokoro.models.g2p.cjk)")
    module.zen_to_han = zen_to_han  # type: ignore[attr-defined]
    module.han_to_zen = han_to_zen  # type: ignore[attr-defined]
    sys.modules["mojimoji"] = module
    _LOGGER.debug("mojimoji is not installed; using a jaconv stand-in")


def unidic_lite_tagger():  # -> fugashi.Tagger
    """A MeCab tagger on unidic-lite's bundled dictionary (never a downloaded one)."""
    import fugashi
    import unidic_lite

    return fugashi.Tagger(f'-d "{unidic_lite.DICDIR}" -r "{unidic_lite.DICDIR}/mecabrc"')


class MisakiJapanese:
    """Japanese phonemes for v1.0 (jf_*/jm_* voices)."""

    def __init__(self) -> None:
        ensure_mojimoji()
        from misaki import cutlet

        # Cutlet() builds a plain fugashi.Tagger(), which prefers an installed `unidic`
        # and fails if that never downloaded its dictionary: hand it ours instead.
        plain_tagger = cutlet.Tagger
        cutlet.Tagger = unidic_lite_tagger
        try:
            self._cutlet = cutlet.Cutlet()
        finally:
            cutlet.Tagger = plain_tagger
        self._phonemize = _WithEnglish(self._native)

    def _native(self, text: str) -> str:
        if not text.strip():
            return ""
        # misaki's number reader stops at nine digits: say longer runs (phone
        # numbers, IDs) digit by digit, as Japanese speakers read them.
        text = _LONG_NUMBER.sub(lambda m: " ".join(m.group()), text)
        phonemes, _ = self._cutlet(text)
        return phonemes

    def __call__(self, text: str) -> str:
        return self._phonemize(text)


class MisakiMandarin:
    """Mandarin phonemes for v1.0 (zf_*/zm_* voices), tones as misaki's arrows."""

    def __init__(self) -> None:
        import jieba
        from misaki.zh import ZHG2P
        from pypinyin.pinyin_dict import pinyin_dict

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()  # load its dictionary now, not on the first request
        self._g2p = ZHG2P(version=None)
        self._readings = pinyin_dict
        self._phonemize = _WithEnglish(self._native)

    def _native(self, text: str) -> str:
        # pypinyin has no reading for a few dozen rare ideographs, and misaki raises on
        # them: leave them out (they could not be said anyway).
        text = _HAN.sub(lambda m: m.group() if ord(m.group()) in self._readings else "", text)
        if not text.strip():
            return ""
        phonemes, _ = self._g2p(text)
        return phonemes

    def __call__(self, text: str) -> str:
        return self._phonemize(text)
