"""Fetching model and voice files over HTTP, verified against our own pinned hashes.

Why a small downloader of our own on `urllib` rather than `huggingface_hub`:

- any plain HTTP server works as a source: the hub, a mirror, or a directory
  served with `python -m http.server` laid out as `REPO/resolve/REVISION/...`.
  Only the URL scheme `{hub_url}/{repo}/resolve/{revision}/{prefix}{path}` is
  assumed; no hub API calls, tokens or metadata endpoints;
- files land exactly where the data-dir layout says (`DIR/v1_0/voices/x.pt`),
  not in a content-addressed cache of symlinks that users cannot inspect or
  copy to an offline machine;
- every file is checked against the SHA-256 pinned in the shipped catalogue
  (or a user override), not against what the server claims;
- it adds no dependency, and every socket operation has a timeout, so a
  stalled server turns into a clear error instead of a hung request; every
  download also has an overall deadline and a size limit (see `Downloader`),
  so a trickling or endless response cannot hold a thread or fill the disk.

`HF_ENDPOINT`, the variable the Hugging Face tools use for a mirror, is
honoured as the default hub URL by the settings layer (`wyoming_kokoro.config`),
where it ranks below every setting of our own; this module only uses the hub URL
it is given.

A download goes to `NAME.part`, resumes with an HTTP Range request after an
interruption, is verified (size and SHA-256), and only then is moved into
place with an atomic `os.replace` — a file at its final path is always whole.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

from .. import __version__
from ..errors import DownloadError
from .catalogue import load_catalogue

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where one version's files are fetched from."""

    base_url: str
    """The hub or a mirror, e.g. https://huggingface.co or http://127.0.0.1:8000."""
    repo: str
    """Repository, e.g. hexgrad/Kokoro-82M."""
    revision: str
    """Branch, tag or commit."""
    prefix: str = ""
    """Folder of the version's files inside the repository, with trailing slash (`v0.19/`)."""

    def url_for(self, relpath: str) -> str:
        """URL of `relpath` (relative to the version folder)."""
        revision = quote(self.revision, safe="")
        path = quote(f"{self.prefix}{relpath}", safe="/")
        return f"{self.base_url.rstrip('/')}/{self.repo}/resolve/{revision}/{path}"


def source_for(version: str, base_url: str, repo: str, revision: str) -> Source:
    """The source of `version`, with the catalogue's folder prefix when `repo` is its default.

    v0.19 lives in `hexgrad/kLegacy` under `v0.19/`; any other repository
    (an old revision of hexgrad/Kokoro-82M, a user's mirror repo) is assumed
    to hold the version's files at its root.
    """
    catalogue = load_catalogue(version)
    prefix = catalogue.source_prefix if repo == catalogue.source_repo else ""
    return Source(base_url, repo, revision, prefix)


class NotFoundOnServerError(DownloadError):
    """The server answered 404: the file is not at that URL (never retried)."""


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


class _Retry(Exception):
    """A transient failure: try again (resuming from the .part file)."""

    def __init__(self, reason: str, progressed: bool = False) -> None:
        super().__init__(reason)
        self.progressed = progressed


class _RangeUnsatisfiable(Exception):
    """HTTP 416: the .part file already holds at least the whole file."""


_MB = 1_000_000

MAX_SIZE = 1 << 30
"""Largest file accepted when the catalogue gives no size (1 GiB; a checkpoint is 0.33 GB)."""

MIN_DEADLINE = 600.0
"""Seconds any one download may take in all, however small the file (10 minutes)."""

MIN_RATE = 100_000.0
"""Bytes per second a download must average to finish before its deadline (0.8 Mbit/s)."""


@dataclass(frozen=True)
class DownloadProgress:
    """How far one running download is (a snapshot)."""

    label: str
    """The file, as in messages: `v0_19/kokoro-v0_19.pth`."""
    done: int
    """Bytes on disk so far (a resumed download counts what the .part already held)."""
    total: int | None
    """Size of the whole file: the pinned size, else what the server announced; None: unknown."""
    rate: float | None = None
    """Average bytes per second of this attempt so far; None before the first bytes."""
    verifying: bool = False
    """All bytes are in; the SHA-256 is being checked."""

    def summary(self) -> str:
        """E.g. "112 of 327 MB, 34 %, about 40 s left" or "12 MB so far"."""
        if self.verifying:
            return f"{_megabytes(self.done)} MB received, checking its SHA-256"
        if not self.total:
            return f"{_megabytes(self.done)} MB so far" if self.done else "waiting for the server"
        text = (
            f"{_megabytes(self.done)} of {_megabytes(self.total)} MB, "
            f"{100 * self.done // self.total} %"
        )
        if self.rate and self.total > self.done:
            text += f", about {_duration((self.total - self.done) / self.rate)} left"
        return text


def _megabytes(count: int) -> str:
    return f"{count / _MB:.0f}" if count >= 10 * _MB else f"{count / _MB:.1f}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _bytes(count: int) -> str:
    return f"{count:,} bytes"


class _Job:
    """One `fetch` call: where it goes, its limits, and its progress as others see it."""

    def __init__(
        self,
        url: str,
        part: Path,
        label: str,
        size: int | None,
        limit: int,
        deadline: float,
        started: float,
    ) -> None:
        self.url = url
        self.part = part
        self.label = label
        self.size = size
        """The pinned size; None when the catalogue gives none."""
        self.limit = limit
        """Most bytes accepted: the pinned size, else the hard cap."""
        self.deadline = deadline
        """`time.monotonic()` by which the file must be in."""
        self.started = started
        self.announced: int | None = None
        """The whole file's size as the server last gave it (Content-Length, Content-Range)."""
        self.done = 0
        self.attempt_start = 0
        self.attempt_began = started
        self.verifying = False

    def snapshot(self) -> DownloadProgress:
        elapsed = time.monotonic() - self.attempt_began
        received = self.done - self.attempt_start
        rate = received / elapsed if received > 0 and elapsed > 0.2 else None
        total = self.size if self.size is not None else self.announced
        return DownloadProgress(self.label, self.done, total, rate, self.verifying)


class Downloader:
    """Fetches one URL to one path, resumably and verified. Thread-safe.

    Every download is bounded in time and size, whatever the server does:

    - a deadline for the whole file, retries and resumes included:
      `max(min_deadline, limit / min_rate)` — 10 minutes for a voice pack, 55
      minutes for a 327 MB checkpoint (so at least 0.8 Mbit/s on average). Each
      socket read also has `timeout`, so a silent server fails sooner; the
      deadline is what stops a server that trickles a few bytes at a time. When
      it passes, the .part file is kept: the next request resumes it, so even a
      slower link gets the file in a few goes;
    - a size limit: the pinned size when the catalogue has one, else `max_size`.
      A Content-Length or Content-Range over the limit is refused before the
      body is read, and a body that goes past it (an endless one included) is
      cut off; both delete the .part file.

    Running downloads are listed by `in_progress`, for requests that give up
    waiting and want to say how far the file is.
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        chunk_size: int = 256 * 1024,
        progress_interval: float = 2.0,
        progress_min_size: int = 8 * _MB,
        max_resumes: int = 100,
        max_size: int = MAX_SIZE,
        min_deadline: float = MIN_DEADLINE,
        min_rate: float = MIN_RATE,
    ) -> None:
        self.timeout = timeout
        """Seconds for connecting and for each read; a quiet server is a transient failure."""
        self.retries = retries
        """Attempts in a row that may fail without progress before giving up."""
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.chunk_size = chunk_size
        self.progress_interval = progress_interval
        self.progress_min_size = progress_min_size
        self.max_resumes = max_resumes
        self.max_size = max_size
        """Most bytes accepted for a file whose size is not pinned."""
        self.min_deadline = min_deadline
        self.min_rate = min_rate
        self.user_agent = f"wyoming-kokoro/{__version__}"
        self.stopping = threading.Event()
        """Set at shutdown: transfers stop at the next block (the .part is kept for resuming)."""
        self._jobs: dict[str, _Job] = {}
        self._jobs_lock = threading.Lock()

    def deadline_for(self, size: int) -> float:
        """Seconds a download of `size` bytes may take in all."""
        return max(self.min_deadline, size / self.min_rate)

    def in_progress(self) -> dict[str, DownloadProgress]:
        """The downloads running now, by label (a snapshot; safe from any thread)."""
        with self._jobs_lock:
            return {label: job.snapshot() for label, job in self._jobs.items()}

    def fetch(
        self,
        url: str,
        dest: Path,
        *,
        sha256: str | None = None,
        size: int | None = None,
        label: str | None = None,
    ) -> Path:
        """Download `url` to `dest` (atomically, verified); returns `dest`.

        `sha256`/`size` are the pinned values; None means unknown (a file with
        no pinned hash is accepted with a warning, one with no pinned size is
        held to `max_size`). A `.part` file left by an earlier attempt is
        resumed. Raises DownloadError.
        """
        label = label or dest.name
        sha256 = sha256.lower() if sha256 else None
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        limit = size if size is not None else self.max_size
        now = time.monotonic()
        job = _Job(url, part, label, size, limit, now + self.deadline_for(limit), now)
        with self._jobs_lock:
            self._jobs[label] = job
        try:
            self._fetch(job, sha256)
        finally:
            with self._jobs_lock:
                if self._jobs.get(label) is job:
                    del self._jobs[label]
        os.replace(part, dest)
        _LOGGER.info("Downloaded %s to %s", label, dest)
        return dest

    def _fetch(self, job: _Job, sha256: str | None) -> None:
        stale_part_possible = job.part.exists()
        while True:
            self._download_to_part(job)
            job.verifying = True
            try:
                self._verify(job.part, job.url, sha256, job.size, job.label)
            except DownloadError:
                if stale_part_possible:
                    # The .part came from an earlier run, maybe of another revision:
                    # start over once from zero before blaming the server.
                    _LOGGER.warning("%s: resumed download did not verify; starting over", job.label)
                    stale_part_possible = False
                    job.verifying = False
                    continue
                raise
            return

    # -- one file -------------------------------------------------------------------

    def _download_to_part(self, job: _Job) -> None:
        failures = 0
        resumes = 0
        last_error = ""
        part, size, label, url = job.part, job.size, job.label, job.url
        while True:
            offset = part.stat().st_size if part.exists() else 0
            if offset > job.limit:
                part.unlink()
                offset = 0
            if size is not None and offset == size and offset > 0:
                return  # a complete .part from an earlier attempt; verification decides
            job.done = job.attempt_start = offset
            job.attempt_began = time.monotonic()
            self._check_deadline(job)
            try:
                self._transfer(job, offset)
                return
            except _RangeUnsatisfiable:
                if offset > 0:
                    return  # the server says we have it all; verification decides
                raise DownloadError(f"cannot download {label}: {url} answered HTTP 416") from None
            except _Retry as retry:
                last_error = str(retry)
                if retry.progressed:
                    failures = 0
                    resumes += 1
                    if resumes > self.max_resumes:
                        raise DownloadError(
                            f"cannot download {label} from {url}: the connection broke "
                            f"{resumes} times ({last_error})"
                        ) from None
                else:
                    failures += 1
                if failures >= self.retries:
                    raise DownloadError(
                        f"cannot download {label}: {last_error} (gave up after {failures} attempts)"
                    ) from None
                delay = 0.0 if retry.progressed else self._delay(failures)
                delay = min(delay, max(0.0, job.deadline - time.monotonic()))
                _LOGGER.warning(
                    "%s: %s; retrying%s", label, last_error, f" in {delay:.1f} s" if delay else ""
                )
                if delay and self.stopping.wait(delay):
                    raise DownloadError(
                        f"{label}: download stopped at shutdown (resumes later)"
                    ) from None

    def _delay(self, failures: int) -> float:
        return min(self.max_backoff, self.backoff * 2 ** (failures - 1))

    def _check_deadline(self, job: _Job) -> float:
        """Seconds left before the job's deadline; raises DownloadError once it has passed."""
        left = job.deadline - time.monotonic()
        if left > 0:
            return left
        allowed = job.deadline - job.started
        raise DownloadError(
            f"cannot download {job.label} from {job.url}: it did not finish within "
            f"{_duration(allowed)} ({job.snapshot().summary()}); the partial file is kept "
            "and the next request resumes it"
        )

    def _too_big(self, job: _Job, what: str) -> DownloadError:
        """Delete the .part file; the error for a response over the job's size limit."""
        job.part.unlink(missing_ok=True)
        if job.size is not None:
            allowed = f"the {_bytes(job.size)} the catalogue gives for it"
        else:
            allowed = f"the {_bytes(job.limit)} allowed for a file of unknown size"
        return DownloadError(
            f"refused {job.label} from {job.url}: {what}, more than {allowed}; "
            "the download was deleted"
        )

    def _transfer(self, job: _Job, offset: int) -> None:
        """One HTTP request: append (206) or rewrite (200) the .part file."""
        url, part, label = job.url, job.part, job.label
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        host = urlparse(url).netloc
        timeout = min(self.timeout, self._check_deadline(job))
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code == 404:
                raise NotFoundOnServerError(f"{label} not found at {url} (HTTP 404)") from None
            if err.code == 416:
                raise _RangeUnsatisfiable() from None
            if err.code >= 500 or err.code in (408, 429):
                raise _Retry(f"{url} answered HTTP {err.code} {err.reason}") from None
            raise DownloadError(
                f"cannot download {label}: {url} answered HTTP {err.code} {err.reason}"
            ) from None
        except urllib.error.URLError as err:
            raise _Retry(self._connection_problem(host, url, err.reason)) from None
        except (OSError, http.client.HTTPException) as err:
            raise _Retry(self._connection_problem(host, url, err)) from None

        with response:
            status = response.status
            length_header = response.headers.get("Content-Length")
            body_length = int(length_header) if length_header and length_header.isdigit() else None
            if status == 206:
                start, total = _parse_content_range(response.headers.get("Content-Range", ""))
                if start != offset:
                    _LOGGER.warning("%s: server resumed at byte %s, not %d", label, start, offset)
                    part.unlink(missing_ok=True)
                    raise _Retry(f"{host} answered a different range than asked for")
                if total is None and body_length is not None:
                    total = offset + body_length
                mode = "ab"
            elif status == 200:
                if offset:
                    _LOGGER.info("%s: server ignored the Range request; starting over", label)
                offset = 0
                total = body_length
                mode = "wb"
            else:
                raise _Retry(f"{url} answered HTTP {status}")
            if total is not None and total > job.limit:
                raise self._too_big(job, f"the server announces {_bytes(total)}")
            if total is not None and job.size is None:
                job.announced = total
                # A file of unknown size gets the deadline of the size the server gives.
                job.deadline = min(job.deadline, job.started + self.deadline_for(total))
            job.done = job.attempt_start = offset
            self._copy_body(job, response, mode, offset, body_length, host)

    def _copy_body(
        self,
        job: _Job,
        response: http.client.HTTPResponse,
        mode: str,
        offset: int,
        body_length: int | None,
        host: str,
    ) -> None:
        received = 0
        total = job.size if job.size is not None else job.announced
        progress = _Progress(
            job.label, offset, total, self.progress_interval, self.progress_min_size
        )
        over_limit = False
        with open(job.part, mode) as out:
            try:
                while True:
                    self._check_deadline(job)
                    # read1: at most one system call, so a trickle cannot hold us in
                    # one read for longer than `timeout` while the deadline passes.
                    block = response.read1(self.chunk_size)
                    if not block:
                        break
                    if self.stopping.is_set():
                        raise DownloadError(
                            f"{job.label}: download stopped at shutdown (resumes later)"
                        )
                    if offset + received + len(block) > job.limit:
                        over_limit = True
                        break
                    out.write(block)
                    received += len(block)
                    job.done = offset + received
                    progress.update(offset + received)
            except (OSError, http.client.HTTPException) as err:
                out.flush()
                raise _Retry(
                    f"transfer from {host} broke after {offset + received} bytes ({err})",
                    progressed=received > 0,
                ) from None
            finally:
                out.flush()
                os.fsync(out.fileno())
        if over_limit:
            raise self._too_big(job, "the server sent more")
        if body_length is not None and received < body_length:
            raise _Retry(
                f"{host} closed the connection after {offset + received} of "
                f"{offset + body_length} bytes",
                progressed=received > 0,
            )
        progress.done(offset + received)

    @staticmethod
    def _connection_problem(host: str, url: str, reason: object) -> str:
        if isinstance(reason, ConnectionRefusedError):
            return f"connection to {host} refused ({url})"
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return f"{host} did not answer in time ({url})"
        if isinstance(reason, socket.gaierror):
            return f"cannot resolve host {host} ({url}): {reason}"
        return f"cannot reach {host} ({url}): {reason}"

    # -- verification ------------------------------------------------------------

    def _verify(
        self, part: Path, url: str, sha256: str | None, size: int | None, label: str
    ) -> None:
        actual_size = part.stat().st_size
        if size is not None and actual_size != size:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{label}: size mismatch for {url}: expected {size} bytes, got {actual_size}; "
                "the download was deleted"
            )
        if sha256 is None:
            _LOGGER.warning(
                "%s: no pinned SHA-256; accepted unverified (%d bytes from %s)",
                label,
                actual_size,
                url,
            )
            return
        got = sha256_of(part)
        if got != sha256:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{label}: checksum mismatch for {url}: expected SHA-256 {sha256}, got {got}; "
                "the download was deleted"
            )


def _parse_content_range(value: str) -> tuple[int | None, int | None]:
    """(start, total) from `bytes START-END/TOTAL`; None for parts that are missing."""
    try:
        unit, _, spec = value.strip().partition(" ")
        span, _, total = spec.partition("/")
        start = int(span.split("-", 1)[0]) if unit == "bytes" else None
        return start, int(total) if total.isdigit() else None
    except ValueError:
        return None, None


class _Progress:
    """Logs percent and speed of a large download, at most every `interval` seconds."""

    def __init__(
        self, label: str, start: int, total: int | None, interval: float, min_size: int
    ) -> None:
        self.label = label
        self.start = start
        self.total = total
        self.interval = interval
        self.enabled = total is None or total >= min_size
        self.began = self.last = time.monotonic()

    def update(self, position: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < self.interval:
            return
        self.last = now
        speed = (position - self.start) / max(now - self.began, 1e-6) / _MB
        if self.total:
            _LOGGER.info(
                "Downloading %s: %.0f%% (%.1f of %.1f MB, %.1f MB/s)",
                self.label,
                100.0 * position / self.total,
                position / _MB,
                self.total / _MB,
                speed,
            )
        else:
            _LOGGER.info("Downloading %s: %.1f MB (%.1f MB/s)", self.label, position / _MB, speed)

    def done(self, position: int) -> None:
        if self.enabled:
            elapsed = max(time.monotonic() - self.began, 1e-6)
            _LOGGER.info(
                "Fetched %s: %.1f MB in %.1f s",
                self.label,
                (position - self.start) / _MB,
                elapsed,
            )
