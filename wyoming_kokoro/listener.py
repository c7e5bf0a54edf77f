"""Accept Wyoming connections on tcp:// or unix://, and wind them down gracefully.

wyoming's own `AsyncServer` binds inside `run()` and, on SIGTERM, closes every
connection at once — a reply being spoken is cut off mid-word. A service that is
stopped by a supervisor should instead stop accepting, let the audio in flight
finish for a few seconds, and only then close. This small listener does that; the
handlers are wyoming `AsyncEventHandler`s with a `finish` method.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from wyoming.error import Error
from wyoming.event import async_write_event

from .errors import BusyError, ConfigError

_LOGGER = logging.getLogger(__name__)


class GracefulHandler(Protocol):
    """What the listener needs of a handler beyond wyoming's `AsyncEventHandler`."""

    async def run(self) -> None: ...

    async def finish(self, grace: float) -> None:
        """Speak what is queued for at most `grace` seconds, then close the connection."""


HandlerFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter], GracefulHandler]


class Listener:
    """A bound tcp:// or unix:// socket whose connections each run one handler."""

    def __init__(
        self, uri: str, handler_factory: HandlerFactory, max_connections: int = 32
    ) -> None:
        self.uri = uri
        self.max_connections = max_connections
        """Connections served at once; one more is told so and closed (a flood of
        idle sockets must not exhaust file descriptors or starve Home Assistant)."""
        self._factory = handler_factory
        self._server: asyncio.AbstractServer | None = None
        self._unix_path: Path | None = None
        self._connections: dict[asyncio.Task[None], GracefulHandler] = {}

    async def bind(self) -> None:
        """Bind and start accepting; a taken port or bad path is a one-line ConfigError."""
        parsed = urlparse(self.uri)
        try:
            if parsed.scheme == "tcp":
                if parsed.hostname is None or parsed.port is None:
                    raise ConfigError(f"uri: '{self.uri}' needs a host and a port")
                self._server = await asyncio.start_server(
                    self._accept, host=parsed.hostname, port=parsed.port
                )
            elif parsed.scheme == "unix":
                self._unix_path = Path(parsed.path)
                self._unix_path.unlink(missing_ok=True)
                self._server = await asyncio.start_unix_server(self._accept, path=parsed.path)
            else:
                raise ConfigError(f"uri: '{self.uri}' is not a tcp://, unix:// or stdio:// uri")
        except OSError as err:  # e.g. the port is taken (wyoming-piper also uses 10200)
            raise ConfigError(f"uri: cannot listen on {self.uri}: {err.strerror or err}") from err

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.max_connections:
            _LOGGER.warning("Refusing a connection: %d are open already", len(self._connections))
            error = Error(
                text=f"the server is busy: {len(self._connections)} connections are open "
                f"(limit {self.max_connections}); try again in a moment",
                code=BusyError.code,
            )
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(async_write_event(error.event(), writer), 5)
            writer.close()
            return
        handler = self._factory(reader, writer)
        task = asyncio.create_task(handler.run(), name="wyoming connection")
        self._connections[task] = handler
        task.add_done_callback(lambda done: self._connections.pop(done, None))

    async def close(self, grace: float) -> None:
        """Stop accepting, give open connections `grace` seconds to finish, then close them."""
        if self._server is not None:
            self._server.close()
        if self._connections:
            _LOGGER.info(
                "Finishing %d open connection(s) (at most %.0f s)", len(self._connections), grace
            )
        handlers = list(self._connections.values())
        await asyncio.gather(
            *(handler.finish(grace) for handler in handlers), return_exceptions=True
        )
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        if self._unix_path is not None:
            self._unix_path.unlink(missing_ok=True)
