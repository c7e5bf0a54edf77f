"""The server the benchmarks measure: this checkout's `python -m wyoming_kokoro` on the
offline fixture weights (../shared/tools/test_weights.py), on a free loopback port.

Each benchmark waits for it in its own way (they speak to it with different clients).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fixture_checkpoints() -> dict[str, Path]:
    """{"v1_0": path, "v0_19": path} of the fixture checkpoints (built once, then cached)."""
    weights = json.loads(
        subprocess.run(
            [sys.executable, str(SHARED / "tools" / "test_weights.py"), "--json"],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        ).stdout
    )
    return {key: Path(value) for key, value in weights.items()}


def fixture_weights_dir() -> Path:
    """The data dir holding the fixture checkpoints."""
    return fixture_checkpoints()["v1_0"].parent.parent


def launch_server(
    extra: list[str], log: IO[bytes] | None = None, port: int | None = None
) -> tuple[subprocess.Popen, str]:
    """Start the server (not waiting for it); returns the process and its tcp:// URI."""
    uri = f"tcp://127.0.0.1:{port or free_port()}"
    args = ["--uri", uri, "--offline", "--data-dir", str(SHARED / "kokoro")]
    args += ["--data-dir", str(fixture_weights_dir()), *extra]
    proc = subprocess.Popen(
        [sys.executable, "-m", "wyoming_kokoro", *args],
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return proc, uri
