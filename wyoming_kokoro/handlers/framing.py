"""Reading Wyoming frames from an untrusted client without trusting the frame.

A Wyoming event on the wire is one JSON header line, then `data_length` bytes of
extra JSON data (merged into the header's `data`), then `payload_length` bytes
of binary payload. wyoming's own `async_read_event` believes all of it: a huge
`payload_length` makes it wait for (and buffer) that many bytes, a header that is
not JSON ends the connection without a word, `"data": null` with extra data
crashes the reader task, a negative length is silently taken as zero.

`read_event_safely` checks the frame itself — sizes, JSON, UTF-8, the types of
the framing fields — and refuses a bad one with a one-line `BadFrameError`
before it reads or buffers anything a declared length asks for. What the fields
of a well-formed event *mean* (`text` must be a string, …) is left to the event
handler, and unknown event types and unknown fields pass through untouched:
newer Home Assistant versions send events (`select-program`) and fields
(`text_format`) that this server does not know, and those must keep working.

`SafeEventHandler` is wyoming's `AsyncEventHandler` with a read loop that uses
it: a bad frame is answered with an `error` event (code `bad-frame`) and that
connection is closed; every other connection is unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from wyoming.error import Error
from wyoming.event import Event
from wyoming.server import AsyncEventHandler

from ..errors import BadFrameError, IdleTimeoutError

_LOGGER = logging.getLogger(__name__)

DEFAULT_TEXT_CHARS = 10_000
"""The server's default --max-text-length; the default limits fit a text that long."""

_ESCAPED_BYTES_PER_CHAR = 12
"""The most bytes one character of a JSON string can take on the wire.

A client that escapes everything outside ASCII (`json.dumps`' default,
`ensure_ascii=True`) writes a character outside the BMP as a surrogate pair,
`\\ud83d\\ude00`: 12 bytes for what `len()` — and so --max-text-length — counts
as one character. UTF-8 as Home Assistant writes it takes at most 6 (a control
character escaped as `\\u0001`)."""

_SLACK_BYTES = 16 * 1024
"""Room beside the text for the rest of the event: voice, language, future fields."""


def bytes_for_text(max_text_length: int) -> int:
    """Header or data bytes that can carry a text of `max_text_length` characters, any encoding."""
    return _ESCAPED_BYTES_PER_CHAR * max_text_length + _SLACK_BYTES


@dataclass(frozen=True)
class FrameLimits:
    """The largest frame parts one client may make the server read and buffer.

    - `max_header_bytes`, `max_data_bytes`: a synthesize event's text travels in
      the extra data (wyoming's writer) or inline in the header line (other
      clients, hand-written tests), so both must hold the longest text the
      handler accepts, escaped in the most expensive way: 12 bytes a character
      plus 16 KiB for the other fields — 136,384 bytes (133 KiB) for the default
      10,000 characters. Anything larger is refused as a frame before the
      handler would refuse it as text. `for_text_length` scales both with
      --max-text-length.
    - `max_payload_bytes`: a TTS server receives no audio; no event a TTS client
      sends has a payload. 64 KiB still lets a misrouted client's ordinary audio
      chunks (a few KiB each) be read and ignored as unknown events, and keeps
      the memory one connection can pin small.
    """

    max_header_bytes: int = bytes_for_text(DEFAULT_TEXT_CHARS)
    max_data_bytes: int = bytes_for_text(DEFAULT_TEXT_CHARS)
    max_payload_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_data_bytes", "max_payload_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"FrameLimits.{name} must be a positive integer, got {value!r}")

    @classmethod
    def for_text_length(cls, max_text_length: int) -> FrameLimits:
        """Limits that fit a text of `max_text_length` characters (never below the defaults)."""
        size = max(bytes_for_text(max_text_length), bytes_for_text(DEFAULT_TEXT_CHARS))
        return cls(max_header_bytes=size, max_data_bytes=size)


# -- reading ---------------------------------------------------------------------------


async def read_event_safely(reader: asyncio.StreamReader, limits: FrameLimits) -> Event | None:
    """Read one event, or None at a clean end of input between frames.

    Anything that is not a well-formed frame within `limits` raises
    `BadFrameError` with a one-line reason; a declared length is checked before
    a single byte of it is awaited. Errors of the connection itself
    (`ConnectionResetError`, …) propagate as they are.
    """
    line = await _read_header_line(reader, limits.max_header_bytes)
    if line is None:
        return None
    complete = line.endswith(b"\n")
    try:
        header = _parse_json_object(line, "header line")
    except BadFrameError:
        if complete:
            raise
        raise BadFrameError(
            f"connection closed in the middle of a header line ({len(line)} bytes, no newline)"
        ) from None

    event_type = header.get("type")
    if "type" not in header:
        raise BadFrameError("header has no 'type'")
    if not isinstance(event_type, str) or not event_type:
        raise BadFrameError(f"'type' must be a non-empty string, got {_describe(event_type)}")
    where = f" (event {_clip(event_type)!r})"

    data = header.get("data")
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        raise BadFrameError(f"'data' must be an object or null, got {_describe(data)}{where}")
    version = header.get("version")
    if version is not None and not isinstance(version, str):
        raise BadFrameError(f"'version' must be a string, got {_describe(version)}{where}")
    data_length = _length(header, "data_length", limits.max_data_bytes, where)
    payload_length = _length(header, "payload_length", limits.max_payload_bytes, where)

    if data_length > 0:
        raw = await _read_exactly(reader, data_length, "data", where)
        data = {**data, **_parse_json_object(raw, "data", where)}

    payload: bytes | None = None
    if payload_length > 0:
        payload = await _read_exactly(reader, payload_length, "payload", where)

    return Event(type=event_type, data=data, payload=payload)


async def _read_header_line(reader: asyncio.StreamReader, max_bytes: int) -> bytes | None:
    """The next line with its newline; at end of input the unterminated rest, or None if none.

    Works with any reader limit: a line longer than the reader's own buffer limit
    is read in pieces, and refused as soon as it passes `max_bytes`.
    """
    pieces: list[bytes] = []
    size = 0
    while True:
        try:
            piece = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as err:  # end of input before a newline
            if not pieces and not err.partial:
                return None
            size += len(err.partial)
            if size > max_bytes:
                raise _line_too_long(max_bytes) from None
            pieces.append(err.partial)
            return b"".join(pieces)
        except asyncio.LimitOverrunError as err:  # the line is longer than the reader's limit
            size += err.consumed
            if size > max_bytes:
                raise _line_too_long(max_bytes) from None
            pieces.append(await reader.readexactly(err.consumed))
            continue
        size += len(piece) - 1
        if size > max_bytes:
            raise _line_too_long(max_bytes)
        pieces.append(piece)
        return b"".join(pieces)


def _line_too_long(max_bytes: int) -> BadFrameError:
    return BadFrameError(f"header line is longer than the limit of {max_bytes} bytes")


async def _read_exactly(reader: asyncio.StreamReader, count: int, part: str, where: str) -> bytes:
    try:
        return await reader.readexactly(count)
    except asyncio.IncompleteReadError as err:
        raise BadFrameError(
            f"connection closed after {len(err.partial)} of {count} {part} bytes{where}"
        ) from None


def _length(header: dict[str, Any], key: str, limit: int, where: str) -> int:
    """A declared length: absent or null is 0; otherwise a non-negative int within `limit`."""
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadFrameError(
            f"'{key}' must be a non-negative integer, got {_describe(value)}{where}"
        )
    if value > limit:
        raise BadFrameError(f"'{key}' is {value} bytes; the limit is {limit}{where}")
    return value


# -- JSON ------------------------------------------------------------------------------


class _NotJson(ValueError):
    """NaN, Infinity and -Infinity: Python's json reads them, JSON has no such values."""


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _parse_json_object(raw: bytes, part: str, where: str = "") -> dict[str, Any]:
    """`raw` as strict UTF-8 JSON that must be an object, with no unpaired surrogates."""
    if not raw.strip():
        raise BadFrameError(f"{part} is empty{where}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadFrameError(
            f"{part} is not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start}){where}"
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        reason = err.msg.removesuffix(" at")
        raise BadFrameError(f"{part} is not JSON: {reason} at character {err.pos}{where}") from None
    except RecursionError:
        raise BadFrameError(f"{part} is not usable JSON: nested too deeply{where}") from None
    except ValueError as err:  # a NaN, or an integer with more digits than Python converts
        raise BadFrameError(f"{part} is not usable JSON: {_clip(str(err), 80)}{where}") from None
    if not isinstance(value, dict):
        raise BadFrameError(f"{part} must be a JSON object, got {_describe(value)}{where}")
    # Strict UTF-8 has no surrogates, so only a \u escape can make one; a lone one is
    # no character at all and would fail later, when the text is encoded again.
    if "\\u" in text:
        _check_surrogates(value, part, where)
    return value


def _check_surrogates(value: Any, part: str, where: str) -> None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as err:
                raise BadFrameError(
                    f"{part} has an unpaired surrogate "
                    f"(\\u{ord(item[err.start]):04x}), which is not a character{where}"
                ) from None


def _describe(value: Any) -> str:
    """A short, safe description of a wrong value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        digits = str(value)
        return f"{digits}" if len(digits) <= 24 else f"a {len(digits)}-digit number"
    if isinstance(value, float):
        return f"the number {value!r}" if math.isfinite(value) else "a number out of range"
    if isinstance(value, str):
        return f"the string {_clip(value)!r}"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _clip(text: str, size: int = 40) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


# -- the handler base class ---------------------------------------------------------------


class SafeEventHandler(AsyncEventHandler):
    """wyoming's `AsyncEventHandler`, reading with `read_event_safely`.

    `run()` keeps wyoming's contract — read until the end of input, `stop()` or
    `handle_event` returning False; then `disconnect()` (once) and close the
    writer — and adds: a bad frame goes to `on_bad_frame` and ends the
    connection. A connection error while reading (the client reset the
    connection) ends it quietly instead of escaping from the task.
    """

    frame_limits: FrameLimits = FrameLimits()
    """Override (or set per instance) for other limits; `FrameLimits.for_text_length`."""

    linger_s: float = 1.0
    linger_idle_s: float = 0.2
    linger_bytes: int = 1024 * 1024
    """After the error, what the client still sends is read and dropped until it stops
    sending (`linger_idle_s` without data), or for `linger_s`, or `linger_bytes` at most.
    Closing a socket with unread input makes the kernel send a reset, which can destroy
    the error in flight: a client still writing an oversized frame would never see it."""

    idle_timeout: float | None = None
    """Close a connection that completes no frame for this long while `busy()` is false
    (a client that opens sockets and stalls, or sends half a frame, holds no place
    for ever). None: no limit."""

    def busy(self) -> bool:
        """True while the connection has work in progress; it is never idle then."""
        return False

    def touch(self) -> None:
        """Note activity on the connection (a frame arrived, something was sent)."""
        self._last_activity = asyncio.get_running_loop().time()

    async def _read_or_idle(self) -> Event | None:
        """The next event, or IdleTimeoutError after `idle_timeout` of idleness."""
        if self.idle_timeout is None:
            return await read_event_safely(self.reader, self.frame_limits)
        loop = asyncio.get_running_loop()
        read = asyncio.ensure_future(read_event_safely(self.reader, self.frame_limits))
        try:
            while True:
                idle_for = loop.time() - self._last_activity
                left = self.idle_timeout - idle_for if not self.busy() else self.idle_timeout
                done, _ = await asyncio.wait({read}, timeout=max(left, 0.05))
                if done:
                    return read.result()
                if not self.busy() and loop.time() - self._last_activity >= self.idle_timeout:
                    raise IdleTimeoutError(
                        f"closing a connection that sent nothing for {self.idle_timeout:.0f} s"
                    )
        finally:
            read.cancel()

    async def run(self) -> None:
        self._is_running = True
        self._disconnected = False
        self.touch()
        try:
            while self._is_running:
                try:
                    event = await self._read_or_idle()
                    self.touch()
                except IdleTimeoutError as err:
                    _LOGGER.info("%s", err)
                    await self.disconnect_once()
                    with contextlib.suppress(ConnectionError):
                        await self.write_event(Error(text=str(err), code=err.code).event())
                    break
                except BadFrameError as err:
                    if self._is_running:  # not a frame cut short by stop()
                        await self.on_bad_frame(err)
                    break
                except OSError as err:  # ConnectionResetError and friends
                    _LOGGER.debug("Connection lost while reading: %s", err)
                    break
                if event is None:
                    break
                if not await self.handle_event(event):
                    break
        finally:
            await self.disconnect_once()
            self.writer.close()

    async def disconnect_once(self) -> None:
        """`disconnect()`, unless this connection has already been told."""
        if not getattr(self, "_disconnected", False):
            self._disconnected = True
            await self.disconnect()

    async def on_bad_frame(self, err: BadFrameError) -> None:
        """Send an `error` event (code `bad-frame`) if the client can still read it, then close.

        `disconnect()` runs first, so that nothing else the handler is still
        producing (audio of an earlier request) goes out after the error.
        """
        _LOGGER.warning("Bad frame from a client: %s", err)
        await self.disconnect_once()
        with contextlib.suppress(ConnectionError):
            await self.write_event(Error(text=str(err), code=err.code).event())
        await self._linger()
        self.writer.close()

    async def _linger(self) -> None:
        """End our side, drop what the client still sends (bounded), so that it gets the error."""
        try:
            if self.writer.can_write_eof() and not self.writer.is_closing():
                self.writer.write_eof()
        except (OSError, RuntimeError):
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.linger_s
        dropped = 0
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            while dropped < self.linger_bytes:
                wait = min(self.linger_idle_s, deadline - loop.time())
                if wait <= 0:
                    break
                chunk = await asyncio.wait_for(self.reader.read(64 * 1024), wait)
                if not chunk:
                    break
                dropped += len(chunk)
