"""The inference scheduler: fair turns, bounded queues, deadlines, grouping by generation.

The unit tests drive the real scheduler and its real worker thread with small work
functions whose start order and blocking they control; the last test runs a real
server with one model slot and two clients on different generations, and counts
how often a checkpoint was loaded.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from wyoming.client import AsyncClient
from wyoming.event import Event

from wyoming_kokoro.errors import BusyError
from wyoming_kokoro.health import HEALTH_EVENT, InferenceWatch
from wyoming_kokoro.scheduler import InferenceScheduler

from .conftest import synthesize


def scheduler(**kwargs: Any) -> InferenceScheduler:
    loaded = kwargs.pop("loaded", lambda: [])
    return InferenceScheduler(
        loaded, single_slot=kwargs.pop("single_slot", False), watch=InferenceWatch(), **kwargs
    )


def recorder(log: list[str], name: str, gate: threading.Event | None = None) -> Callable:
    def work(cancelled: Callable[[], bool]) -> str:
        log.append(name)
        if gate is not None:
            gate.wait(30)
        return name

    return work


def test_clients_take_turns_one_job_each() -> None:
    async def scenario() -> list[str]:
        sched = scheduler()
        log: list[str] = []
        gate = threading.Event()
        first = sched.submit("A", "v1.0", recorder(log, "A1", gate))
        await asyncio.sleep(0.1)  # A1 is running; everything else queues behind it
        rest = [sched.submit("A", "v1.0", recorder(log, f"A{n}")) for n in (2, 3, 4)]
        rest += [sched.submit("B", "v1.0", recorder(log, f"B{n}")) for n in (1, 2)]
        rest += [sched.submit("C", "v1.0", recorder(log, "C1"))]
        gate.set()
        await asyncio.gather(first, *rest)
        sched.close()
        return log

    assert asyncio.run(scenario()) == ["A1", "A2", "B1", "C1", "A3", "B2", "A4"]


def test_a_new_request_over_the_limit_is_busy_at_once() -> None:
    async def scenario() -> None:
        sched = scheduler(max_requests=2)
        gate = threading.Event()
        log: list[str] = []
        running = sched.submit("A", "v1.0", recorder(log, "A1", gate), new_request=True)
        await asyncio.sleep(0.1)
        queued = [
            sched.submit("B", "v1.0", recorder(log, "B1"), new_request=True),
            sched.submit("C", "v1.0", recorder(log, "C1"), new_request=True),
        ]
        with pytest.raises(BusyError, match=r"2 requests are waiting for synthesis \(limit 2\)"):
            sched.submit("D", "v1.0", recorder(log, "D1"), new_request=True)
        # More sentences of a request already admitted are not refused.
        queued.append(sched.submit("B", "v1.0", recorder(log, "B2")))
        gate.set()
        assert await asyncio.gather(running, *queued) == ["A1", "B1", "C1", "B2"]
        sched.close()

    asyncio.run(scenario())


def test_a_job_that_waits_too_long_fails_as_busy_and_never_runs() -> None:
    async def scenario() -> None:
        sched = scheduler(max_wait=0.3)
        gate = threading.Event()
        log: list[str] = []
        running = sched.submit("A", "v1.0", recorder(log, "A1", gate))
        waiting = sched.submit("B", "v1.0", recorder(log, "B1"))
        started = time.monotonic()
        with pytest.raises(BusyError, match="waited 0 s for synthesis"):
            await waiting
        assert 0.25 <= time.monotonic() - started < 5
        gate.set()
        assert await running == "A1"
        await asyncio.sleep(0.1)
        assert log == ["A1"], "the expired job must not run later"
        sched.close()

    asyncio.run(scenario())


def test_a_job_that_holds_the_thread_too_long_fails_and_health_says_busy() -> None:
    async def scenario() -> None:
        sched = scheduler(max_hold=0.3)
        gate = threading.Event()
        stuck = sched.submit("A", "v1.0", recorder([], "A1", gate))
        with pytest.raises(BusyError, match="took longer than 0 s"):
            await stuck
        assert sched.watch.health().busy, "the thread itself is still inside the job"
        gate.set()
        sched.close()

    asyncio.run(scenario())


def test_dropped_client_queued_work_never_runs_and_running_work_sees_cancelled() -> None:
    async def scenario() -> None:
        sched = scheduler()
        seen: dict[str, bool] = {}
        inside = threading.Event()
        release = threading.Event()

        def long_job(cancelled: Callable[[], bool]) -> None:
            inside.set()
            release.wait(30)
            seen["cancelled"] = cancelled()

        running = sched.submit("A", "v1.0", long_job)
        log: list[str] = []
        queued = [sched.submit("A", "v1.0", recorder(log, f"A{n}")) for n in (2, 3)]
        assert await asyncio.get_running_loop().run_in_executor(None, inside.wait, 10)
        assert sched.drop("A") == 2
        release.set()
        await running
        for future in queued:
            assert future.cancelled()
        other = await sched.submit("B", "v1.0", recorder(log, "B1"))
        assert other == "B1" and log == ["B1"] and seen == {"cancelled": True}
        sched.close()

    asyncio.run(scenario())


def test_one_slot_groups_jobs_by_generation() -> None:
    """With one model in memory, the loaded generation runs up to 4 jobs in a row."""

    async def scenario() -> list[str]:
        loaded: list[str] = []
        sched = scheduler(single_slot=True, loaded=lambda: loaded[-1:])
        log: list[str] = []
        gate = threading.Event()

        def job(name: str, version: str, wait: bool = False) -> Callable:
            def work(cancelled: Callable[[], bool]) -> None:
                log.append(name)
                loaded.append(version)  # running it loads its generation
                if wait:
                    gate.wait(30)

            return work

        first = sched.submit("A", "v1.0", job("A1", "v1.0", wait=True))
        await asyncio.sleep(0.1)
        rest = []
        for n in range(2, 7):
            rest.append(sched.submit("A", "v1.0", job(f"A{n}", "v1.0")))
        for n in range(1, 4):
            rest.append(sched.submit("B", "v0.19", job(f"B{n}", "v0.19")))
        gate.set()
        await asyncio.gather(first, *rest)
        sched.close()
        return log

    order = asyncio.run(scenario())
    assert order == ["A1", "A2", "A3", "A4", "B1", "B2", "B3", "A5", "A6"]
    switches = sum(1 for a, b in itertools.pairwise(order) if a[0] != b[0])
    assert switches == 2, "round robin alone would switch generation after every job"


def test_one_slot_server_loads_each_generation_rarely(start_server) -> None:
    """Two clients on different generations at once, one model slot: few loads."""
    server = start_server("--max-loaded-models", "1")
    text = "One sentence here. Then another one. A third one follows. And the fourth."

    async def scenario() -> dict[str, Any]:
        replies = await asyncio.gather(
            synthesize(server.uri, text, "af_heart@v1.0"),
            synthesize(server.uri, text, "af_bella@v0.19"),
        )
        for reply in replies:
            assert reply.error is None, reply.error
            assert reply.seconds > 3, "all four sentences spoken"
        async with AsyncClient.from_uri(server.uri) as client:
            await client.write_event(Event(HEALTH_EVENT))
            event = await asyncio.wait_for(client.read_event(), 10)
            assert event is not None and event.type == HEALTH_EVENT
            return event.data["models"]

    models = asyncio.run(scenario())
    loads = models["loads"]
    # Warm-up loads v1.0; then at most one switch to v0.19 and one back. Alternating
    # sentence by sentence would load 8 times.
    assert loads.get("v0.19") == 1, loads
    assert loads.get("v1.0", 0) <= 2, loads


def test_a_long_reply_of_one_client_never_expires_behind_its_own_sentences() -> None:
    """Only the head of a client's line waits for its turn; later sentences wait for it."""

    async def scenario() -> list[str]:
        sched = scheduler(max_wait=0.3)
        log: list[str] = []

        def slow(name: str) -> Callable:
            def work(cancelled: Callable[[], bool]) -> str:
                time.sleep(0.2)
                log.append(name)
                return name

            return work

        futures = [sched.submit("A", "v1.0", slow(f"A{n}")) for n in range(1, 7)]
        results = await asyncio.gather(*futures)  # 1.2 s in all, far over max_wait
        sched.close()
        return results

    assert asyncio.run(scenario()) == [f"A{n}" for n in range(1, 7)]


def test_housekeeping_runs_after_every_job_on_the_worker_thread() -> None:
    """Freed memory goes back to the system after each sentence, also inside a stream
    (measured: a streamed 60-s reply peaked 400-600 MiB higher when it was returned only
    once the queue was empty); a failing housekeeping call does not stop the worker."""

    async def scenario() -> list[str]:
        log: list[str] = []

        def housekeeping() -> None:
            log.append(f"trim on {threading.current_thread().name}")
            if len(log) == 2:
                raise RuntimeError("housekeeping failed")

        sched = scheduler(after_job=housekeeping)
        gate = threading.Event()
        first = sched.submit("A", "v1.0", recorder(log, "A1", gate))
        await asyncio.sleep(0.05)
        rest = [sched.submit(c, "v1.0", recorder(log, n)) for c, n in (("A", "A2"), ("B", "B1"))]
        gate.set()
        await asyncio.gather(first, *rest)
        deadline = asyncio.get_running_loop().time() + 5
        while len(log) < 6:
            assert asyncio.get_running_loop().time() < deadline, log
            await asyncio.sleep(0.01)
        sched.close()
        return log

    trim = "trim on kokoro-infer"
    assert asyncio.run(scenario()) == ["A1", trim, "A2", trim, "B1", trim]


def test_releasing_free_memory_is_safe_to_call() -> None:
    from wyoming_kokoro.memory import release_free_memory

    release_free_memory()
    release_free_memory()


def pausing_work(log: list[str], name: str, gate: threading.Event | None = None) -> Callable:
    """Work that, like a vocoder pass, reaches a pause point halfway."""
    from wyoming_kokoro.models.pausing import pause_point

    def work(cancelled: Callable[[], bool]) -> str:
        log.append(f"{name} start")
        if gate is not None:
            gate.wait(30)
        pause_point()
        log.append(f"{name} end")
        return name

    return work


def test_another_requests_first_sentence_runs_inside_a_long_pass() -> None:
    """A short answer need not wait for a long sentence of someone else's reply: at
    the running pass's pause point the scheduler runs another request's first job,
    once per pass of a first job, not inside a nested job, and only of the same
    generation."""

    async def scenario() -> list[str]:
        sched = scheduler()
        log: list[str] = []
        gate = threading.Event()
        long_pass = sched.submit("A", "v1.0", pausing_work(log, "A1", gate), new_request=True)
        await asyncio.sleep(0.1)  # A1 runs and waits at its gate
        rest = [
            sched.submit("A", "v1.0", pausing_work(log, "A2")),  # A's next sentence
            sched.submit("C", "v0.19", recorder(log, "C1"), new_request=True),  # other model
            sched.submit("B", "v1.0", pausing_work(log, "B1"), new_request=True),
            sched.submit("D", "v1.0", recorder(log, "D1"), new_request=True),
        ]
        gate.set()
        await asyncio.gather(long_pass, *rest)
        sched.close()
        return log

    log = asyncio.run(scenario())
    # B1 ran inside A1's pass (C1 is another generation); D1 preempted neither B1,
    # which is nested, nor A1 again, but got into the next pass (A2) instead.
    assert log == ["A1 start", "B1 start", "B1 end", "A1 end", "A2 start", "D1", "A2 end", "C1"]


def test_a_later_sentence_gives_way_to_every_first_one() -> None:
    """A reply already being heard lets in each new request's first sentence."""
    from wyoming_kokoro.models.pausing import pause_point

    async def scenario() -> list[str]:
        sched = scheduler()
        log: list[str] = []
        gate = threading.Event()

        def long_pass(cancelled: Callable[[], bool]) -> str:
            log.append("A2 start")
            gate.wait(30)
            for _ in range(3):
                pause_point()
            log.append("A2 end")
            return "A2"

        running = sched.submit("A", "v1.0", long_pass)  # sentence 2 of A's reply
        await asyncio.sleep(0.1)
        firsts = [
            sched.submit(name, "v1.0", recorder(log, name), new_request=True)
            for name in ("B1", "C1")
        ]
        gate.set()
        await asyncio.gather(running, *firsts)
        sched.close()
        return log

    assert asyncio.run(scenario()) == ["A2 start", "B1", "C1", "A2 end"]


def test_a_later_sentence_does_not_preempt() -> None:
    async def scenario() -> list[str]:
        sched = scheduler()
        log: list[str] = []
        gate = threading.Event()
        running = sched.submit("A", "v1.0", pausing_work(log, "A1", gate), new_request=True)
        await asyncio.sleep(0.1)
        later = sched.submit("B", "v1.0", recorder(log, "B2"))  # B's stream, sentence 2
        gate.set()
        await asyncio.gather(running, later)
        sched.close()
        return log

    assert asyncio.run(scenario()) == ["A1 start", "A1 end", "B2"]


def test_a_paused_pass_of_a_client_that_left_stops_at_its_next_pause_point() -> None:
    from wyoming_kokoro.models.pausing import PassAbandoned, pause_point

    async def scenario() -> tuple[list[str], list[Any]]:
        sched = scheduler()
        log: list[str] = []
        gate, nested_running, nested_gate = threading.Event(), threading.Event(), threading.Event()

        def long_pass(cancelled: Callable[[], bool]) -> str:
            log.append("A2 start")
            gate.wait(30)
            for step in range(3):
                pause_point()
                log.append(f"A2 step {step}")
            return "A2"

        def short_answer(cancelled: Callable[[], bool]) -> str:
            log.append("B1")
            nested_running.set()
            nested_gate.wait(30)
            return "B1"

        running = sched.submit("A", "v1.0", long_pass)
        await asyncio.sleep(0.1)
        answer = sched.submit("B", "v1.0", short_answer, new_request=True)
        gate.set()
        await asyncio.get_running_loop().run_in_executor(None, nested_running.wait, 30)
        sched.drop("A")  # A's client leaves while its pass waits at a pause point
        nested_gate.set()
        results = await asyncio.gather(running, answer, return_exceptions=True)
        sched.close()
        return log, results

    log, (long_result, answer_result) = asyncio.run(scenario())
    assert log == ["A2 start", "B1"], "A2 did no more work once its client was gone"
    assert isinstance(long_result, PassAbandoned) and answer_result == "B1"
