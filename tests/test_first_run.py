"""A new user's first run: the server fetches what it needs, then works offline."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from wyoming_kokoro.models.download import sha256_of

from .conftest import SHARED_KOKORO, ServerProcess, describe, free_port, synthesize, transcribe
from .fake_hub import V1_PREFIX, Hub


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_first_run_downloads_then_speaks_then_works_offline(
    hub: Hub, fixture_weights, tmp_path: Path, transcriber
) -> None:
    data = tmp_path / "data"
    checkpoint_sha = sha256_of(fixture_weights["v1_0"])
    online = ServerProcess(
        ["--data-dir", str(data), "--hub-url", hub.url, "--v1-model-sha256", checkpoint_sha]
    )
    try:
        online.start(tmp_path)
        # Start-up fetches the default model and voice in the background.
        wait_for(lambda: (data / "v1_0" / "voices" / "af_heart.pt").is_file())
        reply = asyncio.run(synthesize(online.uri, "Open the front door.", None))
        assert reply.error is None, reply.error
        assert "front door" in transcribe(transcriber, reply.audio)
        assert sha256_of(data / "v1_0" / "kokoro-v1_0.pth") == checkpoint_sha
        # Another voice is fetched on first use, once.
        assert not (data / "v1_0" / "voices" / "bf_emma.pt").exists()
        assert hub.gets(V1_PREFIX + "voices/bf_emma.pt") == []
        assert asyncio.run(synthesize(online.uri, "Hello.", "bf_emma")).seconds > 0.3
        assert asyncio.run(synthesize(online.uri, "Hello.", "bf_emma")).seconds > 0.3
        assert len(hub.gets(V1_PREFIX + "voices/bf_emma.pt")) == 1
        assert len(hub.gets(V1_PREFIX + "kokoro-v1_0.pth")) == 1
        # Online, every official voice is offered (downloadable now).
        voices = {v.name: v for v in asyncio.run(describe(online.uri)).tts[0].voices}
        assert voices["am_adam@v1.0"].installed
    finally:
        online.stop()
    # Offered is not fetched: only the voices that were used came from the hub.
    fetched = {path for path, _ in hub.log if path.startswith(V1_PREFIX + "voices/")}
    assert fetched == {V1_PREFIX + "voices/af_heart.pt", V1_PREFIX + "voices/bf_emma.pt"}

    offline = ServerProcess(["--data-dir", str(data), "--offline"])
    try:
        offline.start(tmp_path)
        voices = {v.name: v for v in asyncio.run(describe(offline.uri)).tts[0].voices}
        installed = {name for name, v in voices.items() if v.installed}
        assert installed == {"af_heart@v1.0", "bf_emma@v1.0"}, installed
        assert asyncio.run(synthesize(offline.uri, "Still works.", "bf_emma")).seconds > 0.3
        reply = asyncio.run(synthesize(offline.uri, "Hello.", "am_adam"))
        assert reply.error and "am_adam.pt" in reply.error and str(data) in reply.error
    finally:
        offline.stop()


def test_unreachable_source_gives_clear_errors_and_installed_voices_keep_working(
    hub: Hub, fixture_weights, tmp_path: Path
) -> None:
    # The model and one voice are on disk; the hub is gone (connection refused).
    data = tmp_path / "data"
    (data / "v1_0" / "voices").mkdir(parents=True)
    os.symlink(SHARED_KOKORO / "v1_0" / "config.json", data / "v1_0" / "config.json")
    os.symlink(fixture_weights["v1_0"], data / "v1_0" / "kokoro-v1_0.pth")
    os.symlink(SHARED_KOKORO / "v1_0/voices/af_heart.pt", data / "v1_0/voices/af_heart.pt")
    closed_port = free_port()
    proc = ServerProcess(["--data-dir", str(data), "--hub-url", f"http://127.0.0.1:{closed_port}"])
    try:
        proc.start(tmp_path)
        refused = asyncio.run(synthesize(proc.uri, "Hello.", "am_adam"))
        assert refused.error and "127.0.0.1" in refused.error, refused.error
        assert asyncio.run(synthesize(proc.uri, "Hello.", "af_heart")).seconds > 0.3
    finally:
        proc.stop()


def test_voice_missing_on_the_source_is_a_clear_404(hub: Hub, weights_dir, tmp_path) -> None:
    del hub.routes[V1_PREFIX + "voices/am_adam.pt"]
    data = tmp_path / "data"
    (data / "v1_0").mkdir(parents=True)
    os.symlink(SHARED_KOKORO / "v1_0" / "config.json", data / "v1_0" / "config.json")
    # Checkpoint from the fixture cache; voices come from the hub.
    proc = ServerProcess(
        ["--data-dir", str(data), "--data-dir", str(weights_dir), "--hub-url", hub.url]
    )
    try:
        proc.start(tmp_path)
        reply = asyncio.run(synthesize(proc.uri, "Hello.", "am_adam"))
        assert reply.error is not None
        assert "am_adam.pt" in reply.error and "not found" in reply.error.lower(), reply.error
        assert asyncio.run(synthesize(proc.uri, "Hello.", "af_heart")).seconds > 0.3
    finally:
        proc.stop()
