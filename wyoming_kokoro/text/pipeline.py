"""The one text pipeline between an LLM reply and G2P, chosen per language.

The order is fixed and each stage has one job:

1. :class:`~.markup.MarkupCleaner` (one per stream): Markdown, emoji and symbols out; it runs
   on the raw chunks because markup spans chunk boundaries and carries structure (list items,
   headings, table rows) that must become sentence boundaries.
2. :class:`~.sentences.SentenceSplitter`: cuts the cleaned text into sentences as early as is
   safe (the caller owns it: it knows its first-clause and length settings).
3. :meth:`TextPipeline.normalize` per sentence: spoken forms for numbers, units, dates, URLs.
   It runs after splitting because its rewrites need whole tokens ("7:30 a.m.", a URL) and a
   sentence is the unit that is complete; and before G2P, which it exists to serve.

Normalisation is language specific: English readings ("km" → "kilometers", "7:30" → "seven
thirty") would be wrong in French or Japanese, whose G2P (espeak-ng, misaki's ja/zh) reads
their own numbers. Other languages get only the language-neutral clean-up.
"""

from __future__ import annotations

from .markup import MarkupCleaner
from .normalize import normalize_english, normalize_generic
from .sentences import SentenceSplitter, split_sentences

__all__ = ["TextPipeline", "TextStream", "prepare_text"]

_BRITISH_TAGS = frozenset({"en-gb", "en-uk", "en-ie", "en-au", "en-nz"})


class TextPipeline:
    """Markup cleanup and normalisation for one language tag ("en-us", "fr-fr", "ja", ...)."""

    def __init__(self, language: str) -> None:
        tag = language.strip().lower().replace("_", "-")
        self.language = tag
        self.english = tag == "en" or tag.startswith("en-")
        self.british = tag in _BRITISH_TAGS

    def cleaner(self) -> MarkupCleaner:
        """A fresh streaming cleaner: one per request, since it carries state between chunks."""
        return MarkupCleaner()

    def normalize(self, sentence: str) -> str:
        """Rewrite one sentence into the form this language's G2P reads best."""
        if self.english:
            return normalize_english(sentence, british=self.british)
        return normalize_generic(sentence)

    def sentences(self, text: str, first_clause_min_chars: int | None = None) -> list[str]:
        """The whole pipeline on a complete text: what G2P receives, sentence by sentence."""
        cleaner = self.cleaner()
        cleaned = cleaner.feed(text) + cleaner.flush()
        split = split_sentences(cleaned, first_clause_min_chars)
        normalized = (self.normalize(sentence) for sentence in split)
        return [sentence for sentence in normalized if sentence]

    def stream(self, first_clause_min_chars: int | None = None) -> TextStream:
        """The pipeline for one streamed reply (chunks in, finished sentences out)."""
        return TextStream(self, first_clause_min_chars)


class TextStream:
    """One streamed reply through the pipeline: `feed` chunks, then `flush` at the end.

    Sentences come out as soon as the splitter knows they are complete; feeding the
    text in any chunking gives what `TextPipeline.sentences` gives for the whole text.
    """

    def __init__(self, pipeline: TextPipeline, first_clause_min_chars: int | None) -> None:
        self._pipeline = pipeline
        self._cleaner = pipeline.cleaner()
        self._splitter = SentenceSplitter(first_clause_min_chars=first_clause_min_chars)

    def feed(self, chunk: str) -> list[str]:
        return self._finish(self._splitter.feed(self._cleaner.feed(chunk)))

    def flush(self) -> list[str]:
        """The rest of the reply (the cleaner's held-back text first)."""
        return self._finish(self._splitter.feed(self._cleaner.flush()) + self._splitter.flush())

    def _finish(self, sentences: list[str]) -> list[str]:
        normalized = (self._pipeline.normalize(sentence) for sentence in sentences)
        return [sentence for sentence in normalized if sentence]


def prepare_text(text: str, language: str) -> str:
    """One-shot: clean, split and normalise a whole text, sentences joined by a space."""
    return " ".join(TextPipeline(language).sentences(text))
