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
  stalled server turns into a clear error instead of a hung request.

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


class Downloader:
    """Fetches one URL to one path, resumably and verified. Thread-safe (no shared state)."""

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
        self.user_agent = f"wyoming-kokoro/{__version__}"
        self.stopping = threading.Event()
        """Set at shutdown: transfers stop at the next block (the .part is kept for resuming)."""

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
        no pinned hash is accepted with a warning). A `.part` file left by an
        earlier attempt is resumed. Raises DownloadError.
        """
        label = label or dest.name
        sha256 = sha256.lower() if sha256 else None
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        stale_part_possible = part.exists()
        while True:
            self._download_to_part(url, part, size, label)
            try:
                self._verify(part, url, sha256, size, label)
            except DownloadError:
                if stale_part_possible:
                    # The .part came from an earlier run, maybe of another revision:
                    # start over once from zero before blaming the server.
                    _LOGGER.warning("%s: resumed download did not verify; starting over", label)
                    stale_part_possible = False
                    continue
                raise
            break
        os.replace(part, dest)
        _LOGGER.info("Downloaded %s to %s", label, dest)
        return dest

    # -- one file -------------------------------------------------------------------

    def _download_to_part(self, url: str, part: Path, size: int | None, label: str) -> None:
        failures = 0
        resumes = 0
        last_error = ""
        while True:
            offset = part.stat().st_size if part.exists() else 0
            if size is not None and offset > size:
                part.unlink()
                offset = 0
            if size is not None and offset == size and offset > 0:
                return  # a complete .part from an earlier attempt; verification decides
            try:
                self._transfer(url, part, offset, size, label)
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
                _LOGGER.warning(
                    "%s: %s; retrying%s", label, last_error, f" in {delay:.1f} s" if delay else ""
                )
                if delay:
                    time.sleep(delay)

    def _delay(self, failures: int) -> float:
        return min(self.max_backoff, self.backoff * 2 ** (failures - 1))

    def _transfer(self, url: str, part: Path, offset: int, size: int | None, label: str) -> None:
        """One HTTP request: append (206) or rewrite (200) the .part file."""
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        host = urlparse(url).netloc
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
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
                total = total if total is not None else size
                mode = "ab"
            elif status == 200:
                if offset:
                    _LOGGER.info("%s: server ignored the Range request; starting over", label)
                offset = 0
                total = body_length if body_length is not None else size
                mode = "wb"
            else:
                raise _Retry(f"{url} answered HTTP {status}")
            self._copy_body(response, part, mode, offset, total, body_length, url, host, label)

    def _copy_body(
        self,
        response: http.client.HTTPResponse,
        part: Path,
        mode: str,
        offset: int,
        total: int | None,
        body_length: int | None,
        url: str,
        host: str,
        label: str,
    ) -> None:
        received = 0
        progress = _Progress(label, offset, total, self.progress_interval, self.progress_min_size)
        with open(part, mode) as out:
            try:
                while block := response.read(self.chunk_size):
                    if self.stopping.is_set():
                        raise DownloadError(
                            f"{label}: download stopped at shutdown (resumes later)"
                        )
                    out.write(block)
                    received += len(block)
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
