"""A stand-in for the model hub: `http.server` on a loopback port, laid out like the hub.

Paths are `/REPO/resolve/REVISION/PATH`; files are served in place from
../shared/kokoro and the fixture checkpoints (a path table, no copies). It
honours Range requests and can be told to cut a response short, corrupt it,
fail it with a status, ignore Range, stall, trickle a body slowly, send an
endless one, or claim a size it does not have — the failures a real download
meets.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SHARED_KOKORO = Path(__file__).resolve().parents[1].parent / "shared" / "kokoro"
V1_PREFIX = "/hexgrad/Kokoro-82M/resolve/main/"
V019_PREFIX = "/hexgrad/kLegacy/resolve/main/v0.19/"


@dataclass
class Hub:
    """State of the fake hub: what it serves and how it misbehaves (per URL path)."""

    routes: dict[str, Path] = field(default_factory=dict)
    cut_next: dict[str, int] = field(default_factory=dict)
    """Path -> bytes: the next response sends this many body bytes, then hangs up."""
    fail_next: dict[str, list[int]] = field(default_factory=dict)
    """Path -> statuses to answer with, one per request, before serving normally."""
    corrupt: set[str] = field(default_factory=set)
    ignore_range: bool = False
    delay: float = 0.0
    """Seconds to wait before answering (to make concurrent requests overlap)."""
    stall: float = 0.0
    """Seconds to wait before sending any byte (to trigger client timeouts)."""
    throttle: dict[str, float] = field(default_factory=dict)
    """Path -> bytes per second: the body is sent no faster (a slow link, or a trickle)."""
    endless: set[str] = field(default_factory=set)
    """Paths answered 200 with no Content-Length and a body that never ends."""
    claim_length: dict[str, int] = field(default_factory=dict)
    """Path -> the Content-Length to announce instead of the real one."""
    log: list[tuple[str, str | None]] = field(default_factory=list)
    """(path, Range header) of every GET, in order."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def gets(self, path: str) -> list[str | None]:
        """Range headers of the GETs of `path` (None: no Range)."""
        with self.lock:
            return [rng for p, rng in self.log if p == path]


def make_handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            header = self.headers.get("Range")
            with hub.lock:
                hub.log.append((path, header))
                statuses = hub.fail_next.get(path)
                status = statuses.pop(0) if statuses else None
                cut = hub.cut_next.pop(path, None)
            if hub.stall:
                time.sleep(hub.stall)
            if hub.delay:
                time.sleep(hub.delay)
            if status is not None:
                self.send_error(status)
                return
            if path in hub.endless:
                self.send_response(200)
                self.end_headers()  # HTTP/1.0 without Content-Length: the body ends at close
                self._send(iter(lambda: b"\0" * 65536, None), hub.throttle.get(path))
                return
            source = hub.routes.get(path)
            if source is None:
                self.send_error(404)
                return
            total = source.stat().st_size
            start, end = 0, total - 1
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", header or "")
            if match and not hub.ignore_range:
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else total - 1
                if start >= total:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{total}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
            else:
                self.send_response(200)
            length = end + 1 - start
            self.send_header("Content-Length", str(hub.claim_length.get(path, length)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            blocks = _read(source, start, length, corrupt=path in hub.corrupt)
            if cut is not None:
                self.wfile.write(b"".join(blocks)[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send(blocks, hub.throttle.get(path))

        def _send(self, blocks: Iterator[bytes], rate: float | None) -> None:
            """Write `blocks`, at most `rate` bytes per second; stop when the client hangs up.

            Throttled, the bytes go out in pieces about 20 times a second, as a slow
            link delivers them, not in bursts with long pauses between.
            """
            began = time.monotonic()
            sent = 0
            piece = max(1, int(rate / 20)) if rate else 0
            try:
                for block in blocks:
                    for i in range(0, len(block), piece or len(block)):
                        chunk = block[i : i + piece] if piece else block
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        if rate:
                            ahead = sent / rate - (time.monotonic() - began)
                            if ahead > 0:
                                time.sleep(ahead)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


def _read(source: Path, start: int, length: int, corrupt: bool) -> Iterator[bytes]:
    """`length` bytes of `source` from `start`, in blocks, streamed from disk like a real
    server (a 327 MB checkpoint is not read whole before the first byte goes out).
    `corrupt` flips the file's first 64 bytes."""
    with open(source, "rb") as stream:
        stream.seek(start)
        position = start
        while length > 0:
            block = stream.read(min(1 << 20, length))
            if not block:
                return
            if corrupt and position < 64:
                flipped = bytes(b ^ 0xFF for b in block[: 64 - position])
                block = flipped + block[64 - position :]
            yield block
            position += len(block)
            length -= len(block)


@contextmanager
def running_hub(fixture_weights: dict[str, Path]) -> Iterator[Hub]:
    """A hub on 127.0.0.1 with hexgrad/Kokoro-82M (v1.0) and hexgrad/kLegacy (v0.19/)."""
    state = Hub()
    for prefix, folder, checkpoint in (
        (V1_PREFIX, "v1_0", "kokoro-v1_0.pth"),
        (V019_PREFIX, "v0_19", "kokoro-v0_19.pth"),
    ):
        base = SHARED_KOKORO / folder
        state.routes[prefix + "config.json"] = base / "config.json"
        state.routes[prefix + checkpoint] = fixture_weights[folder]
        for pack in (base / "voices").glob("*.pt"):
            state.routes[f"{prefix}voices/{pack.name}"] = pack
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
