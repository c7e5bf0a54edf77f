"""The one place that finds model and voice files on disk and fetches missing ones.

Files are looked up in every data dir in order (`DIR/<folder>/<relpath>`, the
hub's own layout), then in the download dir; the first hit wins, so a user's
own copy always beats a downloaded one. Missing files are downloaded into the
download dir unless the server is offline.

Everything here blocks and is meant to run on worker threads. A per-file lock
makes concurrent requests for the same missing file share one download: the
first caller fetches, the others wait and then find the file on disk. Lookups
(`find`, `can_serve`) and `in_progress` never take that lock, so they answer at
once while a download runs.

Files already on disk are trusted as they are and never re-hashed per call:
hashing a 327 MB checkpoint on every request would be slow, and a user may
deliberately use another build. Files we download are verified once, before
they are moved into place (see `download.py`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from ..errors import DownloadError, MissingFileError
from .catalogue import Catalogue, CatalogueFile, load_catalogue
from .download import Downloader, DownloadProgress, NotFoundOnServerError, Source, sha256_of

_LOGGER = logging.getLogger(__name__)


class FileStore:
    """Finds files in the data dirs and fetches missing ones from each version's source."""

    def __init__(
        self,
        data_dirs: Sequence[Path],
        download_dir: Path,
        sources: Mapping[str, Source],
        offline: bool,
        checkpoint_sha256: Mapping[str, str | None] = {},
        *,
        downloader: Downloader | None = None,
    ) -> None:
        self.data_dirs = tuple(Path(d).expanduser() for d in data_dirs)
        self.download_dir = Path(download_dir).expanduser()
        self.sources = dict(sources)
        self.offline = offline
        self.checkpoint_sha256 = {k: v.lower() for k, v in checkpoint_sha256.items() if v}
        self.downloader = downloader or Downloader()
        dirs = list(self.data_dirs)
        if self.download_dir not in dirs:
            dirs.append(self.download_dir)
        self.search_dirs: tuple[Path, ...] = tuple(dirs)
        """Where files are looked for, in order: the data dirs, then the download dir."""
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._warned: set[Path] = set()

    # -- lookup -----------------------------------------------------------------

    def find(self, version: str, relpath: str) -> Path | None:
        """The first `DIR/<folder>/<relpath>` that exists, in search order; None if none."""
        folder = load_catalogue(version).folder
        relative = _safe_relpath(relpath)
        for directory in self.search_dirs:
            path = directory / folder / relative
            if path.is_file():
                return path
        return None

    def can_serve(self, version: str, relpath: str) -> bool:
        """True if the file is on disk, or could be downloaded now (not offline)."""
        if self.find(version, relpath) is not None:
            return True
        return not self.offline and version in self.sources

    def label(self, version: str, relpath: str) -> str:
        """How a file is named in messages and in `in_progress`: `v0_19/kokoro-v0_19.pth`."""
        return f"{load_catalogue(version).folder}/{relpath}"

    def in_progress(self) -> dict[str, DownloadProgress]:
        """Downloads running now, by `label` (a snapshot; never waits for a download)."""
        return self.downloader.in_progress()

    # -- fetching ---------------------------------------------------------------

    def ensure(self, version: str, relpath: str, expected: CatalogueFile | None = None) -> Path:
        """Path of the file, downloading it first if it is missing.

        `expected` pins size and hash; None means the catalogue's record (with
        the checkpoint override applied). Raises MissingFileError when offline
        and DownloadError when the download fails.
        """
        catalogue = load_catalogue(version)
        path = self.find(version, relpath)
        if path is not None:
            self._check_size_once(path, expected or self._expected(catalogue, relpath))
            return path
        if self.offline:
            raise MissingFileError(self._missing_message(catalogue, relpath))
        with self._lock_for(self._download_path(catalogue, relpath)):
            path = self.find(version, relpath)  # another thread may have just fetched it
            if path is not None:
                return path
            return self._download(
                catalogue, relpath, expected or self._expected(catalogue, relpath)
            )

    def ensure_model(self, version: str) -> tuple[Path, Path]:
        """(config.json, checkpoint) of `version`, fetched if missing."""
        catalogue = load_catalogue(version)
        config = self.ensure(version, catalogue.config.path, catalogue.config)
        checkpoint = self.ensure(
            version, catalogue.checkpoint.path, self._expected(catalogue, catalogue.checkpoint.path)
        )
        return config, checkpoint

    def refresh_voices(self, version: str) -> list[str]:
        """Re-fetch catalogue voices whose file on disk differs from the catalogue's hash.

        For --update-voices. Voices that are not on disk are left alone (they are
        fetched on first use anyway). Returns the names of the refreshed voices;
        a voice that cannot be fetched is logged and skipped.
        """
        if self.offline:
            _LOGGER.warning("Not refreshing %s voices: downloads are off (--offline)", version)
            return []
        catalogue = load_catalogue(version)
        refreshed: list[str] = []
        for name, voice in sorted(catalogue.voices.items()):
            pinned = voice.file.sha256
            path = self.find(version, voice.file.path)
            if path is None or pinned is None or sha256_of(path) == pinned:
                continue
            target = self._download_path(catalogue, voice.file.path)
            _LOGGER.info("Voice %s@%s at %s is outdated; fetching it again", name, version, path)
            try:
                with self._lock_for(target):
                    self._download(catalogue, voice.file.path, voice.file)
            except DownloadError as err:
                _LOGGER.warning("Could not refresh voice %s@%s: %s", name, version, err)
                continue
            if path != target:
                _LOGGER.warning(
                    "The outdated copy %s comes before %s in the data dirs and is still used; "
                    "remove it to use the refreshed file",
                    path,
                    target,
                )
            refreshed.append(name)
        return refreshed

    # -- helpers ----------------------------------------------------------------

    def _expected(self, catalogue: Catalogue, relpath: str) -> CatalogueFile | None:
        if relpath == catalogue.checkpoint.path:
            override = self.checkpoint_sha256.get(catalogue.version)
            if override:
                # Another build (mirror, fine-tune): its size is unknown to us.
                return CatalogueFile(relpath, None, override)
        return catalogue.file_for(relpath)

    def _download_path(self, catalogue: Catalogue, relpath: str) -> Path:
        return self.download_dir / catalogue.folder / _safe_relpath(relpath)

    def _download(self, catalogue: Catalogue, relpath: str, expected: CatalogueFile | None) -> Path:
        source = self.sources.get(catalogue.version)
        if source is None:
            raise MissingFileError(
                f"{catalogue.folder}/{relpath} (Kokoro {catalogue.version}) is not on disk and "
                f"no download source is configured for {catalogue.version}; "
                f"looked in: {self._searched(catalogue)}"
            )
        url = source.url_for(relpath)
        label = self.label(catalogue.version, relpath)
        try:
            return self.downloader.fetch(
                url,
                self._download_path(catalogue, relpath),
                sha256=expected.sha256 if expected else None,
                size=expected.size if expected else None,
                label=label,
            )
        except NotFoundOnServerError as err:
            voice = catalogue.voice_for(relpath)
            if voice is not None and not voice.official:
                raise NotFoundOnServerError(
                    f"{err}; {voice.name} is a community voice pack that {source.repo} "
                    f"does not carry: put it at DIR/{catalogue.folder}/{relpath} in a data dir "
                    "or use a mirror that has it"
                ) from None
            raise

    def _lock_for(self, path: Path) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(path, threading.Lock())

    def _check_size_once(self, path: Path, expected: CatalogueFile | None) -> None:
        """Warn once if a file on disk is not the size we pinned (a cheap stat, no hashing)."""
        if expected is None or expected.size is None or path in self._warned:
            return
        self._warned.add(path)
        actual = path.stat().st_size
        if actual != expected.size:
            _LOGGER.warning(
                "%s is %d bytes, the catalogue's %s is %d; using it as it is",
                path,
                actual,
                expected.path,
                expected.size,
            )

    def _searched(self, catalogue: Catalogue) -> str:
        return ", ".join(str(d / catalogue.folder) for d in self.search_dirs)

    def _missing_message(self, catalogue: Catalogue, relpath: str) -> str:
        return (
            f"{catalogue.folder}/{relpath} (Kokoro {catalogue.version}) is not on disk and "
            f"downloads are off (offline); looked in: {self._searched(catalogue)}. "
            f"Put the file at DIR/{catalogue.folder}/{relpath} in a data dir, or turn off "
            "offline mode to download it"
        )


def _safe_relpath(relpath: str) -> PurePosixPath:
    """`relpath` as a relative path that cannot leave the version folder."""
    path = PurePosixPath(relpath)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"not a relative file path inside a version folder: {relpath!r}")
    return path
