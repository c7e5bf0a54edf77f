"""Voice blends and presets: what a request names resolves to one generation and language,
and blended, faster or quieter voices sound different through the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from wyoming_kokoro.config import load_settings
from wyoming_kokoro.errors import ConfigError, UnknownVoiceError
from wyoming_kokoro.models.voices import VoiceRegistry
from wyoming_kokoro.server import make_builds
from wyoming_kokoro.voices.presets import PresetSpec, parse_preset, resolve_presets
from wyoming_kokoro.voices.selection import BlendError, VoiceResolver, parse_blend

from .conftest import ServerProcess, describe, server_args, synthesize, transcribe

TEXT = "Turn on the kitchen lights."


@pytest.fixture(scope="module")
def resolver() -> VoiceResolver:
    return VoiceResolver(VoiceRegistry(make_builds(), [], "v1.0"), {})


def weights(selection) -> dict[str, float]:
    return {part.voice.qualified_name: round(part.weight, 4) for part in selection.parts}


# -- resolution (no model) -----------------------------------------------------------


def test_equal_blend_resolves_to_one_generation_with_equal_weights(resolver) -> None:
    selection = resolver.select("af_bella+af_sky", "af_heart")
    assert weights(selection) == {"af_bella@v1.0": 0.5, "af_sky@v1.0": 0.5}
    assert (selection.version, selection.language) == ("v1.0", "en-us")
    assert selection.name == "af_bella@v1.0(1)+af_sky@v1.0(1)"


def test_weighted_blend_normalises_weights(resolver) -> None:
    selection = resolver.select(" af_bella(2) + af_sky( 1 ) ", "af_heart")
    assert weights(selection) == {"af_bella@v1.0": 0.6667, "af_sky@v1.0": 0.3333}


def test_one_explicit_version_applies_to_bare_parts(resolver) -> None:
    selection = resolver.select("af_bella@v0.19+af_sky", "af_heart")
    assert weights(selection) == {"af_bella@v0.19": 0.5, "af_sky@v0.19": 0.5}


def test_bare_names_go_to_the_generation_that_has_them_all(resolver) -> None:
    # af_irulan exists only in v0.19; so does the blend.
    selection = resolver.select("af_irulan+af_bella", "af_heart")
    assert selection.version == "v0.19"


def test_the_same_voice_twice_is_that_voice(resolver) -> None:
    selection = resolver.select("af_sky+af_sky(3)", "af_heart")
    assert weights(selection) == {"af_sky@v1.0": 1.0} and not selection.is_blend


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ("af_heart+af_irulan", "different Kokoro generations: af_heart@v1.0 and af_irulan@v0.19"),
        ("af_bella@v1.0+af_sky@v0.19", "different Kokoro generations"),
        ("af_heart+bf_emma", "different languages: af_heart@v1.0 (American English) and bf_emma"),
        ("af_heart+ff_siwis", "different languages"),
        ("af_heart(0)+af_sky", "weight '0'"),
        ("af_heart(-1)+af_sky", "weight '-1'"),
        ("af_heart(nan)+af_sky", "weight 'nan'"),
        ("af_heart(1e9)+af_sky", "at most 100"),
        ("af_heart++af_sky", "is not NAME or NAME(WEIGHT)"),
        ("af_heart+../../etc/passwd", "is not NAME or NAME(WEIGHT)"),
        ("+".join(["af_heart"] * 9), "at most 8"),
    ],
)
def test_impossible_blends_are_refused_with_the_reason(resolver, requested, message) -> None:
    with pytest.raises(BlendError) as err:
        resolver.select(requested, "af_heart")
    assert message in str(err.value)
    assert err.value.code == "bad-blend"


def test_a_blend_of_an_unknown_voice_names_it(resolver) -> None:
    with pytest.raises(UnknownVoiceError, match="unknown voice 'af_nobody'"):
        resolver.select("af_heart+af_nobody", "af_heart")


def test_blend_syntax_keeps_names_and_weights() -> None:
    parts = parse_blend("af_bella@v0.19(2.5)+af_sky")
    assert [(p.name, p.weight) for p in parts] == [("af_bella@v0.19", 2.5), ("af_sky", 1.0)]


# -- presets ---------------------------------------------------------------------------


def test_preset_syntax() -> None:
    assert parse_preset("narrator=af_bella(2)+af_sky(1),speed=0.9,volume=0.5") == PresetSpec(
        "narrator", "af_bella(2)+af_sky(1)", 0.9, 0.5
    )
    assert parse_preset("kitchen = bf_emma") == PresetSpec("kitchen", "bf_emma")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("narrator", "expected NAME=VOICE"),
        ("a@b=af_heart", "preset name 'a@b'"),
        ("../x=af_heart", "preset name '../x'"),
        ("x=", "names no voice"),
        ("x=af_heart,speed=3", "speed '3' is not a number from 0.5 to 2.0"),
        ("x=af_heart,volume=0", "volume '0'"),
        ("x=af_heart,pitch=2", "unknown option 'pitch=2'"),
        ("x=af_heart,speed=1,speed=1.2", "sets speed twice"),
    ],
)
def test_bad_preset_syntax_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_preset(text)
    assert message in str(err.value)


def test_presets_are_settings_from_cli_env_and_file(tmp_path: Path) -> None:
    options = tmp_path / "options.yaml"
    options.write_text("presets:\n  - calm=af_heart,speed=0.8\n", encoding="utf-8")
    from_file = load_settings({"config": options}, {})
    assert from_file.presets == (PresetSpec("calm", "af_heart", 0.8),)
    from_env = load_settings({}, {"WYOMING_KOKORO_PRESETS": "a=af_heart; b=af_sky,volume=0.5"})
    assert [p.name for p in from_env.presets] == ["a", "b"]
    with pytest.raises(ConfigError, match=r"argument --preset: .*speed '9'"):
        load_settings({"presets": ["x=af_heart,speed=9"]}, {})
    with pytest.raises(ConfigError, match="preset 'a' is defined twice"):
        load_settings({"presets": ["a=af_heart", "a=af_sky"]}, {})


def test_presets_with_bad_voices_fail_at_start_naming_them(resolver) -> None:
    specs = [
        PresetSpec("ok", "af_heart"),
        PresetSpec("mixed", "af_heart+af_irulan"),
        PresetSpec("af_sky", "af_heart"),
        PresetSpec("missing", "af_nobody"),
    ]
    with pytest.raises(ConfigError) as err:
        resolve_presets(specs, resolver)
    text = str(err.value)
    assert "preset 'mixed': cannot blend voices of different Kokoro generations" in text
    assert "preset 'af_sky' has the name of a voice" in text
    assert "preset 'missing': unknown voice 'af_nobody'" in text
    assert "'ok'" not in text


# -- through the real server ---------------------------------------------------------


@pytest.fixture(scope="module")
def preset_server(weights_dir: Path, tmp_path_factory) -> Iterator[ServerProcess]:
    args = server_args(
        weights_dir,
        "--preset",
        "duo=af_bella(2)+af_sky(1)",
        "--preset",
        "quick=af_heart,speed=1.6",
        "--preset",
        "quiet=af_heart,volume=0.3",
    )
    proc = ServerProcess(args).start(tmp_path_factory.mktemp("presets"))
    yield proc
    proc.stop()


def pcm(reply) -> np.ndarray:
    assert reply.error is None, reply.error
    return np.frombuffer(reply.audio, dtype=np.int16).astype(np.float64)


@pytest.mark.slow
def test_presets_are_listed_in_describe(preset_server: ServerProcess) -> None:
    info = asyncio.run(describe(preset_server.uri))
    voices = {v.name: v for v in info.tts[0].voices}
    names = [v.name for v in info.tts[0].voices]
    assert names[:3] == ["duo", "quick", "quiet"], "presets come first"
    duo = voices["duo"]
    assert duo.languages == ["en-us"] and duo.version == "v1.0" and duo.installed
    assert duo.description == "duo: Bella 67% + Sky 33% (American English) · Kokoro v1.0 preset"
    assert (
        voices["quick"].description
        == "quick: Heart (American English, speed 1.6) · Kokoro v1.0 preset"
    )
    assert "af_heart@v1.0" in voices  # the voices themselves are still there


@pytest.mark.slow
def test_a_blend_sounds_different_from_each_of_its_voices_and_is_still_speech(
    preset_server: ServerProcess, transcriber
) -> None:
    async def run():
        return await asyncio.gather(
            synthesize(preset_server.uri, TEXT, "af_bella"),
            synthesize(preset_server.uri, TEXT, "af_sky"),
            synthesize(preset_server.uri, TEXT, "af_bella(2)+af_sky(1)"),
            synthesize(preset_server.uri, TEXT, "duo"),
        )

    bella, sky, blend, duo = asyncio.run(run())
    for other in (bella, sky):
        assert pcm(blend).shape != pcm(other).shape or not np.array_equal(pcm(blend), pcm(other))
    assert duo.audio == blend.audio, "the preset is that blend"
    heard = transcribe(transcriber, blend.audio)
    assert "kitchen" in heard and "lights" in heard, heard


@pytest.mark.slow
def test_preset_speed_and_volume_change_the_audio(preset_server: ServerProcess) -> None:
    async def run():
        return await asyncio.gather(
            synthesize(preset_server.uri, TEXT, "af_heart"),
            synthesize(preset_server.uri, TEXT, "quick"),
            synthesize(preset_server.uri, TEXT, "quiet"),
        )

    normal, quick, quiet = (pcm(r) for r in asyncio.run(run()))
    assert 1.3 < len(normal) / len(quick) < 1.9, (len(normal), len(quick))
    assert len(quiet) == len(normal)
    gain = np.sqrt(np.mean(quiet**2) / np.mean(normal**2))
    assert 0.29 < gain < 0.31, gain


@pytest.mark.slow
def test_cross_generation_blend_gets_a_clear_error(preset_server: ServerProcess) -> None:
    reply = asyncio.run(synthesize(preset_server.uri, TEXT, "af_heart+af_irulan"))
    assert reply.types == ["error"]
    assert reply.events[0].data["code"] == "bad-blend"
    assert "different Kokoro generations" in reply.error
