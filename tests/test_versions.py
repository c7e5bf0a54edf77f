"""v0.19 and v1.0 side by side in one server process."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from .conftest import (
    SHARED_KOKORO,
    ServerProcess,
    check_audio_format,
    describe,
    server_args,
    synthesize,
    transcribe,
)

V019_VOICES = sorted(p.stem for p in (SHARED_KOKORO / "v0_19" / "voices").glob("*.pt"))
TEXT = "Please open the garage door."


def test_describe_lists_both_generations_in_one_program(server: ServerProcess) -> None:
    info = asyncio.run(describe(server.uri))
    voices = {v.name: v for v in info.tts[0].voices}
    for name in V019_VOICES:
        assert f"{name}@v0.19" in voices
    bella = voices["af_bella@v0.19"]
    assert bella.description == "Bella (American English, female) · Kokoro v0.19"
    assert bella.languages == ["en-us"] and bella.version == "v0.19" and bella.installed
    assert voices["bm_lewis@v0.19"].languages == ["en-gb"]
    assert voices["af_bella@v1.0"].description.endswith("· Kokoro v1.0")


def test_one_server_speaks_both_versions_intelligibly(server: ServerProcess, transcriber) -> None:
    for voice in ("af_bella@v0.19", "af_heart@v1.0", "bm_george@v0.19"):
        reply = asyncio.run(synthesize(server.uri, TEXT, voice))
        assert reply.error is None, reply.error
        check_audio_format(reply)
        heard = transcribe(transcriber, reply.audio)
        assert "garage" in heard and "door" in heard, (voice, heard)


@pytest.mark.parametrize("name", V019_VOICES)
def test_every_v019_voice_synthesizes(server: ServerProcess, name: str) -> None:
    reply = asyncio.run(synthesize(server.uri, "Hello there.", f"{name}@v0.19"))
    assert reply.error is None, reply.error
    assert reply.seconds > 0.5


def test_same_name_in_both_versions_gives_different_voices(server: ServerProcess) -> None:
    old = asyncio.run(synthesize(server.uri, TEXT, "af_bella@v0.19"))
    new = asyncio.run(synthesize(server.uri, TEXT, "af_bella@v1.0"))
    bare = asyncio.run(synthesize(server.uri, TEXT, "af_bella"))
    assert old.audio and new.audio and old.audio != new.audio
    assert bare.audio == new.audio, "a bare name means the default version (v1.0)"


def test_default_version_decides_bare_names_and_no_voice(start_server) -> None:
    proc = start_server("--default-version", "v0.19", "--voice", "af_sarah")
    bare = asyncio.run(synthesize(proc.uri, TEXT, "af_bella"))
    old = asyncio.run(synthesize(proc.uri, TEXT, "af_bella@v0.19"))
    assert bare.audio == old.audio and bare.audio
    default = asyncio.run(synthesize(proc.uri, TEXT))
    sarah = asyncio.run(synthesize(proc.uri, TEXT, "af_sarah@v0.19"))
    assert default.audio == sarah.audio and default.audio
    # A voice only v1.0 has still resolves under a v0.19 default.
    assert asyncio.run(synthesize(proc.uri, "Hi.", "af_heart")).seconds > 0.3


def test_default_voice_may_be_qualified(start_server, server: ServerProcess) -> None:
    proc = start_server("--voice", "bf_emma@v0.19")
    default = asyncio.run(synthesize(proc.uri, TEXT))
    emma = asyncio.run(synthesize(server.uri, TEXT, "bf_emma@v0.19"))
    assert default.audio == emma.audio and default.audio


def test_single_model_slot_under_concurrent_mixed_load(start_server, server) -> None:
    """--max-loaded-models 1: alternating versions, concurrently, all right."""
    proc = start_server("--max-loaded-models", "1")
    requests = [
        ("Hello number one.", "af_bella@v0.19"),
        ("Hello number two.", "af_heart@v1.0"),
        ("Hello number three.", "am_adam@v0.19"),
        ("Hello number four.", "am_michael@v1.0"),
        ("Hello number five.", "bf_emma@v0.19"),
        ("Hello number six.", "bf_emma@v1.0"),
    ]

    async def run_all():
        return await asyncio.gather(*(synthesize(proc.uri, t, v) for t, v in requests))

    replies = asyncio.run(asyncio.wait_for(run_all(), 600))
    for (text, voice), reply in zip(requests, replies, strict=True):
        assert reply.error is None, (voice, reply.error)
        reference = asyncio.run(synthesize(server.uri, text, voice))
        assert reply.audio == reference.audio, f"{voice} did not sound like itself"


def test_event_api_is_the_same_for_both_versions(server: ServerProcess) -> None:
    shapes = []
    for voice in ("af_sarah@v0.19", "af_sarah@v1.0"):
        reply = asyncio.run(synthesize(server.uri, "One. Two.", voice))
        kinds = [t for i, t in enumerate(reply.types) if i == 0 or t != reply.types[i - 1]]
        shapes.append(kinds)
    assert shapes[0] == shapes[1] == ["audio-start", "audio-chunk", "audio-stop"]


def test_user_voice_pack_is_listed_and_wrong_generation_pack_ignored(
    start_server, weights_dir, tmp_path
) -> None:
    user_dir = tmp_path / "data"
    (user_dir / "v1_0" / "voices").mkdir(parents=True)
    (user_dir / "voices" / "v0_19").mkdir(parents=True)
    shutil.copy(SHARED_KOKORO / "v1_0/voices/af_nova.pt", user_dir / "v1_0/voices/af_mine.pt")
    # A v0.19 pack dropped where v1.0 packs go must not be offered for v1.0.
    shutil.copy(SHARED_KOKORO / "v0_19/voices/af_sky.pt", user_dir / "v1_0/voices/af_wrong.pt")
    shutil.copy(SHARED_KOKORO / "v0_19/voices/am_adam.pt", user_dir / "voices/v0_19/am_old.pt")
    proc = start_server(data_args=[*server_args(weights_dir), "--data-dir", str(user_dir)])
    voices = {v.name: v for v in asyncio.run(describe(proc.uri)).tts[0].voices}
    assert voices["af_mine@v1.0"].installed and voices["af_mine@v1.0"].languages == ["en-us"]
    assert voices["am_old@v0.19"].installed
    assert not any(name.startswith("af_wrong") for name in voices)
    mine = asyncio.run(synthesize(proc.uri, TEXT, "af_mine"))
    nova = asyncio.run(synthesize(proc.uri, TEXT, "af_nova@v1.0"))
    assert mine.audio == nova.audio and mine.audio
