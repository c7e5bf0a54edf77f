"""`wyoming-kokoro-healthcheck`: exit 0 if the server answers and its inference progresses.

Docker's HEALTHCHECK (and so the HA Supervisor's watchdog) runs this. Two questions,
one connection: does `describe` get an `info` (the event loop is alive), and does the
server's `kokoro-health` answer say inference is not wedged (see `health`)? A bare port
check, or describe alone, would call a server healthy while every request hangs.
Exit status 0 means healthy, 1 unhealthy, as Docker expects.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.info import Describe, Info

from .health import HEALTH_EVENT


async def _read(client: AsyncClient, event_type: str) -> Event | None:
    """The next event of `event_type`, skipping others; None if the server closed."""
    while True:
        event = await client.read_event()
        if event is None or event.type == event_type:
            return event


async def problem_with(uri: str) -> str | None:
    """None if the server at `uri` is healthy, else what is wrong (one line)."""
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        if await _read(client, Info().event().type) is None:
            return "closed the connection without answering describe"
        await client.write_event(Event(HEALTH_EVENT))
        health = await _read(client, HEALTH_EVENT)
        if health is None:
            return "closed the connection without reporting inference health"
        if health.data.get("healthy") is not True:
            return str(health.data.get("detail") or "inference reported unhealthy")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="wyoming-kokoro-healthcheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--uri", default="tcp://127.0.0.1:10200")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default: 10)")
    args = parser.parse_args(argv)
    try:
        problem = asyncio.run(asyncio.wait_for(problem_with(args.uri), args.timeout))
    except asyncio.TimeoutError:
        problem = f"no answer within {args.timeout:.0f} s"
    except OSError as err:
        problem = str(err) or type(err).__name__
    if problem is not None:
        print(f"unhealthy: {args.uri}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
