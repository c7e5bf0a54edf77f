"""Points inside a forward pass where the inference thread may serve someone else first.

A pass is the unit the scheduler hands out, and a long sentence's pass takes
seconds on a small CPU: a satellite asking for a short answer while another
client's long reply is being rendered would wait for that whole pass before its
own first sound. The vocoder calls `pause_point()` between its stages; the
scheduler installs a callback for its worker thread that may run another
request's first sentence right there, on the same thread, and then return. The
paused pass resumes exactly where it was (its tensors are simply held), so its
audio is unchanged. Torch-free, so the scheduler can import it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_LOCAL = threading.local()


class PassAbandoned(Exception):
    """Raised at a pause point when nobody waits for the running pass any more (its
    client went away): the rest of the pass would be wasted work."""


def set_pause_callback(callback: Callable[[], None] | None) -> None:
    """Install (or with None remove) this thread's callback for `pause_point`."""
    _LOCAL.callback = callback


def pause_point() -> None:
    """Let this thread's scheduler run waiting work now; a no-op on other threads.

    Raises PassAbandoned when the running pass is no longer wanted.
    """
    callback = getattr(_LOCAL, "callback", None)
    if callback is not None:
        callback()
