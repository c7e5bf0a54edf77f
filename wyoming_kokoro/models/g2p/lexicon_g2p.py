"""A phonemizer that applies the user lexicon before the G2P it wraps.

Respellings are substituted into the text, so the G2P still sees whole sentences. Phoneme
entries bypass the G2P, and there are two ways to do that:

* Inline markup, for a G2P that understands it (misaki's English: ``[word](/phonemes/)``):
  the whole sentence still goes through the G2P in one call, so the words around the entry
  keep their context ("to" stays a weak "tə" before it) and misaki joins suffixes such as
  "'s" to it.
* Cutting, for every other G2P (espeak-based ones, v0.19's front end): the text between
  entries is phonemized piece by piece and the entry's phonemes are put in between. Only
  lexicon words cut, so the pieces stay as long as possible.

Phoneme entries are checked here against the model's symbol table, because only the model
knows it: an entry with a symbol the network has no token for would be silently dropped
sound by sound, so it is refused with a warning (file and line) and the word goes to the G2P.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection

from ...text.lexicon import Entry, Lexicon, LexiconFile, Matcher, Phonemes, Piece, Text
from . import Phonemizer

_LOGGER = logging.getLogger(__name__)

Markup = Callable[[str, str], str | None]
"""(matched words, phonemes) -> inline markup the wrapped G2P understands, or None if the
pair cannot be written that way (then this call falls back to cutting)."""

_SPACES = re.compile(r" {2,}")


def misaki_markup(word: str, phonemes: str) -> str | None:
    """misaki's inline phoneme syntax, ``[word](/phonemes/)``.

    Its parser takes ``[^\\]]+`` for the word and ``[^)]*`` for the phonemes, so a word with
    ``]`` or phonemes with ``)`` cannot be expressed; whitespace in the word (a multi-word key
    matched across a line break) is collapsed, as the parser splits tokens on it.
    """
    word = " ".join(word.split())
    if not word or "[" in word or "]" in word or ")" in phonemes or "/" in phonemes:
        return None
    return f"[{word}](/{phonemes}/)"


class LexiconPhonemizer:
    """`inner` with the lexicon's words for `language` said the lexicon's way.

    Built once per voice language and called from the inference thread only, like the
    phonemizer it wraps. The lexicon file is re-read when it changes (see `LexiconFile`).
    """

    def __init__(
        self,
        inner: Phonemizer,
        lexicon: LexiconFile,
        language: str,
        symbols: Collection[str],
        markup: Markup | None = None,
    ) -> None:
        self.inner = inner
        self.lexicon = lexicon
        self.language = language
        self.symbols = frozenset(symbols)
        self.markup = markup
        self._source: Lexicon | None = None
        self._matcher = Matcher(())

    def __call__(self, text: str) -> str:
        pieces = self._current_matcher().apply(text)
        if len(pieces) == 1 and isinstance(pieces[0], Text):
            return self.inner(pieces[0].text)
        if self.markup is not None:
            marked = self._marked(pieces, self.markup)
            if marked is not None:
                return self.inner(marked)
        return self._cut(pieces)

    def _current_matcher(self) -> Matcher:
        """The matcher of the lexicon in force, rebuilt (and its phonemes checked) on reload."""
        lexicon = self.lexicon.current()
        if lexicon is not self._source:
            self._source = lexicon
            self._matcher = Matcher(e for e in lexicon.for_language(self.language) if self._ok(e))
        return self._matcher

    def _ok(self, entry: Entry) -> bool:
        """True unless `entry` is phonemes with a symbol outside the model's table (warned)."""
        if not entry.is_phonemes:
            return True
        unknown = sorted({s for s in entry.value if s not in self.symbols})
        if not unknown:
            return True
        _LOGGER.warning(
            "%s: %r: phonemes /%s/ use symbols the model does not have (%s) for %s; skipped",
            entry.where,
            entry.key,
            entry.value,
            " ".join(unknown),
            self.language,
        )
        return False

    @staticmethod
    def _marked(pieces: list[Piece], markup: Markup) -> str | None:
        """The pieces as one string with inline phoneme markup, or None if one can't be."""
        parts: list[str] = []
        for piece in pieces:
            if isinstance(piece, Text):
                parts.append(piece.text)
                continue
            marked = markup(piece.word, piece.phonemes)
            if marked is None:
                return None
            parts.append(marked)
        return "".join(parts)

    def _cut(self, pieces: list[Piece]) -> str:
        """Phonemize the text pieces one by one and put the lexicon's phonemes between them.

        A space separates two parts where the user's text had whitespace there, so "Kokoro's"
        or "Kokoro," stay one word while "Kokoro is" stays two.
        """
        parts: list[str] = []
        for piece in pieces:
            if isinstance(piece, Phonemes):
                parts.append(piece.phonemes)
                continue
            core = piece.text.strip()
            if not core:
                parts.append(" " if piece.text else "")
                continue
            said = self.inner(core).strip()
            lead = " " if piece.text[0].isspace() else ""
            trail = " " if piece.text[-1].isspace() else ""
            parts.append(f"{lead}{said}{trail}")
        return _SPACES.sub(" ", "".join(parts)).strip()
