"""The user lexicon: its words change the phonemes, bad entries are skipped, the file reloads.

The phoneme tests use the real front ends (misaki's English, misaki's espeak French, v0.19's
espeak pipeline) and the real v1.0 symbol table, so they show what a voice would be fed.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wyoming_kokoro.models.g2p.lexicon_g2p import LexiconPhonemizer, misaki_markup
from wyoming_kokoro.models.g2p.misaki_g2p import MisakiEnglish, MisakiEspeak
from wyoming_kokoro.models.g2p.v019_espeak import V019Espeak
from wyoming_kokoro.models.v0_19 import V019_SYMBOLS
from wyoming_kokoro.text import lexicon as lexicon_module
from wyoming_kokoro.text.lexicon import (
    LexiconFile,
    Matcher,
    Phonemes,
    Text,
    parse_lexicon,
)

from .conftest import SHARED_KOKORO

V10_SYMBOLS = frozenset(
    json.loads((SHARED_KOKORO / "v1_0" / "config.json").read_text(encoding="utf-8"))["vocab"]
)
LEXICON_LOGGER = lexicon_module.__name__

# misaki's own pronunciations, which the lexicon has to override.
MISAKI_KOKORO = "kəkˈɔɹO"
OUR_KOKORO = "kˈOkəɹO"

BASIC = """\
en:
  Kokoro: /kˈOkəɹO/
  Nguyen: win
  HA: Home Assistant
fr:
  Wi-Fi: /wifi/
  Nguyen: ouine
"""


@pytest.fixture(scope="module")
def english() -> MisakiEnglish:
    return MisakiEnglish(british=False)


@pytest.fixture(scope="module")
def french() -> MisakiEspeak:
    return MisakiEspeak("fr-fr")


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], LexiconFile]:
    """Write a lexicon file and return it, checked on every access (no 2 s wait)."""
    path = tmp_path / "lexicon.yaml"

    def write(text: str) -> LexiconFile:
        path.write_text(text, encoding="utf-8")
        return LexiconFile(path, check_interval=0)

    return write


def rewrite(lexicon: LexiconFile, text: str) -> None:
    """Change the file and make its modification time visibly newer (coarse clocks)."""
    lexicon.path.write_text(text, encoding="utf-8")
    stat = lexicon.path.stat()
    os.utime(lexicon.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


# -- the lexicon changes the phonemes of its word ---------------------------------------------


def test_phoneme_entry_replaces_misakis_english_and_keeps_the_context(
    english: MisakiEnglish, write: Callable[[str], LexiconFile]
) -> None:
    plain = english("Welcome to Kokoro.")
    assert MISAKI_KOKORO in plain  # otherwise this test proves nothing
    g2p = LexiconPhonemizer(english, write(BASIC), "en-us", V10_SYMBOLS, markup=misaki_markup)
    said = g2p("Welcome to Kokoro.")
    assert OUR_KOKORO in said and MISAKI_KOKORO not in said
    # One G2P call for the whole sentence: "to" stays weak before the word, as it was.
    assert said == plain.replace(MISAKI_KOKORO, OUR_KOKORO)
    # misaki still attaches the possessive to the lexicon's word.
    assert f"{OUR_KOKORO}s" in g2p("I like Kokoro's voice.")


def test_phoneme_entry_works_without_markup_by_cutting_the_text(
    english: MisakiEnglish, write: Callable[[str], LexiconFile]
) -> None:
    g2p = LexiconPhonemizer(english, write(BASIC), "en-us", V10_SYMBOLS)
    said = g2p("I like Kokoro, a lot.")
    assert said.startswith(english("I like").strip())
    assert f" {OUR_KOKORO}," in said  # a space where the text had one, none before the comma
    assert MISAKI_KOKORO not in said


def test_phoneme_entry_changes_french(
    french: MisakiEspeak, write: Callable[[str], LexiconFile]
) -> None:
    plain = french("Le Wi-Fi marche.")
    assert "wifi" not in plain
    said = LexiconPhonemizer(french, write(BASIC), "fr-fr", V10_SYMBOLS)("Le Wi-Fi marche.")
    assert " wifi " in said
    assert said.endswith(french("marche.").strip())


def test_phoneme_entry_changes_v019_english(write: Callable[[str], LexiconFile]) -> None:
    inner = V019Espeak(british=False, symbols=V019_SYMBOLS)
    lexicon = write("en-us:\n  Kokoro: /kəkˈɔːɹə/\n")
    said = LexiconPhonemizer(inner, lexicon, "en-us", V019_SYMBOLS)("Hello Kokoro.")
    assert said == f"{inner('Hello').strip()} kəkˈɔːɹə{inner('.').strip()}"
    assert "kəkˈɔːɹə" not in inner("Hello Kokoro.")


def test_respelling_is_said_like_its_text(
    english: MisakiEnglish, french: MisakiEspeak, write: Callable[[str], LexiconFile]
) -> None:
    lexicon = write(BASIC)
    en = LexiconPhonemizer(english, lexicon, "en-us", V10_SYMBOLS, markup=misaki_markup)
    assert en("Thanks, Nguyen.") == english("Thanks, win.") != english("Thanks, Nguyen.")
    assert en("Ask HA.") == english("Ask Home Assistant.")
    fr = LexiconPhonemizer(french, lexicon, "fr-fr", V10_SYMBOLS)
    assert fr("Merci Nguyen.") == french("Merci ouine.") != french("Merci Nguyen.")


# -- matching rules ---------------------------------------------------------------------------


def words(pieces: list[Text | Phonemes]) -> list[str]:
    """The lexicon words that were matched (phoneme pieces)."""
    return [p.word for p in pieces if isinstance(p, Phonemes)]


def test_whole_words_only_and_capitals_match_exactly() -> None:
    lexicon = parse_lexicon("en:\n  HA: /hˈA/\n  kokoro: /kˈOkəɹO/\n", "lex.yaml")
    assert words(lexicon.apply("HA, HAT, AHA, HA's, ha, Ha, HA_1", "en-us")) == ["HA", "HA"]
    assert words(lexicon.apply("kokoro Kokoro KOKORO kokoros", "en-us")) == [
        "kokoro",
        "Kokoro",
        "KOKORO",
    ]


def test_longest_key_wins_and_multiword_keys_span_any_whitespace() -> None:
    lexicon = parse_lexicon(
        "en:\n  New York: /nˈu jˈɔɹk/\n  New York City: /ɛn wˈI sˈi/\n", "lex.yaml"
    )
    pieces = lexicon.apply("New York  City, New Yorkers, New\nYork.", "en-us")
    assert words(pieces) == ["New York  City", "New\nYork"]
    assert [p.phonemes for p in pieces if isinstance(p, Phonemes)] == ["ɛn wˈI sˈi", "nˈu jˈɔɹk"]
    assert Text(", New Yorkers, ") in pieces
    # Where the longest key runs into a longer word, a shorter key still gets its turn.
    assert words(lexicon.apply("New York Citylights", "en-us")) == ["New York"]


def test_boundaries_in_other_scripts() -> None:
    lexicon = parse_lexicon("hi:\n  नम: /nəm/\nzh:\n  东京: /tokjo/\n", "lex.yaml")
    # A vowel sign or virama is a combining mark: still inside the word.
    assert words(lexicon.apply("नमस्ते नमि नम", "hi")) == ["नम"]
    # No spaces in Chinese: the key matches inside the run of characters.
    assert lexicon.apply("我爱东京的", "zh") == [
        Text("我爱"),
        Phonemes("tokjo", "东京"),
        Text("的"),
    ]


def test_most_specific_language_section_wins() -> None:
    lexicon = parse_lexicon(
        '"*":\n  Kokoro: any\nen:\n  Kokoro: english\n  tomato: tomayto\n'
        "en-gb:\n  tomato: tomahto\n",
        "lex.yaml",
    )
    assert lexicon.apply("Kokoro tomato", "en-gb") == [Text("english tomahto")]
    assert lexicon.apply("Kokoro tomato", "en-us") == [Text("english tomayto")]
    assert lexicon.apply("Kokoro tomato", "fr-fr") == [Text("any tomato")]


def test_yaml_scalars_stay_text() -> None:
    # Loaded as YAML values these would be a boolean and an integer.
    lexicon = parse_lexicon("en:\n  On: yes\n  1984: nineteen eighty-four\n", "lex.yaml")
    assert lexicon.apply("On 1984", "en-us") == [Text("yes nineteen eighty-four")]


KEYS = ("HA", "kokoro", "Nguyen", "New York", "东京", "नम", "../etc")


@settings(max_examples=200, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60))
def test_text_without_lexicon_words_comes_back_whole(text: str) -> None:
    assume(not any(key.casefold() in text.casefold() for key in KEYS))
    matcher = Matcher(
        parse_lexicon("en:\n" + "".join(f"  {k}: /x/\n" for k in KEYS), "l").for_language("en")
    )
    assert matcher.apply(text) == [Text(text)]


# -- bad entries and bad files ----------------------------------------------------------------


def test_bad_entries_are_reported_with_their_line_and_skipped(
    english: MisakiEnglish, write: Callable[[str], LexiconFile], caplog: pytest.LogCaptureFixture
) -> None:
    text = (
        "en:\n"  # 1
        "  list: [a, b]\n"  # 2
        "  empty:\n"  # 3
        "  Kokoro: /kˈOkəɹO/\n"  # 4
        '  nul: "a\\0b"\n'  # 5
        "  Kokoro: again\n"  # 6
        "  Nguyen: win\n"  # 7
        "klingon:\n"  # 8
        "  Qapla: success\n"  # 9
        "en-us:\n"  # 10
        "  null: ~\n"  # 11
    )
    with caplog.at_level(logging.WARNING, logger=LEXICON_LOGGER):
        g2p = LexiconPhonemizer(english, write(text), "en-us", V10_SYMBOLS, misaki_markup)
        said = g2p("Kokoro, Nguyen.")
    source = str(g2p.lexicon.path)
    warned = {r.getMessage().split(": ", 1)[0] for r in caplog.records}
    assert warned == {f"{source}:{line}" for line in (2, 3, 5, 6, 8, 11)}, caplog.messages
    assert said == english("[Kokoro](/kˈOkəɹO/), win.")


def test_phonemes_outside_the_models_symbols_are_refused(
    english: MisakiEnglish, write: Callable[[str], LexiconFile], caplog: pytest.LogCaptureFixture
) -> None:
    lexicon = write("en:\n  Nguyen: win\n  Kokoro: /kˈOkəɹO☃/\n")
    with caplog.at_level(logging.WARNING):
        said = LexiconPhonemizer(english, lexicon, "en-us", V10_SYMBOLS, misaki_markup)(
            "Nguyen likes Kokoro."
        )
    assert any(f"{lexicon.path}:3:" in m and "☃" in m for m in caplog.messages), caplog.messages
    assert said == english("win likes Kokoro.")  # the word goes to the G2P instead


def test_invalid_yaml_keeps_the_previous_lexicon(
    write: Callable[[str], LexiconFile], caplog: pytest.LogCaptureFixture
) -> None:
    lexicon = write(BASIC)
    assert lexicon.current().apply("Nguyen", "en-us") == [Text("win")]
    rewrite(lexicon, "en:\n  Nguyen: win\n  Kokoro: [unclosed\n")
    with caplog.at_level(logging.WARNING, logger=LEXICON_LOGGER):
        assert lexicon.current().apply("Nguyen HA", "en-us") == [Text("win Home Assistant")]
    assert len(caplog.records) == 1 and f"{lexicon.path}:4:" in caplog.messages[0]
    # The same broken file is not reported again on every request.
    caplog.clear()
    lexicon.current()
    assert not caplog.records


def test_a_top_level_that_is_not_sections_keeps_the_previous_lexicon(
    write: Callable[[str], LexiconFile],
) -> None:
    lexicon = write(BASIC)
    lexicon.current()
    rewrite(lexicon, "- Nguyen\n- win\n")
    assert lexicon.current().apply("Nguyen", "fr-fr") == [Text("ouine")]
    rewrite(lexicon, "en: " + "[" * 10_000 + "]" * 10_000 + "\n")  # beyond Python's recursion
    assert lexicon.current().apply("Nguyen", "fr-fr") == [Text("ouine")]


def test_missing_file_is_an_empty_lexicon_until_it_appears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lexicon = LexiconFile(tmp_path / "lexicon.yaml", check_interval=0)
    with caplog.at_level(logging.INFO, logger=LEXICON_LOGGER):
        assert lexicon.current().apply("Nguyen", "en") == [Text("Nguyen")]
        lexicon.current()
    # The add-on always passes the path: its absence is normal, said once, not a warning.
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    lexicon.path.write_text(BASIC, encoding="utf-8")
    assert lexicon.current().apply("Nguyen", "en") == [Text("win")]


# -- reloading --------------------------------------------------------------------------------


def test_file_is_reloaded_after_it_changes(
    french: MisakiEspeak, write: Callable[[str], LexiconFile]
) -> None:
    lexicon = write(BASIC)
    g2p = LexiconPhonemizer(french, lexicon, "fr-fr", V10_SYMBOLS)
    assert " wifi " in g2p("Le Wi-Fi marche.")
    rewrite(lexicon, "fr:\n  Wi-Fi: /wajfaj/\n")
    said = g2p("Le Wi-Fi marche.")
    assert " wajfaj " in said and "wifi" not in said


def test_file_is_looked_at_at_most_every_interval(tmp_path: Path) -> None:
    now = [100.0]
    path = tmp_path / "lexicon.yaml"
    path.write_text(BASIC, encoding="utf-8")
    lexicon = LexiconFile(path, check_interval=2.0, clock=lambda: now[0])
    first = lexicon.current()
    rewrite(lexicon, "en:\n  Nguyen: nwen\n")
    now[0] += 1.9
    assert lexicon.current() is first
    now[0] += 0.2
    assert lexicon.current().apply("Nguyen", "en-us") == [Text("nwen")]


# -- nothing in the lexicon is a path ---------------------------------------------------------


def test_words_and_values_that_look_like_paths_are_just_text(
    write: Callable[[str], LexiconFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    lexicon = write('en:\n  ../../etc/passwd: secret file\n  "/etc/hosts": "/etc/shadow"\n')
    lexicon.current()
    opened: list[object] = []
    real_open, real_stat = builtins.open, os.stat

    def spy_open(file: object, *args: object, **kwargs: object) -> object:
        opened.append(file)
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    def spy_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        opened.append(path)
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "stat", spy_stat)
    g2p = LexiconPhonemizer(lambda text: f"<{text}>", lexicon, "en-us", V10_SYMBOLS)
    said = g2p("Read ../../etc/passwd and /etc/hosts now.")
    assert said == "<Read secret file and /etc/shadow now.>"
    assert {os.fspath(p) for p in opened} <= {os.fspath(lexicon.path)}
