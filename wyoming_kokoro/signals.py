"""SIGTERM and SIGINT as a graceful stop request that ends with exit status 0.

Supervisors (the HA Supervisor, systemd, Docker) stop a service with SIGTERM and
treat a non-zero exit as a failure; Python's default would die with 143 on SIGTERM
and a KeyboardInterrupt traceback on Ctrl-C. Both signals instead set an event the
server waits on; a second signal asks to skip the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

HANDLED = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Installs handlers on the running loop; `remove()` puts the defaults back."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.again = asyncio.Event()
        self.reason = ""
        self._loop = asyncio.get_running_loop()
        for signum in HANDLED:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(signum, self._received, signum)

    def _received(self, signum: int) -> None:
        if self.requested.is_set():
            self.again.set()
            return
        self.reason = signal.Signals(signum).name
        self.requested.set()

    def remove(self) -> None:
        for signum in HANDLED:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.remove_signal_handler(signum)
