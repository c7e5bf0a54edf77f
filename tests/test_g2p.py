"""The G2P front ends: offline spaCy for misaki, and v0.19's own espeak pipeline."""

from __future__ import annotations

import pytest
import spacy

from wyoming_kokoro.models.g2p.misaki_g2p import MisakiEnglish
from wyoming_kokoro.models.g2p.v019_espeak import V019Espeak, normalize_text_v019
from wyoming_kokoro.models.v0_19 import V019_SYMBOLS


def test_misaki_english_works_without_the_downloadable_spacy_package() -> None:
    # misaki would `spacy.cli.download("en_core_web_sm")` when this is False; we never need it.
    if spacy.util.is_package("en_core_web_sm"):
        pytest.skip("the official en_core_web_sm is installed here; the offline path is unused")
    american = MisakiEnglish(british=False)("Tomato.")
    british = MisakiEnglish(british=True)("Tomato.")
    assert american and british and american != british


def test_v019_normalisation_follows_v019_rules() -> None:
    assert normalize_text_v019("Dr. Smith paid $5.50 in 1990 at 7:05.") == (
        "Doctor Smith paid 5 dollars and 50 cents in 19 90 at 7 oh 5."
    )
    assert (
        normalize_text_v019("It is 3.14 now, at 10:00.") == "It is 3 point 1 4 now, at 10 o'clock."
    )
    assert normalize_text_v019("“Quoted” (aside)") == '"Quoted" «aside»'


def test_v019_phonemes_use_only_v019_symbols() -> None:
    for british in (False, True):
        phonemes = V019Espeak(british=british, symbols=V019_SYMBOLS)("Hello world, ninety times!")
        assert phonemes and set(phonemes) <= set(V019_SYMBOLS)
    american = V019Espeak(british=False, symbols=V019_SYMBOLS)("ninety")
    assert "nˈaɪndi" in american, american  # v0.19's American flap in "ninety"
