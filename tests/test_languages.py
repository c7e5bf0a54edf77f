"""Every Kokoro v1.0 language speaks with its own G2P, offline, and long text is spoken whole.

Expected phonemes were produced once by misaki 0.9.4 and checked by eye: misaki's
English for a/b, espeak-ng IPA for e/f/h/i/p, Hepburn-like IPA from MeCab + unidic-lite
for Japanese (こんにちは -> koɲɲiʨiβa), and pinyin IPA with misaki's tone arrows for
Mandarin (你好 -> ni↓xau↓: two third tones, written without tone sandhi, as misaki's
v1.0 frontend does).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from wyoming_kokoro.models.g2p import cjk
from wyoming_kokoro.models.g2p.cjk import MisakiJapanese, MisakiMandarin
from wyoming_kokoro.models.g2p.misaki_g2p import MisakiEnglish, MisakiEspeak
from wyoming_kokoro.models.network import MAX_TOKENS
from wyoming_kokoro.models.segments import plan_segments
from wyoming_kokoro.models.v0_19 import V019Build
from wyoming_kokoro.models.v1_0 import V10Build
from wyoming_kokoro.models.voices import VoiceRegistry
from wyoming_kokoro.text.sentences import split_sentences

from .conftest import ROOT, SAMPLE_RATE, SHARED_KOKORO

V10_CONFIG = SHARED_KOKORO / "v1_0" / "config.json"

# prefix -> (BCP-47 tag, G2P class, sentence, exact phonemes)
SENTENCES: dict[str, tuple[str, type, str, str]] = {
    "a": (
        "en-us",
        MisakiEnglish,
        "Hello world, how are you today?",
        "həlˈO wˈɜɹld, hˌW ɑɹ ju tədˈA?",
    ),
    "b": (
        "en-gb",
        MisakiEnglish,
        "Hello world, how are you today?",
        "həlˈQ wˈɜːld, hˌW ɑː juː tədˈA?",
    ),
    "e": ("es", MisakiEspeak, "Hola mundo, buenos días.", "ˈola mˈundo, bwˈenos ðˈias."),
    "f": (
        "fr-fr",
        MisakiEspeak,
        "Bonjour le monde, comment ça va ?",
        "bɔ̃ʒˈuʁ lə mˈɔ̃d, kɔmˌɑ̃ sa vˈa ?",
    ),
    "h": ("hi", MisakiEspeak, "नमस्ते दुनिया, आप कैसे हैं?", "nəmˈʌsteː dˈʊnɪjˌaː, ˌaːp kˈɛːseː hɛ̃?"),
    "i": ("it", MisakiEspeak, "Ciao mondo, come stai?", "ʧˈao mˈondo, kˌome stˈaj?"),
    "j": (
        "ja",
        MisakiJapanese,
        "こんにちは、世界。お元気ですか？",
        "koɲɲiʨiβa, sekai. o ɡeŋkʲi desɨ ka?",
    ),
    "p": ("pt-br", MisakiEspeak, "Olá mundo, como vai você?", "olˈa mˈu\u0303ŋdʊ, kˌomʊ vI vosˈe?"),
    "z": (
        "zh-cn",
        MisakiMandarin,
        "你好，世界。你今天好吗？",
        "ni↓xau↓, ʂɨ↘ʨje↘. ni↓ ʨi→ntʰjɛ→n xau↓ ma?",
    ),
}


@pytest.fixture(scope="module")
def symbols() -> Mapping[str, int]:
    return V10Build().symbols(json.loads(V10_CONFIG.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def phonemizer(symbols) -> Callable[[str], Callable[[str], str]]:
    """The v1.0 build's G2P for a prefix, each built once for the module."""
    build, made = V10Build(), {}

    def get(prefix: str) -> Callable[[str], str]:
        if prefix not in made:
            made[prefix] = build.make_phonemizer(prefix, symbols)
        return made[prefix]

    return get


# -- every language, its own G2P ---------------------------------------------------------------


SPOKEN_BY_ESPEAK = ("ef_dora", "ff_siwis", "hf_alpha", "if_sara", "pf_dora")
"""One voice per language misaki hands to espeak-ng."""


def test_v10_speaks_exactly_the_nine_languages_of_its_voices() -> None:
    assert {p: lang.tag for p, lang in V10Build.languages.items()} == {
        p: tag for p, (tag, *_rest) in SENTENCES.items()
    }


@pytest.mark.parametrize("prefix", sorted(SENTENCES))
def test_sentence_phonemizes_with_its_languages_g2p(prefix: str, phonemizer, symbols) -> None:
    _tag, g2p_class, text, expected = SENTENCES[prefix]
    g2p = phonemizer(prefix)
    assert type(g2p) is g2p_class
    phonemes = g2p(text)
    assert phonemes == expected
    assert set(phonemes) <= set(symbols), set(phonemes) - set(symbols)


def test_english_words_inside_japanese_and_chinese_use_english_g2p(phonemizer) -> None:
    python = "pˈIθˌɑn"  # misaki's American "Python"
    assert phonemizer("j")("私はPythonが好きです。") == f"βatakɯɕi βa {python} ɡa sɨkʲi desɨ."
    assert phonemizer("z")("我喜欢Python。") == f"wo↓ ɕi↓xwa→n {python}."


def test_every_mandarin_reading_is_in_the_v10_vocabulary(symbols) -> None:
    """All 1,500-odd toned syllables pypinyin knows map to symbols the model was trained on."""
    from misaki.zh import ZHG2P
    from pypinyin import Style, pinyin
    from pypinyin.pinyin_dict import pinyin_dict

    readings = {
        reading
        for code in pinyin_dict
        for reading in pinyin(
            chr(code), style=Style.TONE3, heteronym=True, neutral_tone_with_five=True
        )[0]
    }
    assert len(readings) > 1400
    # misaki's v1.0 frontend drops the non-syllabic mark U+032F from its output.
    missing = {
        r: ZHG2P.py2ipa(r) for r in readings if set(ZHG2P.py2ipa(r)) - {"\u032f"} - set(symbols)
    }
    assert not missing


def test_every_kana_is_in_the_v10_vocabulary(phonemizer, symbols) -> None:
    kana = [chr(c) for c in (*range(0x3041, 0x3097), *range(0x30A1, 0x30FB))]
    missing = {k: p for k in kana if set(p := phonemizer("j")(k)) - set(symbols)}
    assert not missing


def test_odd_input_is_spoken_around_not_failed(phonemizer) -> None:
    # A rare ideograph pypinyin has no reading for (misaki raises on it) is left out.
    assert phonemizer("z")("你\u9fef好") == "ni↓xau↓"
    # misaki's Japanese number reader stops at nine digits: longer runs digit by digit.
    assert phonemizer("j")("090123456789") == "ʣeɾo kʲɨː ʣeɾo iʨi ɲi saɴ joɴ ɡo ɾokɯ nana haʨi kʲɨː"
    assert phonemizer("z")("") == phonemizer("j")("   ") == ""


def test_japanese_uses_unidic_lite_even_beside_an_undownloaded_unidic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """misaki[ja]'s `unidic` has no dictionary until `python -m unidic download`; a plain
    fugashi.Tagger() prefers it and fails. Ours always reads unidic-lite's bundled one."""
    import fugashi
    import unidic_lite

    broken = types.ModuleType("unidic")
    broken.DICDIR = "/nonexistent/unidic/dicdir"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "unidic", broken)
    with pytest.raises(RuntimeError):
        fugashi.Tagger()
    g2p = MisakiJapanese()
    assert g2p("こんにちは、世界。お元気ですか？") == SENTENCES["j"][3]
    (info,) = g2p._cutlet.tagger.dictionary_info
    assert Path(info["filename"]).parent == Path(unidic_lite.DICDIR)


def test_mojimoji_stand_in_matches_mojimoji(monkeypatch: pytest.MonkeyPatch) -> None:
    """mojimoji has no aarch64 wheel; the jaconv stand-in gives its results (0.0.13)."""
    monkeypatch.delitem(sys.modules, "mojimoji", raising=False)
    monkeypatch.setattr(cjk.importlib.util, "find_spec", lambda name: None)
    cjk.ensure_mojimoji()
    stand_in = sys.modules["mojimoji"]
    monkeypatch.delitem(sys.modules, "mojimoji")
    # (input, zen_to_han(kana=False), han_to_zen(digit=False, ascii=False)) from mojimoji itself
    for text, to_han, to_zen in [
        ("ＡＢＣ１２３", "ABC123", "ＡＢＣ１２３"),
        ("ｶﾞｷﾞ", "ｶﾞｷﾞ", "ガギ"),
        ("abc 123 ｱｲｳ", "abc 123 ｱｲｳ", "abc 123 アイウ"),
        ("“‘’”", "“`'\"", "“‘’”"),
    ]:
        assert stand_in.zen_to_han(text, kana=False) == to_han
        assert stand_in.han_to_zen(text, digit=False, ascii=False) == to_zen


# -- offline -----------------------------------------------------------------------------------

OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    attempts = []
    WATCHED = {"socket.connect", "socket.getaddrinfo", "socket.sendto", "urllib.Request"}
    sys.addaudithook(lambda event, args: event in WATCHED and attempts.append([event, repr(args)]))
    from wyoming_kokoro.models.g2p.cjk import MisakiJapanese, MisakiMandarin
    ja, zh = MisakiJapanese(), MisakiMandarin()
    print(json.dumps({
        "ja": ja("こんにちは、世界。お元気ですか？"),
        "zh": zh("你好，世界。你今天好吗？"),
        "ja_english": ja("私はPythonが好きです。"),
        "attempts": attempts,
        "downloading_modules": [m for m in ("pyopenjtalk", "unidic") if m in sys.modules],
    }))
    """
)


def _network_namespace() -> list[str]:
    """`unshare -rn` (a user and network namespace: no interface but a down loopback)."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    return ["unshare", "-rn"] if probe.returncode == 0 else []


def test_japanese_and_mandarin_work_with_networking_off(tmp_path: Path) -> None:
    """A fresh process with no network at all (and a new temp dir, so jieba starts cold)."""
    isolation = _network_namespace()
    if not isolation:
        pytest.skip("unshare -rn is not available: no way to turn networking off here")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        [*isolation, sys.executable, "-c", OFFLINE_SCRIPT],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "HTTPS_PROXY": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["ja"] == SENTENCES["j"][3]
    assert out["zh"] == SENTENCES["z"][3]
    assert out["ja_english"] == "βatakɯɕi βa pˈIθˌɑn ɡa sɨkʲi desɨ."
    assert out["attempts"] == [], "no G2P may even try to reach the network"
    assert out["downloading_modules"] == [], "neither pyopenjtalk nor unidic is loaded"


# -- describe: the catalogue and the registry --------------------------------------------------


def test_every_v10_voice_is_speakable_and_tagged_with_its_language() -> None:
    registry = VoiceRegistry({"v1.0": V10Build(), "v0.19": V019Build()}, [], "v1.0")
    v10 = [voice for voice in registry.all() if voice.version == "v1.0"]
    assert all(registry.speakable(voice) for voice in v10)
    tags = {voice.language for voice in v10}
    assert tags == {tag for tag, *_rest in SENTENCES.values()}
    for voice in v10:
        assert voice.language == V10Build.languages[voice.prefix].tag, voice.name
    assert registry.resolve("jf_alpha@v1.0", "").language == "ja"
    assert registry.resolve("zm_yunxi@v1.0", "").language == "zh-cn"
    # v0.19 speaks only English; it has no voice of another language to advertise.
    assert {v.language for v in registry.all() if v.version == "v0.19"} == {"en-us", "en-gb"}


# -- long text: cut at the language's boundaries, spoken whole ---------------------------------


def _squeezed(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize(
    ("prefix", "sentence"),
    [("j", "今日はいい天気ですね、散歩に行きましょう。"), ("z", "春天来了，花开满园。")],
)
def test_long_cjk_paragraph_is_cut_at_its_punctuation_and_spoken_whole(
    prefix: str, sentence: str, phonemizer, symbols
) -> None:
    g2p = phonemizer(prefix)
    paragraph = sentence * 40
    segments = plan_segments(paragraph, g2p, symbols)
    assert sum(len(s.token_ids) for s in segments) > MAX_TOKENS, "really longer than one pass"
    assert len(segments) > 1
    assert all(len(s.token_ids) <= MAX_TOKENS for s in segments)
    # Every sentence is there, once, in order: nothing truncated, nothing repeated.
    assert _squeezed(" ".join(s.phonemes for s in segments)) == _squeezed(g2p(sentence)) * 40
    # Cuts fall after the sentence's CJK punctuation (phonemized as , or .).
    assert all(s.phonemes.endswith((",", ".")) for s in segments)


@pytest.mark.parametrize(
    ("prefix", "run"),
    [("j", "東京の大学で日本語を勉強している学生"), ("z", "我们今天去北京看长城")],
)
def test_long_cjk_run_without_punctuation_is_cut_between_words(
    prefix: str, run: str, phonemizer, symbols
) -> None:
    g2p = phonemizer(prefix)
    text = run * 30  # no punctuation and no spaces: no break in the text at all
    phonemes = g2p(text)
    segments = plan_segments(text, g2p, symbols)
    assert len(segments) > 1
    assert all(len(s.token_ids) <= MAX_TOKENS for s in segments)
    # The segments are the G2P's words, whole and in order: cut only where it put a space.
    assert [w for s in segments for w in s.phonemes.split()] == phonemes.split()


def test_streamed_cjk_text_splits_at_cjk_sentence_ends() -> None:
    assert split_sentences("今日は晴れです。明日は雨でしょう！「本当？」と言った。そうですか") == [
        "今日は晴れです。",
        "明日は雨でしょう！",
        "「本当？」と言った。",
        "そうですか",
    ]
    assert split_sentences("你好，世界。今天天气很好！你吃饭了吗？我很好") == [
        "你好，世界。",
        "今天天气很好！",
        "你吃饭了吗？",
        "我很好",
    ]


# -- real speech on the fixture weights ---------------------------------------------------------


@pytest.fixture(scope="module")
def v10_model(fixture_weights):
    from wyoming_kokoro.models.model import KokoroModel

    return KokoroModel.load(V10Build(), V10_CONFIG, fixture_weights["v1_0"], "cpu")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("voice", "text"),
    [
        ("jf_alpha", "こんにちは、世界。"),
        ("zf_xiaoxiao", "你好，世界。"),
        *((voice, SENTENCES[voice[0]][2]) for voice in SPOKEN_BY_ESPEAK),
    ],
)
def test_every_language_speaks_speech_length_audio(voice: str, text: str, v10_model) -> None:
    """Through the real network on the fixture weights, one voice per language beyond
    English (which the server tests hear with Whisper)."""
    pack = SHARED_KOKORO / "v1_0" / "voices" / f"{voice}.pt"
    audio = v10_model.render(text, voice[0], pack, 1.0)
    seconds = audio.size / SAMPLE_RATE
    assert 0.5 < seconds < 30, f"{seconds:.2f} s for {text!r}"
    assert abs(audio.astype(float)).max() > 1000, "audible, not silence"
