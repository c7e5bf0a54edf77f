"""Who renders next: one inference thread, fair between clients, kind to model slots.

Every connection queues its sentences here as jobs. A single worker thread runs
them: torch already uses every core for one forward pass, so two passes at once
would only thrash. The order is what makes a shared server feel fair:

- **Round robin between clients.** Each client has its own FIFO; the worker takes
  one job from each client in turn, so a 60-second reply being streamed to one
  satellite delays another satellite's short answer by at most one sentence.
- **First sentences go in at once.** A long sentence's pass takes seconds on a
  small CPU, so even that one sentence is too long a wait before another
  request's first sound. The vocoder stops at pause points (models/pausing.py),
  where the worker runs a waiting request's first job, then lets the paused pass
  go on unchanged (`_pause_for_first`).
- **Grouped by generation when memory holds one model.** With
  `--max-loaded-models 1`, switching between v1.0 and v0.19 reloads a 330 MB
  checkpoint. The worker keeps serving the loaded generation for up to
  `group_limit` jobs in a row while another generation waits, then switches, so
  two clients on different generations cost a few loads, not one per sentence.
- **Bounded.** At most `max_requests` requests may have work queued; the next one
  is refused at once with a `busy` error rather than queued behind minutes of
  speech. A job that has waited `max_wait` seconds without starting fails the same
  way, so no request waits without limit.

Jobs of a client that went away are dropped before they start, and a running job
sees `cancelled()` turn true between forward passes and stops at its next pause point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import BusyError, ShuttingDownError
from .health import InferenceWatch
from .models.pausing import PassAbandoned, set_pause_callback

_LOGGER = logging.getLogger(__name__)

MAX_REQUESTS = 16
"""Requests that may have work queued at once (one per connection at a time)."""

MAX_WAIT_S = 120.0
"""Longest a job may wait for the inference thread before it fails as busy."""

MAX_HOLD_S = 120.0
"""Longest one job may run before its request fails (the inference thread is then
wedged, which the health check reports too; the job itself cannot be interrupted)."""

GROUP_LIMIT = 4
"""Jobs of the loaded generation run in a row while another generation waits
(only when one model fits in memory)."""


@dataclass(eq=False)
class Job:
    """One unit of inference: usually one sentence of one client's reply."""

    client: object
    version: str
    work: Callable[[Callable[[], bool]], Any]
    """Runs on the worker thread; gets `cancelled`, returns the result."""
    result: asyncio.Future
    """Resolved on its event loop with the work's result or exception."""
    enqueued: float = field(default_factory=time.monotonic)
    started: bool = False
    first: bool = False
    """The first job of its request: nobody hears anything of that request before it."""
    paused: bool = False
    """It has let another job run inside its pass (see `_pause_for_first`)."""
    abandoned: bool = False
    """Nobody waits for the result any more; a running job stops at its next pass."""

    def cancelled(self) -> bool:
        return self.abandoned


class InferenceScheduler:
    """A fair, bounded queue in front of one inference thread."""

    def __init__(
        self,
        loaded_versions: Callable[[], list[str]],
        single_slot: bool,
        watch: InferenceWatch,
        max_requests: int = MAX_REQUESTS,
        max_wait: float = MAX_WAIT_S,
        group_limit: int = GROUP_LIMIT,
        max_hold: float = MAX_HOLD_S,
        after_job: Callable[[], None] | None = None,
    ) -> None:
        self._loaded_versions = loaded_versions
        self.single_slot = single_slot
        self.watch = watch
        self.max_requests = max_requests
        self.max_wait = max_wait
        self.max_hold = max_hold
        self.group_limit = group_limit
        self.after_job = after_job
        """Called on the worker thread after every job (the engine returns freed memory)."""
        self._queues: OrderedDict[object, deque[Job]] = OrderedDict()  # round-robin order
        self._cond = threading.Condition()
        self._closed = False
        self._run_of: tuple[str, int] | None = None  # (version, jobs in a row)
        self._running: Job | None = None
        self._paused_jobs: list[Job] = []  # passes waiting at a pause point, outermost first
        self.started_order: list[tuple[int, str]] = []
        """(id of the client, version) of recent jobs in start order (last 1000)."""
        self._thread = threading.Thread(target=self._work, name="kokoro-infer", daemon=False)
        self._thread.start()

    # -- the event-loop side --------------------------------------------------------

    def submit(
        self,
        client: object,
        version: str,
        work: Callable[[Callable[[], bool]], Any],
        new_request: bool = False,
    ) -> asyncio.Future:
        """Queue `work` for `client`; the returned future (of the running loop) gets its result.

        `new_request` marks the first job of a request: it is refused with BusyError
        when `max_requests` other clients already have work queued. The future fails
        with BusyError if the job has not started within `max_wait` seconds, or has
        not finished `max_hold` seconds after it started.
        """
        loop = asyncio.get_running_loop()
        job = Job(client, version, work, loop.create_future(), first=new_request)
        with self._cond:
            if self._closed:
                raise ShuttingDownError("the server is stopping; try again in a moment")
            if new_request and not self._queues.get(client):
                waiting = sum(1 for jobs in self._queues.values() if jobs)
                if waiting >= self.max_requests:
                    raise BusyError(
                        f"the server is busy: {waiting} requests are waiting for synthesis "
                        f"(limit {self.max_requests}); try again in a moment"
                    )
            queue = self._queues.setdefault(client, deque())
            queue.append(job)
            first_in_line = len(queue) == 1
            self._cond.notify_all()
        job.result.add_done_callback(self._forget_if_cancelled(job))
        if first_in_line:
            self._arm_wait_timer(job)
        return job.result

    def _arm_wait_timer(self, job: Job) -> None:
        """On the loop: `job` is next in its client's line; it may wait `max_wait` from now.

        Only the head of a client's queue waits for its turn: the sentences behind it
        wait for their own reply, which is progress, not waiting.
        """
        if not job.result.done() and not job.started:
            timer = job.result.get_loop().call_later(self.max_wait, self._wait_expired, job)
            job.result.add_done_callback(lambda _: timer.cancel())

    @staticmethod
    def _forget_if_cancelled(job: Job) -> Callable[[asyncio.Future], None]:
        def forget(result: asyncio.Future) -> None:
            if result.cancelled():
                job.abandoned = True

        return forget

    def _wait_expired(self, job: Job) -> None:
        """On the loop: the job has not started in time; fail it and take it out."""
        with self._cond:
            if job.started:
                return
            # The request cannot be served in order any more: fail all it has queued.
            jobs = self._queues.pop(job.client, deque())
            expired = [job, *(queued for queued in jobs if queued is not job)]
            for queued in expired:
                queued.abandoned = True
        error = BusyError(
            f"the server is busy: this request waited {self.max_wait:.0f} s for "
            "synthesis; try again in a moment"
        )
        for queued in expired:
            _reject(queued, error)

    def _hold_expired(self, job: Job) -> None:
        """On the loop: the job started but is still running after `max_hold` seconds."""
        if job.result.done():
            return
        job.abandoned = True
        _LOGGER.error("A synthesis job has been running for %.0f s; giving up on it", self.max_hold)
        _reject(
            job,
            BusyError(
                f"synthesis of one sentence took longer than {self.max_hold:.0f} s; "
                "the server is overloaded or stuck"
            ),
        )

    def drop(self, client: object) -> int:
        """Forget every queued job of `client` (it went away); returns how many."""
        with self._cond:
            jobs = self._queues.pop(client, deque())
            started = [job for job in (self._running, *self._paused_jobs) if job is not None]
        for job in started:
            if job.client is client:
                job.abandoned = True  # it stops at its next pause point or pass boundary
        for job in jobs:
            job.abandoned = True
            job.result.cancel()
        return len(jobs)

    def queued(self) -> int:
        with self._cond:
            return sum(len(jobs) for jobs in self._queues.values())

    def close(self) -> None:
        """Refuse new work, drop what is queued; the running job finishes on its own."""
        with self._cond:
            self._closed = True
            queues, self._queues = list(self._queues.values()), OrderedDict()
            self._cond.notify_all()
        for jobs in queues:
            for job in jobs:
                job.abandoned = True
                _on_loop(job.result.get_loop(), job.result.cancel)

    # -- the worker thread ----------------------------------------------------------

    def _work(self) -> None:
        set_pause_callback(self._pause_for_first)
        while True:
            with self._cond:
                job = self._next_job()
                while job is None and not self._closed:
                    self._cond.wait()
                    job = self._next_job()
                if job is None:
                    return
                self._running = job
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running = None
            if self.after_job is not None:
                try:
                    self.after_job()
                except Exception:  # housekeeping must never stop the worker
                    _LOGGER.exception("Housekeeping after a job failed")

    def _next_job(self) -> Job | None:
        """Pick and dequeue the next job (caller holds the lock); None if there is none."""
        for client in list(self._queues):  # skip what nobody waits for any more
            jobs = self._queues[client]
            while jobs and jobs[0].abandoned:
                jobs.popleft()
            if not jobs:
                del self._queues[client]
        if not self._queues:
            return None
        job = self._take(self._pick_client())
        version, count = self._run_of or (job.version, 0)
        self._run_of = (job.version, count + 1 if version == job.version else 1)
        return job

    def _take(self, client: object) -> Job:
        """Dequeue `client`'s first job as started (caller holds the lock); round robin:
        the client goes to the back of the line."""
        jobs = self._queues.pop(client)
        job = jobs.popleft()
        job.started = True
        if jobs:  # the next sentence of this client is first in line now
            self._queues[client] = jobs
            _on_loop(jobs[0].result.get_loop(), self._arm_wait_timer, jobs[0])
        return job

    def _pick_client(self) -> object:
        """The first client in turn, unless memory holds one model and grouping applies."""
        first = next(iter(self._queues))
        if not self.single_slot:
            return first
        loaded = self._loaded_versions()
        current = loaded[-1] if loaded else None
        heads = {client: jobs[0].version for client, jobs in self._queues.items()}
        if current is None or heads[first] == current:
            return first
        run_version, run_length = self._run_of or (None, 0)
        if run_version == current and run_length >= self.group_limit:
            return first  # the other generation has waited long enough
        for client, version in heads.items():
            if version == current:
                return client
        return first

    def _pause_for_first(self) -> None:
        """At a pause point of the running pass: run another request's first job now.

        Only a first job (its listener hears nothing until it is done), and only of
        the same generation (a model swap inside a pass could unload the running
        model). A later sentence of a reply, whose listener is already hearing the
        sentences before it, gives way to every first job that comes; a first job
        gives way at most once, and a nested job (always a first job) never, so
        neither kind of request can starve the other. The paused pass keeps its
        tensors and goes on unchanged afterwards.
        """
        with self._cond:
            running = self._running
            if running is not None and running.abandoned:
                raise PassAbandoned("the client went away")
            if running is None or (running.first and running.paused) or self._closed:
                return
            waiting = next(
                (
                    client
                    for client, jobs in self._queues.items()
                    if client is not running.client
                    and jobs
                    and jobs[0].first
                    and not jobs[0].abandoned
                    and jobs[0].version == running.version
                ),
                None,
            )
            if waiting is None:
                return
            running.paused = True
            job = self._take(waiting)
            job.paused = True  # a nested (first) job does not pause in turn
            self._running = job
            self._paused_jobs.append(running)
        try:
            self._run(job)
        finally:
            with self._cond:
                self._paused_jobs.pop()
                self._running = running
            self.watch.started()  # the paused job is running again
        if running.abandoned:  # its client left while it waited
            raise PassAbandoned("the client went away")

    def _run(self, job: Job) -> None:
        loop = job.result.get_loop()
        self.started_order.append((id(job.client), job.version))
        del self.started_order[:-1000]
        _on_loop(loop, self._arm_hold_timer, job)
        self.watch.started()
        try:
            result = job.work(job.cancelled)
        except BaseException as err:  # delivered to the awaiting request
            _on_loop(loop, _reject, job, err)
        else:
            _on_loop(loop, _resolve, job, result)
        finally:
            self.watch.finished()

    def _arm_hold_timer(self, job: Job) -> None:
        if not job.result.done():
            timer = job.result.get_loop().call_later(self.max_hold, self._hold_expired, job)
            job.result.add_done_callback(lambda _: timer.cancel())


def _resolve(job: Job, result: Any) -> None:
    if not job.result.done():
        job.result.set_result(result)


def _reject(job: Job, err: BaseException) -> None:
    if not job.result.done():
        job.result.set_exception(err)


def _on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    """Run `callback` on `loop` from any thread; a loop that already closed needs nothing."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)
