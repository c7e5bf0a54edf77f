"""End-to-end behaviour of the server as Home Assistant sees it (v1.0 default)."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
import time

import pytest
from wyoming.client import AsyncClient
from wyoming.event import read_event, write_event
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_kokoro import __version__

from .conftest import (
    SHARED_KOKORO,
    ServerProcess,
    check_audio_format,
    describe,
    read_until,
    server_args,
    synthesize,
    transcribe,
)

S1 = "Turn on the kitchen lights."


def test_describe_lists_every_voice_with_language_and_description(server: ServerProcess) -> None:
    info = asyncio.run(describe(server.uri))
    assert [p.name for p in info.tts] == ["kokoro"], "one TTS program: HA uses only the first"
    program = info.tts[0]
    assert program.version == __version__
    voices = {v.name: v for v in program.voices}
    heart = voices["af_heart@v1.0"]
    assert heart.languages == ["en-us"]
    assert heart.description == "Heart (American English, female) · Kokoro v1.0"
    assert "hexgrad/Kokoro-82M" in heart.attribution.url
    assert heart.installed
    assert voices["bm_george@v1.0"].languages == ["en-gb"]
    assert voices["ff_siwis@v1.0"].languages == ["fr-fr"]
    v1_names = {p.stem for p in (SHARED_KOKORO / "v1_0" / "voices").glob("*.pt")}
    assert {f"{n}@v1.0" for n in v1_names} <= set(voices)


def test_synthesize_returns_speech_in_declared_format(server: ServerProcess, transcriber) -> None:
    reply = asyncio.run(synthesize(server.uri, S1, "af_heart@v1.0"))
    assert reply.error is None
    assert reply.types[0] == "audio-start" and reply.types[-1] == "audio-stop"
    assert reply.types.count("audio-start") == 1 and reply.types.count("audio-stop") == 1
    check_audio_format(reply)
    assert 0.8 <= reply.seconds <= 6.0
    heard = transcribe(transcriber, reply.audio)
    assert "kitchen" in heard and "lights" in heard, heard


def test_no_voice_means_default_voice(server: ServerProcess) -> None:
    default = asyncio.run(synthesize(server.uri, S1))
    heart = asyncio.run(synthesize(server.uri, S1, "af_heart"))
    michael = asyncio.run(synthesize(server.uri, S1, "am_michael@v1.0"))
    assert default.audio and default.audio == heart.audio
    assert michael.audio and michael.audio != heart.audio


def test_bare_and_qualified_names_are_the_same_voice(server: ServerProcess) -> None:
    bare = asyncio.run(synthesize(server.uri, S1, "bf_emma"))
    qualified = asyncio.run(synthesize(server.uri, S1, "bf_emma@v1.0"))
    assert bare.audio == qualified.audio and len(bare.audio) > 0


def test_long_text_is_spoken_whole_not_truncated(server: ServerProcess, transcriber) -> None:
    # One sentence far past the 510-phoneme context: it must be cut and spoken whole.
    words = [f"item {n}" for n in ("one", "two", "three", "four", "five", "six")] * 12
    text = "Please remember " + ", ".join(words) + " and finally the word zebra."
    reply = asyncio.run(synthesize(server.uri, text, "af_heart"))
    assert reply.error is None
    # ~80 words at a speaking rate of 2-4 words per second.
    assert reply.seconds > 20, reply.seconds
    assert "zebra" in transcribe(transcriber, reply.audio[-2 * 24000 * 6 :])


def test_describe_answers_fast_while_another_client_synthesizes(server: ServerProcess) -> None:
    text = " ".join(["The quick brown fox jumps over the lazy dog."] * 6)

    async def scenario() -> tuple[list[float], list[float]]:
        async with AsyncClient.from_uri(server.uri) as client:
            await client.write_event(Synthesize(text=text).event())
            first = await asyncio.wait_for(client.read_event(), 60)
            assert first is not None and first.type == "audio-start"

            async def rest() -> float:
                events = await read_until(client, ["audio-stop"])
                assert events[-1].type == "audio-stop"
                return time.monotonic()

            reading = asyncio.create_task(rest())
            timings: list[tuple[float, float]] = []  # (delay, answered at)
            while not reading.done() and len(timings) < 5:
                started = time.monotonic()
                await describe(server.uri)
                timings.append((time.monotonic() - started, time.monotonic()))
                await asyncio.sleep(0.1)
            stopped_at = await reading
            during = [delay for delay, at in timings if at < stopped_at]
            return [delay for delay, _ in timings], during

    delays, during = asyncio.run(scenario())
    # HA waits 1 s for info; the server should answer in well under 100 ms.
    assert max(delays) < 1.0, delays
    # Only describes answered while the synthesis was still running measure anything.
    assert len(during) >= 3, f"synthesis ended too soon to measure describe during it: {delays}"
    assert sum(d < 0.1 for d in during) >= len(during) - 1, during


@pytest.mark.parametrize(
    ("text", "voice", "expected"),
    [
        ("", None, "empty"),
        ("   \n\t ", None, "empty"),
        ("Hello there.", "xx_nobody", "unknown voice 'xx_nobody'"),
        ("Hello there.", "af_heart@v9", "unknown voice 'af_heart@v9'"),
        ("Hello. " * 2000, None, "limit is 10000"),
        ("... !!! ***", None, "nothing that can be spoken"),
    ],
)
def test_bad_input_gets_error_and_server_keeps_serving(
    server: ServerProcess, text: str, voice: str | None, expected: str
) -> None:
    reply = asyncio.run(synthesize(server.uri, text, voice))
    assert reply.error is not None and expected in reply.error, reply.types
    assert "audio-chunk" not in reply.types
    assert asyncio.run(synthesize(server.uri, "Still here.")).seconds > 0.4


def test_missing_model_file_error_names_file_and_dirs(start_server, tmp_path) -> None:
    # Offline, with voices and config but no checkpoint anywhere.
    proc = start_server(data_args=["--data-dir", str(SHARED_KOKORO), "--offline"])
    reply = asyncio.run(synthesize(proc.uri, S1))
    assert reply.error is not None
    assert "kokoro-v1_0.pth" in reply.error and str(SHARED_KOKORO) in reply.error, reply.error
    info = asyncio.run(describe(proc.uri))
    assert not any(v.installed for v in info.tts[0].voices), "nothing can be served offline"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"type": "synthesize", "data": {"voice": {"name": 5}, "text": "Hi."}}', "voice.name"),
        (b'{"type": "synthesize", "data": {"voice": null}}', "'text' must be a string"),
        (b'{"type": "synthesize", "data": {"text": 5}}', "'text' must be a string"),
        (b'{"type": "synthesize-start", "data": {}}\n{"type": "synthesize-chunk"}', "'text'"),
    ],
)
def test_malformed_events_get_an_error_event(server: ServerProcess, line: bytes, expected) -> None:
    async def send() -> list[str | None]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        # A describe pipelined after the bad event must not be answered: the connection
        # is finished once the error is sent.
        writer.write(line + b'\n{"type": "describe"}\n')
        await writer.drain()
        received = await asyncio.wait_for(reader.read(), 30)  # until the server closes
        writer.close()
        stream = io.BytesIO(received)
        events = []
        while (event := read_event(stream)) is not None:
            events.append(event)
        return [e.data.get("text") if e.type == "error" else e.type for e in events]

    replies = asyncio.run(send())
    assert len(replies) == 1 and expected in (replies[0] or ""), replies
    assert asyncio.run(synthesize(server.uri, "Still alive.")).seconds > 0.4


def test_unknown_default_voice_is_a_clear_cli_error(weights_dir) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wyoming_kokoro",
            "--data-dir",
            str(SHARED_KOKORO),
            "--offline",
            "--voice",
            "zz_nobody",
            "--uri",
            "tcp://127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "zz_nobody" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_unix_socket_uri(weights_dir, tmp_path) -> None:
    proc = ServerProcess(server_args(weights_dir), unix_socket=tmp_path / "kokoro.sock")
    try:
        proc.start(tmp_path)
        assert asyncio.run(describe(proc.uri)).tts[0].name == "kokoro"
        assert asyncio.run(synthesize(proc.uri, "Hello.", "af_heart")).seconds > 0.3
    finally:
        proc.stop()


def test_stdio_uri(weights_dir) -> None:
    request = Synthesize(text="Hello.", voice=SynthesizeVoice(name="af_heart")).event()
    stdin = io.BytesIO()
    write_event(request, stdin)
    result = subprocess.run(
        [sys.executable, "-m", "wyoming_kokoro", "--uri", "stdio://", *server_args(weights_dir)],
        input=stdin.getvalue(),
        capture_output=True,
        timeout=180,
    )
    stream = io.BytesIO(result.stdout)
    types = []
    while (event := read_event(stream)) is not None:
        types.append(event.type)
    assert types[0] == "audio-start" and types[-1] == "audio-stop", types
    assert "audio-chunk" in types


def test_each_request_logs_one_line_with_its_figures(server: ServerProcess) -> None:
    reply = asyncio.run(synthesize(server.uri, "Close the garage door.", "bm_george@v1.0"))
    assert reply.error is None
    deadline = time.monotonic() + 5
    pattern = re.compile(
        r"Spoke 22 chars with bm_george@v1\.0 \(v1\.0\): queue (\d+\.\d\d) s, "
        r"first audio (\d+\.\d\d) s, (\d+\.\d\d) s of audio in (\d+\.\d\d) s \(RTF (\d+\.\d\d)\)"
    )
    while not (found := pattern.search(server.log())):
        assert time.monotonic() < deadline, server.log()[-2000:]
        time.sleep(0.1)
    queue, first, audio, elapsed, rtf = (float(x) for x in found.groups())
    assert queue <= first <= elapsed
    assert abs(audio - reply.seconds) < 0.01
    assert abs(rtf - elapsed / audio) < 0.02
