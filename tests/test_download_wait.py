"""No silent waits: a request needing a file that is downloading waits at most --download-wait.

Then it gets an `error` naming the file and how far its download is, and the
download goes on in the background: later requests join it (never a second
download) and, once it is done, are served — without restarting the server.
Files come from the loopback fake hub, slowed down per file (`Hub.throttle`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import time
from pathlib import Path

import pytest
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_kokoro.config import load_settings
from wyoming_kokoro.errors import DownloadingError
from wyoming_kokoro.models.catalogue import load_catalogue
from wyoming_kokoro.models.download import sha256_of

from .conftest import SHARED_KOKORO, Reply, ServerProcess, describe, read_until, synthesize
from .fake_hub import V019_PREFIX, Hub

PACK_ROUTE = V019_PREFIX + "voices/af_bella.pt"
CHECKPOINT_ROUTE = V019_PREFIX + "kokoro-v0_19.pth"


def link(data: Path, relpath: str, target: Path) -> None:
    path = data / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def data_dir(tmp_path: Path, fixture_weights: dict[str, Path], *, v019_checkpoint: bool) -> Path:
    """v1.0 with af_heart and v0.19's config on disk; v0.19's checkpoint only if asked."""
    data = tmp_path / "data"
    link(data, "v1_0/config.json", SHARED_KOKORO / "v1_0/config.json")
    link(data, "v1_0/kokoro-v1_0.pth", fixture_weights["v1_0"])
    link(data, "v1_0/voices/af_heart.pt", SHARED_KOKORO / "v1_0/voices/af_heart.pt")
    link(data, "v0_19/config.json", SHARED_KOKORO / "v0_19/config.json")
    if v019_checkpoint:
        link(data, "v0_19/kokoro-v0_19.pth", fixture_weights["v0_19"])
    return data


@pytest.fixture
def engine(hub: Hub, tmp_path: Path, fixture_weights: dict[str, Path]):
    """The server's own engine (settings → make_engine), its v0.19 voice packs on the hub."""
    from wyoming_kokoro.server import make_engine  # imports torch: only here

    data = data_dir(tmp_path, fixture_weights, v019_checkpoint=True)
    settings = load_settings(
        {"data_dirs": [str(data)], "hub_url": hub.url, "download_wait": "1"}, {}
    )
    engine = make_engine(settings)
    assert engine.download_wait == 1
    yield engine
    engine.close()


NOT_READY = re.compile(
    r"voice 'af_bella@v0\.19' is not ready yet: voices/af_bella\.pt for v0\.19 is still "
    r"downloading \((0\.\d) of 0\.5 MB, (\d+) %(, about \d+ s left)?\); try again shortly"
)


def test_request_waits_at_most_download_wait_then_the_download_goes_on(
    engine, hub: Hub, tmp_path: Path
) -> None:
    hub.throttle[PACK_ROUTE] = 200_000  # 524 kB in about 2.6 s
    from wyoming_kokoro.handlers.info import build_info

    async def scenario() -> None:
        voice = engine.resolve_voice("af_bella@v0.19")
        loop = asyncio.get_running_loop()
        began = loop.time()
        # Two requests at once share one download, and both give up after 1 s.
        results = await asyncio.gather(
            engine.prepare(voice), engine.prepare(voice), return_exceptions=True
        )
        assert 1.0 <= loop.time() - began < 1.5
        percents = []
        for result in results:
            assert isinstance(result, DownloadingError), result
            assert result.code == "downloading"
            match = NOT_READY.fullmatch(str(result))
            assert match, str(result)
            percents.append(int(match.group(2)))
        assert 0 < percents[0] < 100

        # Describe stays instant: it never waits for the download.
        began = loop.time()
        info = build_info(engine, streaming=True)
        assert loop.time() - began < 0.2
        installed = {v.name: v.installed for v in info.tts[0].voices}
        assert installed["af_bella@v0.19"]

        # A later request joins the same download and sees it further along.
        with pytest.raises(DownloadingError) as again:
            await engine.prepare(voice)
        match = NOT_READY.fullmatch(str(again.value))
        assert match and int(match.group(2)) > percents[0], str(again.value)
        assert len(hub.gets(PACK_ROUTE)) == 1

        # Once it is done, the same request is served, from the one download.
        path = await engine.prepare(voice, wait=math.inf)
        expected = tmp_path / "data/v0_19/voices/af_bella.pt"
        assert path == expected
        assert sha256_of(path) == load_catalogue("v0.19").voices["af_bella"].file.sha256
        began = loop.time()
        assert await engine.prepare(voice) == expected
        assert loop.time() - began < 0.5
        assert len(hub.gets(PACK_ROUTE)) == 1
        assert engine.files.in_progress() == {}

    asyncio.run(scenario())


def test_download_failing_after_everyone_gave_up_is_logged_and_retried_by_the_next_request(
    engine, hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    hub.throttle[PACK_ROUTE] = 300_000  # about 1.7 s
    hub.corrupt.add(PACK_ROUTE)

    async def scenario() -> None:
        voice = engine.resolve_voice("af_bella@v0.19")
        with pytest.raises(DownloadingError):
            await engine.prepare(voice)
        deadline = time.monotonic() + 10
        while not any("Background download failed" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the failure was not logged"
            await asyncio.sleep(0.05)
        [record] = [r for r in caplog.records if "Background download failed" in r.getMessage()]
        assert record.levelno == logging.WARNING
        assert "af_bella.pt" in record.getMessage() and "checksum mismatch" in record.getMessage()

        hub.corrupt.clear()
        del hub.throttle[PACK_ROUTE]
        path = await engine.prepare(voice)
        assert path.name == "af_bella.pt" and path.is_file()
        assert len(hub.gets(PACK_ROUTE)) == 2

    with caplog.at_level(logging.WARNING, logger="wyoming_kokoro.engine"):
        asyncio.run(scenario())


async def synthesize_with_code(uri: str, text: str, voice: str) -> tuple[Reply, str | None]:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice)).event())
        reply = Reply(await read_until(client, ["audio-stop"]))
    codes = [e.data.get("code") for e in reply.events if e.type == "error"]
    return reply, codes[0] if codes else None


def test_first_use_of_a_v019_voice_while_its_checkpoint_downloads(
    hub: Hub, tmp_path: Path, fixture_weights: dict[str, Path]
) -> None:
    """A real server, the real-size 327 MB v0.19 checkpoint on a (fast but) throttled link.

    The default voice is the v0.19 one, so the start-up warm-up is what first needs the
    checkpoint: the requests below must join that download, not start their own.
    """
    data = data_dir(tmp_path, fixture_weights, v019_checkpoint=False)
    link(data, "v0_19/voices/af_bella.pt", SHARED_KOKORO / "v0_19/voices/af_bella.pt")
    checkpoint = data / "v0_19" / "kokoro-v0_19.pth"
    sha = sha256_of(fixture_weights["v0_19"])
    hub.throttle[CHECKPOINT_ROUTE] = 80e6  # about 4 s
    args = ["--data-dir", str(data), "--hub-url", hub.url, "--v019-model-sha256", sha]
    proc = ServerProcess([*args, "--voice", "af_bella@v0.19", "--download-wait", "1"])
    voice = "af_bella@v0.19"
    try:
        proc.start(tmp_path)
        began = time.monotonic()
        reply, code = asyncio.run(synthesize_with_code(proc.uri, "Hello there.", voice))
        assert time.monotonic() - began < 2.0
        assert code == "downloading", reply.events
        pattern = (
            r"voice 'af_bella@v0\.19' is not ready yet: kokoro-v0_19\.pth for v0\.19 is still "
            r"downloading \((\d+) of 327 MB, (\d+) %(, about \d+ s left)?\); try again shortly"
        )
        match = re.fullmatch(pattern, reply.error or "")
        assert match, reply.error
        first_percent = int(match.group(2))

        began = time.monotonic()
        voices = {v.name: v for v in asyncio.run(describe(proc.uri)).tts[0].voices}
        assert time.monotonic() - began < 1.0
        assert voices[voice].installed

        reply, code = asyncio.run(synthesize_with_code(proc.uri, "Hello there.", voice))
        if code is not None:  # still downloading: the same download, further along
            match = re.fullmatch(pattern, reply.error or "")
            assert code == "downloading" and match, reply.error
            assert int(match.group(2)) > first_percent
        assert len(hub.gets(CHECKPOINT_ROUTE)) == 1

        deadline = time.monotonic() + 30
        while not checkpoint.is_file():
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.1)
        reply = asyncio.run(synthesize(proc.uri, "Hello there.", voice))
        assert reply.error is None and reply.seconds > 0.3, reply.error
        assert len(hub.gets(CHECKPOINT_ROUTE)) == 1
        assert sha256_of(checkpoint) == sha
    finally:
        proc.stop()
